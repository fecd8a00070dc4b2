"""Names a user or a planted file chooses: pattern characters never select other files, links are
replaced rather than written through, and control characters are shown, never obeyed."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from musicgen.data.convert import convert_directory
from musicgen.formats.dataset import OUTPUT_SUFFIXES
from musicgen.text import printable

from helpers import music_excerpt, run_script, small_config

NEIGHBOURS = ("songs2", "np_array", "s", "x")  # datasets beside the one written, each in shards


def _snapshot(folder: Path, names) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.iterdir() if p.is_file() and p.name.split("_")[0] in names}


@pytest.fixture(scope="module")
def shelf(tmp_path_factory):
    """A folder of sharded datasets (NEIGHBOURS) and the config that wrote them."""
    root = tmp_path_factory.mktemp("shelf")
    cfg = small_config(root)
    cfg.input_dir.mkdir()
    music_excerpt(cfg.input_dir / "minuet.mp3", 9.2)
    cfg = dataclasses.replace(cfg, shard_size=2)
    for name in NEIGHBOURS:
        convert_directory(dataclasses.replace(cfg, output_prefix=root / "out" / name), progress=False)
    return cfg


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(alphabet="[]*?!^-{},2sxnp_", min_size=1, max_size=6))
@example(name="songs[2]")
@example(name="*")
@example(name="[sx]")
def test_an_output_name_is_never_a_pattern_for_other_datasets(shelf, name):
    folder = shelf.output_prefix.parent
    if name in NEIGHBOURS or name.split("_")[0] in NEIGHBOURS:
        return  # a name of a neighbour's own files: replacing them is what was asked
    before = _snapshot(folder, NEIGHBOURS)
    shards = sum(n.startswith("songs2_x-") for n in before)
    assert shards >= 2
    for _ in range(2):  # the second conversion replaces the first one's shards, and only those
        convert_directory(dataclasses.replace(shelf, output_prefix=folder / name), progress=False)
    assert _snapshot(folder, NEIGHBOURS) == before
    own = [p for p in folder.iterdir() if p.name.startswith(f"{name}_x-")]
    assert len(own) == shards, sorted(p.name for p in own)


def test_a_link_planted_in_the_wav_cache_is_replaced_not_written_through(tmp_path):
    cfg = small_config(tmp_path)
    cfg.input_dir.mkdir()
    music_excerpt(cfg.input_dir / "minuet.mp3", 9.2)
    victim = tmp_path / "victim" / "precious.wav"
    victim.parent.mkdir()
    victim.write_bytes(b"RIFF precious, not audio")
    (cfg.input_dir / "wave").mkdir()
    (cfg.input_dir / "wave" / "minuet.wav").symlink_to(os.path.relpath(victim, cfg.input_dir / "wave"))
    convert_directory(cfg, progress=False)
    assert victim.read_bytes() == b"RIFF precious, not audio"
    cached = cfg.input_dir / "wave" / "minuet.wav"
    assert not cached.is_symlink() and cached.stat().st_size > 100_000


def test_links_at_every_name_a_conversion_writes_are_replaced_not_written_through(tmp_path):
    cfg = small_config(tmp_path)
    cfg.input_dir.mkdir()
    music_excerpt(cfg.input_dir / "minuet.mp3", 9.2)
    victims = tmp_path / "victims"
    victims.mkdir()
    cfg.output_prefix.parent.mkdir()
    for suffix in OUTPUT_SUFFIXES:
        victim = victims / f"v{suffix}"
        victim.write_text(suffix)
        Path(f"{cfg.output_prefix}{suffix}").symlink_to(victim)
    convert_directory(cfg, progress=False)
    for suffix in OUTPUT_SUFFIXES:
        assert (victims / f"v{suffix}").read_text() == suffix
    written = [Path(f"{cfg.output_prefix}{s}") for s in ("_x.npy", "_mean.npy", "_info.json", "_xmerged.wav")]
    assert all(p.is_file() and not p.is_symlink() for p in written)


ESCAPES = "\x1b]0;owned\x07\x1b[2J"


@pytest.mark.script
def test_a_name_holding_terminal_escapes_is_shown_not_obeyed(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    music_excerpt(folder / "good.mp3", 9.2)
    (folder / f"bad{ESCAPES}.mp3").write_text("not audio\n" * 100)  # skipped: its name is printed
    proc = run_script("convert_directory.py", "--input", folder, "--output", tmp_path / "out" / "np",
                      "--sample-rate", "8000", "--block-size", "1000", "--clip-len", "1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    shown = proc.stdout + proc.stderr
    assert "\x07" not in shown and "\x1b]" not in shown and "\x1b[2J" not in shown
    assert "bad\\x1b]0;owned\\x07\\x1b[2J.mp3" in shown
    missing = run_script("convert_directory.py", "--input", tmp_path / f"gone{ESCAPES}", "--output", tmp_path / "np")
    assert missing.returncode != 0 and "\x1b" not in missing.stderr and "gone\\x1b]0;owned" in missing.stderr


@pytest.mark.parametrize("raw, shown", [
    ("plain name.wav", "plain name.wav"),
    (f"a{ESCAPES}b", "a\\x1b]0;owned\\x07\\x1b[2Jb"),
    (os.fsdecode(b"caf\xe9"), "caf\\xe9"),
    ("right\u202eto left", "right\\u202eto left"),
    ("line\nbreak\ttab", "line\\nbreak\\ttab"),
])
def test_printable_shows_every_control_and_odd_byte_as_an_escape(raw, shown):
    assert printable(raw) == shown
    assert not re.search(r"[\x00-\x1f\x7f-\x9f]", printable(raw))

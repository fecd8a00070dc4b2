"""Damaged weight sidecars, JSON and TOML files others may have edited, and fuzzed files: read or refused in
one line, never a crash."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from musicgen.data.convert import convert_directory
from musicgen.data.training_data import load_training_data
from musicgen.errors import DatasetError, WeightsError
from musicgen.formats.weights import describe, list_weight_files, read_checkpoint

from helpers import REPO, converted_minuet, run_script, temp_leftovers
from hostile_checks import assert_one_line_failure, copy_dataset, copy_weights, user_error


# ---------------------------------------------------------------- weight sidecars


def _sidecar(weights: Path) -> Path:
    return weights.with_name(weights.name.replace(".weights.h5", ".json"))


SIDECAR_DAMAGE = {
    "cell foo": ("model", "cell", "foo"),
    "hidden as text": ("model", "hidden", "16"),
    "hidden negative": ("model", "hidden", -1),
    "hidden huge": ("model", "hidden", 10**9),
    "layers zero": ("model", "layers", 0),
    "layers huge": ("model", "layers", 100000),
    "sample rate zero": ("model", "sample_rate", 0),
    "overlap as text": ("model", "overlap", "false"),
    "unknown model key": ("model", "wings", 2),
    "prenet dropout 5": ("model", "prenet_dropout", 5),
    "mean too short": ("normalisation", "mean", [0.0] * 3),
    "std zero": ("normalisation", "std", [0.0] * 2000),
    "mean as text": ("normalisation", "mean", "0"),
    "iteration infinite": (None, "iteration", "INF"),
    "iteration negative": (None, "iteration", -3),
    "history a list": (None, "history", [1, 2]),
    "history of text": (None, "history", {"loss": ["a"]}),
    "format missing": (None, "format", None),
    "model missing": (None, "model", None),
    "digest not hex": (None, "digest", "xyz"),
    "top level list": "[]",
    "truncated": "TRUNCATE",
}


def _damage_sidecar(path: Path, damage) -> None:
    meta = json.loads(path.read_text())
    if damage == "[]":
        path.write_text("[]")
        return
    if damage == "TRUNCATE":
        path.write_text(path.read_text()[:100])
        return
    section, key, value = damage
    target = meta if section is None else meta[section]
    if value is None:
        del target[key]
    else:
        target[key] = value
    text = json.dumps(meta)
    path.write_text(text.replace('"INF"', "1e400"))


@pytest.mark.parametrize("damage", sorted(SIDECAR_DAMAGE))
@pytest.mark.trains
def test_a_damaged_sidecar_is_refused_and_the_menu_lists_it_as_unreadable(weights, tmp_path, damage):
    copy = tmp_path / weights.name
    shutil.copy(weights, copy)
    shutil.copy(_sidecar(weights), _sidecar(copy))
    good = tmp_path / weights.name.replace("Iter-1", "Iter-2")
    shutil.copy(weights, good)
    shutil.copy(_sidecar(weights), _sidecar(good))
    _damage_sidecar(_sidecar(copy), SIDECAR_DAMAGE[damage])
    user_error(lambda: read_checkpoint(copy), _sidecar(copy).name, kind=WeightsError)
    lines = [describe(p) for p in list_weight_files(tmp_path)]
    assert len(lines) == 2 and "unreadable" in lines[0] and "unreadable" not in lines[1]


@pytest.mark.script
def test_generate_and_re_train_refuse_a_damaged_sidecar_in_one_line(weights, small_data, tmp_path):
    copy = tmp_path / "w" / weights.name
    copy.parent.mkdir()
    shutil.copy(weights, copy)
    _sidecar(copy).write_text(json.dumps({**json.loads(_sidecar(weights).read_text()), "model": {"cell": "lstm",
                              "hidden": 16, "layers": 100000, "block_size": 1000, "sample_rate": 8000,
                              "clip_blocks": 8}}))
    for script in ("generate.py", "re_train.py"):
        out = run_script(script, "--weights", copy, "--data", small_data, "--out-dir", tmp_path / "songs",
                         timeout=120) if script == "generate.py" else \
            run_script(script, "--weights", copy, "--data", small_data, "--weights-dir", tmp_path / "w", timeout=120)
        assert_one_line_failure(out, _sidecar(copy).name, "layers", codes=(1,))
    assert not (tmp_path / "songs").exists()


@pytest.mark.slow
def test_a_changed_weight_file_is_refused_by_its_digest(weights, small_data, tmp_path):
    from musicgen.config import GenerateConfig
    from musicgen.generate.generation import generate

    copy = tmp_path / weights.name
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    copy.write_bytes(bytes(data))
    shutil.copy(_sidecar(weights), _sidecar(copy))
    user_error(lambda: generate(copy, GenerateConfig(data_prefix=small_data, out_dir=tmp_path / "s")),
               weights.name, "sha256", kind=WeightsError)
    assert not list((tmp_path / "s").glob("*.wav"))


@pytest.mark.slow
def test_a_network_refuses_data_at_another_sample_rate(weights, small_data, tmp_path):
    from musicgen.config import GenerateConfig
    from musicgen.generate.generation import generate

    prefix = copy_dataset(small_data, tmp_path / "data")
    info = json.loads(Path(f"{prefix}_info.json").read_text())
    Path(f"{prefix}_info.json").write_text(json.dumps({**info, "sample_rate": 16000}))
    user_error(lambda: generate(weights, GenerateConfig(data_prefix=prefix, out_dir=tmp_path / "s")),
               "at 8000 Hz", "at 16000 Hz", kind=WeightsError)

# ---------------------------------------------------------------- evaluate.py


@pytest.mark.script
def test_evaluate_refuses_a_broken_wav_and_plots_short_songs(tmp_path):
    from musicgen.plots import plot_song

    from helpers import tone

    ref = tone(tmp_path / "ref.wav", 2.0, rate=8000)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + b"\x00" * 8)
    out = run_script("evaluate.py", broken, "--reference", ref, timeout=120)
    assert_one_line_failure(out, "broken.wav", codes=(1,))
    assert plot_song(np.zeros(500, np.float32), 8000, tmp_path / "short.png", "t").stat().st_size > 0
    assert plot_song(np.zeros(3, np.float32), 8000, tmp_path / "tiny.png", "t").stat().st_size > 0
    song = tone(tmp_path / "song.wav", 1.0, rate=8000)
    song.with_suffix(".json").write_text(json.dumps({"echo_seconds": "soon"}))
    out = run_script("evaluate.py", song, "--reference", ref, "--plot", tmp_path / "new" / "p.png", timeout=120)
    assert_one_line_failure(out, "song.json", "echo_seconds", codes=(1,))
    song.with_suffix(".json").unlink()
    out = run_script("evaluate.py", song, "--reference", ref, "--plot", tmp_path / "new" / "p.png", timeout=120)
    assert out.returncode == 0 and (tmp_path / "new" / "p.png").is_file(), out.stderr
    assert not temp_leftovers(tmp_path)

# ---------------------------------------------------------------- fuzzing


FUZZ = r'''
import json, shutil, sys
from pathlib import Path
import numpy as np
from musicgen.formats.weights import read_checkpoint, describe
from musicgen.errors import MusicGenError
from musicgen.data.training_data import load_training_data


HOSTILE_NUMBERS = [1e300, -1e300, 1e-300, 3.5e38, -1e20, float("nan"), float("inf")]
HOSTILE = HOSTILE_NUMBERS + [0, -1, 2**63, "x", "", [], {}, None, True, [[[1]]], "__BIG__", "__DEEP__"]
data, weights, work, seed = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(seed)
sidecar = weights.with_name(weights.name.replace(".weights.h5", ".json"))
targets = [data.with_name(data.name + s) for s in ("_x.npy", "_y.npy", "_info.json", "_mean.npy")] + [sidecar]
outcomes = {"ok": 0, "refused": 0}
for trial in range(int(sys.argv[5])):
    case = work / f"case{trial}"
    case.mkdir()
    for f in targets[:4]:
        shutil.copy(f, case / f.name)
    shutil.copy(weights, case / weights.name)
    shutil.copy(sidecar, case / sidecar.name)
    victim = case / targets[rng.integers(len(targets))].name
    raw = bytearray(victim.read_bytes())
    if victim.suffix == ".json" and rng.random() < 0.5:
        # A value of the right file, replaced by one that parses and breaks something else.
        doc = json.loads(raw)
        spots = []
        def walk(node):
            for key in (range(len(node)) if isinstance(node, list) else list(node)):
                spots.append((node, key))
                if isinstance(node[key], (dict, list)):
                    walk(node[key])
        walk(doc)
        node, key = spots[rng.integers(len(spots))]
        node[key] = HOSTILE[rng.integers(len(HOSTILE))]
        raw = json.dumps(doc).replace('"__BIG__"', "9" * 5000).replace('"__DEEP__"', "[" * 100000 + "]" * 100000)
        raw = bytearray(raw.encode())
    elif victim.name.endswith("_mean.npy") and rng.random() < 0.5:
        vector = np.load(victim).astype(np.float64)
        vector[rng.integers(len(vector))] = HOSTILE_NUMBERS[rng.integers(len(HOSTILE_NUMBERS))]
        np.save(victim, vector)
        raw = bytearray(victim.read_bytes())
    elif rng.random() < 0.3:
        raw = raw[: rng.integers(len(raw))]
    else:
        span = min(len(raw), 400) if victim.suffix == ".npy" else len(raw)
        for _ in range(rng.integers(1, 6)):
            raw[rng.integers(span)] = rng.integers(256)
    victim.write_bytes(bytes(raw))
    try:
        d = load_training_data(case / data.name)
        d.x.read_finite(np.arange(len(d.x)))
        d.y.read_finite(np.arange(len(d.y)))
        ckpt = read_checkpoint(case / weights.name)
        describe(case / weights.name)
        outcomes["ok"] += 1
    except MusicGenError as exc:
        assert "\n" not in str(exc), str(exc)
        outcomes["refused"] += 1
    shutil.rmtree(case)
print(json.dumps(outcomes))
'''


@pytest.mark.script
def test_fuzzed_tensors_info_and_sidecars_are_read_or_refused_never_crash(small_data, weights, tmp_path):
    out = subprocess.run([sys.executable, "-c", FUZZ, str(small_data), str(weights), str(tmp_path), "2026", "150"],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]  # a segfault would be -11, any other exception 1
    outcomes = json.loads(out.stdout.strip().splitlines()[-1])
    assert outcomes["refused"] >= 30 and sum(outcomes.values()) == 150

# ---------------------------------------------------------------- round two: what is parsed


def _deep(path: Path):
    path.write_text("[" * 200_000 + "]" * 200_000)


def _huge(path: Path):
    with open(path, "wb") as handle:  # sparse: 80 MB of zero bytes that take no disk
        handle.truncate(80 * 2**20)


def _fifo(path: Path):
    os.mkfifo(path)


def _long_number(path: Path):
    path.write_text('{"iteration": ' + "9" * 5000 + "}")


DOC_DAMAGE = {"nested 200000 deep": _deep, "80 MB": _huge, "a FIFO": _fifo, "a 5000-digit number": _long_number}


@pytest.mark.slow
@pytest.mark.parametrize("damage", DOC_DAMAGE, ids=list(DOC_DAMAGE))
def test_every_json_reader_refuses_deep_huge_special_and_overlong_documents(weights, small_data, tmp_path, damage):
    from musicgen.formats.songs import UnreadableSidecar, read_song_info

    # A weight file's sidecar, a dataset's info file: refused by name, within seconds.
    sidecar = copy_weights(weights, tmp_path / "w").with_suffix("").with_suffix(".json")
    sidecar.unlink()
    DOC_DAMAGE[damage](sidecar)
    started = time.monotonic()
    user_error(lambda: read_checkpoint(sidecar.with_suffix(".weights.h5")), sidecar.name, kind=WeightsError)
    prefix = copy_dataset(small_data, tmp_path / "d")
    info = Path(f"{prefix}_info.json")
    info.unlink()
    DOC_DAMAGE[damage](info)
    user_error(lambda: load_training_data(prefix), info.name, kind=DatasetError)
    # A song's sidecar is optional: a damaged one is one exception that evaluate.py notes and ignores.
    song = tmp_path / "generated_song1.wav"
    song.write_bytes(b"")
    DOC_DAMAGE[damage](song.with_suffix(".json"))
    with pytest.raises(UnreadableSidecar):
        read_song_info(song)
    assert time.monotonic() - started < 30  # nothing waited on the FIFO


@pytest.mark.parametrize("damage", DOC_DAMAGE, ids=list(DOC_DAMAGE))
def test_a_damaged_wav_cache_key_is_decoded_again(tmp_path, damage):
    cfg = converted_minuet(tmp_path)
    before = np.load(f"{cfg.output_prefix}_x.npy")
    key = next((cfg.input_dir / "wave").glob("*.key"))
    key.unlink()
    DOC_DAMAGE[damage](key)
    convert_directory(cfg, progress=False)
    assert np.array_equal(np.load(f"{cfg.output_prefix}_x.npy"), before)


@pytest.mark.parametrize("damage", ["nested 200000 deep", "80 MB", "a FIFO"])
@pytest.mark.script
def test_a_damaged_preset_is_one_line_naming_it(tmp_path, damage):
    preset = tmp_path / "preset.toml"
    {"nested 200000 deep": lambda p: p.write_text("a = " + "[" * 200_000 + "]" * 200_000),
     "80 MB": _huge, "a FIFO": _fifo}[damage](preset)
    proc = run_script("convert_directory.py", "--config", preset, "--input", tmp_path / "none", timeout=60)
    assert_one_line_failure(proc, "preset.toml", codes=(2,))


def test_a_preset_list_flag_takes_one_value_or_refuses_an_empty_list(tmp_path):
    from musicgen.cli.args import parse_with_preset

    preset = tmp_path / "eval.toml"
    preset.write_text('reference = "datasets/training_data/wave"\n')
    args = parse_with_preset(script_parser_for("evaluate"), ["--config", str(preset), "song.wav"])
    assert [str(p) for p in args.reference] == ["datasets/training_data/wave"]
    preset.write_text("reference = []\n")
    with pytest.raises(SystemExit):
        parse_with_preset(script_parser_for("evaluate"), ["--config", str(preset), "song.wav"])


def script_parser_for(name: str):
    from helpers import script_parser

    return script_parser(name)

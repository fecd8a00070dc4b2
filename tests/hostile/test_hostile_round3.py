"""The smaller cases of the third hostile round: outputs inside the input, absurd presets, NaN in JSON,
an unwritable HOME, temporary files of a live run in another container."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from musicgen.atomic import check_writable
from musicgen.data.convert import convert_directory
from musicgen.liveness import lock_name, run_token

from helpers import REPO, convert_minuet, music_excerpt, run_script, small_config, tone


def test_a_dataset_written_inside_its_input_folder_is_not_taken_for_music(tmp_path):
    cfg = small_config(tmp_path)
    cfg.input_dir.mkdir()
    music_excerpt(cfg.input_dir / "minuet.mp3", 9.2)
    inside = cfg.input_dir / "np_array"
    for _ in range(2):
        convert_directory(type(cfg)(input_dir=cfg.input_dir, output_prefix=inside, audio=cfg.audio), progress=False)
    assert (cfg.input_dir / "np_array_xmerged.wav").is_file()
    assert json.loads((cfg.input_dir / "np_array_info.json").read_text())["sources"] == ["minuet.mp3"]


@pytest.mark.script
def test_a_preset_of_many_unknown_keys_is_one_short_line(tmp_path):
    preset = tmp_path / "p.toml"
    preset.write_text("".join(f"key{k} = 1\n" for k in range(20000)))
    out = run_script("train.py", "--config", preset, cwd=tmp_path, timeout=120)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 2 and len(lines) == 1 and len(lines[0]) < 3000, len(out.stderr)
    assert "key0" in lines[0] and "more" in lines[0]


@pytest.mark.script
def test_evaluate_json_is_json_even_when_a_measure_is_not_a_number_and_home_is_unwritable(tmp_path):
    song = tone(tmp_path / "song.wav", 2.0, rate=8000)
    env = {"HOME": "/proc/no-home", "MPLCONFIGDIR": ""}
    out = run_script("evaluate.py", song, "--reference", song, "--json", "--block-seconds", "0.000001",
                     "--plot", tmp_path / "p.png", env={**os.environ, **env})
    assert out.returncode == 0, out.stderr[-2000:]
    json.loads(out.stdout)  # NaN is not JSON: a measure that is not a number is null
    assert out.stderr.strip() == "", out.stderr[-2000:]


def test_a_sidecar_left_without_its_song_by_a_kill_is_removed_by_the_next_song(tmp_path):
    import numpy as np

    from musicgen.formats.songs import SongInfo, write_song

    songs = tmp_path / "songs"
    songs.mkdir()
    for name in ("generated_song1.json", "generated_song1.png"):
        (songs / name).write_text("{}")
        os.utime(songs / name, (1e9, 1e9))  # long ago
    (songs / "generated_song2.json").write_text("{}")  # fresh: a live run may be about to link its song
    (songs / "generated_song3.wav").write_bytes(b"mine")
    (songs / "generated_song3.json").write_text("{}")
    os.utime(songs / "generated_song3.json", (1e9, 1e9))
    path = write_song(songs, np.zeros(800, np.float32), 8000, info=SongInfo(seed_clip=1))
    assert path.name == "generated_song4.wav"
    assert sorted(p.name for p in songs.iterdir() if p.name != lock_name(run_token())) == [
        "generated_song2.json", "generated_song3.json", "generated_song3.wav", "generated_song4.json",
        "generated_song4.wav"]


@pytest.mark.script
def test_a_sidecar_that_cannot_be_read_is_said_to_be_ignored(tmp_path):
    song = tone(tmp_path / "generated_song1.wav", 2.0, rate=8000)
    (tmp_path / "generated_song1.json").write_text("[" * 100_000 + "]" * 100_000)
    out = run_script("evaluate.py", song, "--reference", song)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "generated_song1.json' cannot be read; it is ignored" in out.stderr


def test_a_dataset_replaced_while_it_is_read_is_read_as_it_was_opened(tmp_path):
    import dataclasses

    import numpy as np

    from musicgen.data.training_data import load_training_data

    cfg = convert_minuet(dataclasses.replace(small_config(tmp_path), shard_size=3))
    data = load_training_data(cfg.output_prefix)
    before = data.x.read(np.arange(data.clips))
    (cfg.input_dir / "minuet.mp3").unlink()
    music_excerpt(cfg.input_dir / "other.mp3", 9.2, start=30.0)
    convert_directory(cfg, progress=False)  # new shards; the old ones deleted
    assert not any(p.exists() for p in data.x.paths)
    np.testing.assert_array_equal(data.x.read(np.arange(data.clips)), before)
    assert not np.array_equal(load_training_data(cfg.output_prefix).x.read(np.arange(data.clips)), before)


def _unshare_works() -> bool:
    try:
        return subprocess.run(["unshare", "-rpf", "--mount-proc", "true"], capture_output=True,
                              timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


# Run inside a fresh pid namespace: uses up a few hundred pids, then writes a temporary file from a child,
# whose pid there is one that no process here has (as the round found it), and stays alive.
_OTHER_CONTAINER = """
import os, sys, time
from pathlib import Path
from musicgen.atomic import temp_path
for _ in range(400):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
if os.fork() == 0:
    p = temp_path(Path(sys.argv[1]) / "np_array_x-a1b2c3-00001.npy")
    p.write_bytes(b"x")
    print(os.getpid(), p.name, flush=True)
    time.sleep(120)
    os._exit(0)
os.wait()
"""


@pytest.mark.skipif(not _unshare_works(), reason="no unprivileged user and pid namespaces here (unshare -rpf)")
@pytest.mark.script
def test_a_live_run_in_another_pid_namespace_keeps_its_temporary_files(tmp_path):
    writer = subprocess.Popen(["unshare", "-rpf", "--mount-proc", "--kill-child", sys.executable, "-c",
                               _OTHER_CONTAINER, str(tmp_path)], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        pid, name = writer.stdout.readline().split()
        assert 400 < int(pid) < 1000  # that namespace's own numbering
        check_writable(tmp_path)
        assert (tmp_path / name).exists()
    finally:
        writer.kill()
        writer.wait()
    deadline = time.monotonic() + 30  # the namespace dies with its first process, a moment after its parent
    while (tmp_path / name).exists() and time.monotonic() < deadline:
        check_writable(tmp_path)
        time.sleep(0.1)
    assert [p.name for p in tmp_path.glob(".part-*")] == [lock_name(run_token())]  # only this run's lock

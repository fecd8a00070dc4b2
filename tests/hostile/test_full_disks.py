"""Full and read-only disks: one line, the earlier outputs kept, nothing half written."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest


from helpers import REPO, music_excerpt, run_script, temp_leftovers
from hostile_checks import assert_one_line_failure, copy_dataset, run_limited, snapshot


# ---------------------------------------------------------------- full and read-only disks


@pytest.mark.script
def test_a_full_disk_during_conversion_keeps_the_old_dataset(small_data, tmp_path):
    prefix = copy_dataset(small_data, tmp_path / "data")
    before = snapshot(tmp_path / "data")
    inp = small_data.parent.parent / "in"
    out = run_limited("convert_directory.py", "--input", inp, "--output", prefix, "--sample-rate", "8000",
                      "--block-size", "1000", "--clip-len", "1", "-q", file_bytes=100_000)
    assert_one_line_failure(out, str(tmp_path / "data"), codes=(1,))
    assert snapshot(tmp_path / "data") == before and not temp_leftovers(tmp_path, inp)


@pytest.mark.script
def test_a_full_disk_during_training_keeps_the_last_checkpoint_and_leaves_nothing_half(small_data, tmp_path):
    out = run_limited("train.py", "--data", small_data, "--weights-dir", tmp_path / "w", "--img-dir",
                      tmp_path / "img", "-n", "2", "-e", "1", "-b", "4", "--hidden", "16", file_bytes=50_000)
    assert_one_line_failure(out, "LSTM_NP_Weights_Iter-1.weights.h5", codes=(1,))
    assert not list((tmp_path / "w").iterdir())  # no claim, sidecar or temporary file is left


@pytest.mark.script
@pytest.mark.trains
def test_a_full_disk_while_generating_writes_no_half_song(weights, small_data, tmp_path):
    songs = tmp_path / "songs"
    songs.mkdir()
    (songs / "generated_song1.wav").write_bytes(b"mine")
    out = run_limited("generate.py", "--weights", weights, "--data", small_data, "--out-dir", songs,
                      "--seconds", "20", file_bytes=100_000)
    assert_one_line_failure(out, str(songs), codes=(1,))
    assert sorted(p.name for p in songs.iterdir()) == ["generated_song1.wav"]
    assert (songs / "generated_song1.wav").read_bytes() == b"mine"


@pytest.mark.parametrize("script", ["train.py", "generate.py", "convert_directory.py", "evaluate.py"])
@pytest.mark.script
def test_a_read_only_output_folder_is_reported_before_any_work(weights, small_data, read_only, tmp_path, script):
    args = {
        "train.py": ["--data", small_data, "--weights-dir", read_only, "-n", "50", "--hidden", "16"],
        "generate.py": ["--weights", weights, "--data", small_data, "--out-dir", read_only],
        "convert_directory.py": ["--input", small_data.parent.parent / "in", "--output", read_only / "np"],
        "evaluate.py": [weights.parent / "x.wav", "--plot", read_only / "p.png"],
    }[script]
    if script == "evaluate.py":
        from helpers import tone
        tone(args[0], 1.0, rate=8000)
        args += ["--reference", args[0]]
    started = time.monotonic()
    out = run_script(script, *args, timeout=120)
    assert_one_line_failure(out, str(read_only), codes=(1,))
    assert "iteration" not in out.stdout and time.monotonic() - started < 60

# ---------------------------------------------------------------- round two: a really full disk


@pytest.fixture
def nearly_full(tmp_path):
    """make(megabytes) -> a fresh file system of that size with 100 KB left free (root: tmpfs)."""
    mounts = []

    def make(megabytes: int, *, keep: tuple[Path, ...] = ()) -> Path:
        folder = tmp_path / f"disk{len(mounts)}"
        folder.mkdir()
        if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs",
                                                str(folder)], capture_output=True).returncode != 0:
            pytest.skip("needs root and mount for a real full disk (the file-size limit tests cover the rest)")
        mounts.append(folder)
        for path in keep:
            shutil.copy(path, folder / path.name)
        free = shutil.disk_usage(folder).free
        with open(folder / ".fill", "wb") as handle:
            handle.write(b"\0" * max(free - 100_000, 0))
        return folder

    yield make
    for folder in mounts:
        subprocess.run(["umount", str(folder)], check=False)


@pytest.mark.script
def test_training_onto_a_full_disk_ends_in_one_line_not_a_crash(small_data, tmp_path, nearly_full):
    disk = nearly_full(1)
    proc = run_script("train.py", "--data", small_data, "--weights-dir", disk / "w", "--img-dir", tmp_path / "img",
                      "-n", "1", "-e", "1", "--hidden", "64")
    assert proc.returncode != -signal.SIGSEGV
    assert_one_line_failure(proc, "No space left on device", "the previous checkpoint is kept")
    assert not list((disk / "w").glob("*")) and not temp_leftovers(disk)


@pytest.mark.parametrize("jobs", ["1", "0"])
@pytest.mark.script
def test_a_full_disk_under_the_wav_cache_fails_the_conversion_never_skips_a_file(tmp_path, nearly_full, jobs):
    sources = [tmp_path / "src" / name for name in ("a.mp3", "b.mp3")]
    sources[0].parent.mkdir()
    for k, path in enumerate(sources):
        music_excerpt(path, 9.2, start=k * 10.0)
    disk = nearly_full(2, keep=tuple(sources))
    proc = run_script("convert_directory.py", "--input", disk, "--output", tmp_path / "out" / "np", "-q",
                      "--jobs", jobs)
    assert_one_line_failure(proc, "No space left on device", str(disk / "wave"))
    assert ".part-" not in proc.stderr
    assert not list((disk / "wave").glob("*.wav")) and not (tmp_path / "out" / "np_x.npy").exists()


@pytest.mark.script
def test_a_full_image_folder_keeps_the_earlier_model_diagram_whole(small_data, tmp_path, nearly_full):
    disk = nearly_full(1)
    earlier = REPO / "img" / "lstm_model_plot.png"
    if earlier.is_file():
        shutil.copy(earlier, disk / earlier.name)
    else:
        (disk / earlier.name).write_bytes(b"\x89PNG earlier")
    before = (disk / earlier.name).read_bytes()
    free = shutil.disk_usage(disk).free
    with open(disk / ".fill2", "wb") as handle:  # room for nothing, the earlier diagram kept
        handle.write(b"\0" * max(free - 4096, 0))
    proc = run_script("train.py", "--data", small_data, "--weights-dir", tmp_path / "w", "--img-dir", disk,
                      "-n", "1", "-e", "1", "--hidden", "8")
    assert_one_line_failure(proc, "lstm_model_plot.png", "No space left on device")
    assert (disk / earlier.name).read_bytes() == before and not temp_leftovers(disk)


@pytest.mark.parametrize("song_format", ["mp3", "ogg"])
@pytest.mark.script
def test_an_encoder_that_exits_0_without_writing_leaves_no_numbered_file(weights, small_data, tmp_path, song_format):
    # The encoders of a disk that fails silently: lame and sox that exit 0 and write nothing.
    tools = tmp_path / "bin"
    tools.mkdir()
    real_sox = shutil.which("sox")
    (tools / "lame").write_text("#!/bin/sh\nexit 0\n")
    # sox still decodes (the seed, the WAV cache); only writing an ogg is made to do nothing.
    (tools / "sox").write_text(f'#!/bin/sh\ncase "$*" in *.ogg) exit 0;; esac\nexec {real_sox} "$@"\n')
    for tool in tools.iterdir():
        tool.chmod(0o755)
    out = tmp_path / "songs"
    proc = run_script("generate.py", "--weights", weights, "--data", small_data, "--out-dir", out,
                      "--format", song_format, env={"PATH": f"{tools}:{os.environ['PATH']}"})
    assert_one_line_failure(proc, "wrote nothing", "no song was written")
    assert not [p for p in out.glob("*") if not p.name.startswith(".")] and not temp_leftovers(out)

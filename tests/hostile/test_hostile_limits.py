"""Outputs that cannot be written: a file-size limit (ulimit -f) is a full disk, and a file in the way of
an optional output folder is found before any work. One line naming the file, exit 1, no signal death,
the earlier outputs kept and no temporary file left."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

from helpers import REPO, music_excerpt, run_script, temp_leftovers


def limited(kilobytes: int):
    """A preexec_fn that sets the soft file-size limit to `kilobytes` KB, as `ulimit -f` does."""
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (kilobytes * 1024, resource.RLIM_INFINITY))
    return limit


def run_limited(kilobytes: int, script: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / script), *map(str, args)], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=600, preexec_fn=limited(kilobytes),
                          env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})


def one_line_too_large(proc) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])  # not -25 (SIGXFSZ) nor -11
    assert len(lines) == 1 and "File too large" in lines[0] and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    return lines[0]


@pytest.mark.parametrize("kilobytes", [100, 900])
@pytest.mark.script
def test_a_conversion_under_a_file_size_limit_fails_in_one_line_and_keeps_the_old_dataset(tmp_path, kilobytes):
    inp = tmp_path / "in"
    inp.mkdir()
    music_excerpt(inp / "minuet.mp3", 30.0)  # a 2.6 MB WAV in the cache
    line = one_line_too_large(run_limited(kilobytes, "convert_directory.py", "--input", inp, "--output",
                                          tmp_path / "out" / "np", "-q"))
    assert "minuet.wav" in line or "np_" in line
    assert not temp_leftovers(tmp_path)
    assert not (tmp_path / "out" / "np_info.json").exists()


@pytest.mark.script
def test_training_under_a_file_size_limit_fails_in_one_line(small_data, tmp_path):
    line = one_line_too_large(run_limited(100, "train.py", "--data", small_data, "-n", 1, "-e", 1,
                                          "--weights-dir", tmp_path / "w", "--img-dir", tmp_path / "img"))
    assert "weights.h5" in line
    assert not temp_leftovers(tmp_path)


@pytest.mark.parametrize("flag", ["--tensorboard", "--img-dir"])
@pytest.mark.script
def test_a_file_in_the_way_of_an_optional_output_folder_is_found_before_training(small_data, tmp_path, flag):
    in_the_way = tmp_path / "logs"
    in_the_way.write_text("mine")
    out = run_script("train.py", "--data", small_data, "-n", 1, "-e", 1, "--weights-dir", tmp_path / "w", flag,
                     in_the_way, "--preview-seconds", 0)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 1 and len(lines) == 1 and str(in_the_way) in lines[0], out.stderr[-2000:]
    assert "iteration" not in out.stdout and not list((tmp_path / "w").glob("*.weights.h5"))
    assert in_the_way.read_text() == "mine"

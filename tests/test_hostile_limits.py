"""A file-size limit (ulimit -f) is a full disk: one line naming the file, exit 1, no signal death, the
earlier outputs kept and no temporary file left."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

from helpers import REPO, music_excerpt


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
def test_a_conversion_under_a_file_size_limit_fails_in_one_line_and_keeps_the_old_dataset(tmp_path, kilobytes):
    inp = tmp_path / "in"
    inp.mkdir()
    music_excerpt(inp / "minuet.mp3", 30.0)  # a 2.6 MB WAV in the cache
    line = one_line_too_large(run_limited(kilobytes, "convert_directory.py", "--input", inp, "--output",
                                          tmp_path / "out" / "np", "-q"))
    assert "minuet.wav" in line or "np_" in line
    assert not list(tmp_path.rglob(".part-*"))
    assert not (tmp_path / "out" / "np_info.json").exists()


@pytest.mark.slow
def test_training_under_a_file_size_limit_fails_in_one_line(small_data, tmp_path):
    line = one_line_too_large(run_limited(100, "train.py", "--data", small_data, "-n", 1, "-e", 1,
                                          "--weights-dir", tmp_path / "w", "--img-dir", tmp_path / "img"))
    assert "weights.h5" in line
    assert not list(tmp_path.rglob(".part-*"))

"""What the hostile tests check a failure by: one line naming the file or flag, no traceback, every earlier
output byte-identical."""

from __future__ import annotations

import hashlib
import os
import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from musicgen.errors import MusicGenError

from helpers import REPO, music_excerpt

MUSIC = REPO / "datasets" / "training_data"


def snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder` by relative path, temporary files aside."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.startswith(".part-")}


# TensorFlow's own start-up lines (absl, oneDNN, CUDA stubs) come before any of ours; they are
# silenced without --verbose, not a sign of the error handling under test here.
TF_STARTUP = re.compile(r"^(WARNING: All log messages before absl|[IWE]\d{4} \d\d:\d\d:\d\d)")


def assert_one_line_failure(proc, *names: str, codes=(1, 2)) -> str:
    """The run failed as a user error: exit 1 or 2, one stderr line naming each of `names`."""
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not TF_STARTUP.match(line)]
    assert proc.returncode in codes, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr and len(lines) == 1, proc.stderr[-2000:]
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


def user_error(call, *names: str, kind=MusicGenError) -> str:
    """`call()` raises `kind` with a one-line message naming each of `names`."""
    with pytest.raises(kind) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    for name in names:
        assert name in message, (name, message)
    return message


def copy_dataset(prefix: Path, folder: Path) -> Path:
    """Copy every file of the converted dataset at `prefix` into `folder`; return the new prefix."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in prefix.parent.glob(prefix.name + "_*"):
        shutil.copy(path, folder / path.name)
    return folder / prefix.name


def run_limited(script: str, *args, file_bytes: int, timeout: float = 300):
    """Run a script with every file it writes limited to `file_bytes`: a disk that fills up."""
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, str(REPO / script), *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          preexec_fn=limit)


def music_library(folder: Path, seconds=(9.2,), starts=(5.0,)) -> Path:
    folder.mkdir(parents=True)
    for k, (length, start) in enumerate(zip(seconds, starts)):
        music_excerpt(folder / f"piece{k}.mp3", length, start=start)
    return folder


def convert_command(inp: Path, out: Path, rate: int, *extra) -> list[str]:
    return [sys.executable, str(REPO / "convert_directory.py"), "--input", str(inp), "--output", str(out),
            "--sample-rate", str(rate), "--block-size", str(rate // 8), "--clip-len", "1", "-q", *map(str, extra)]


def copy_weights(weights: Path, folder: Path) -> Path:
    """Copy a weight file and its companions into `folder`; return the new weight file."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = weights.name.removesuffix(".weights.h5")
    for path in weights.parent.glob(stem + ".*"):
        shutil.copy(path, folder / path.name)
    return folder / weights.name

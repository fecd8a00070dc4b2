"""Finding and running the external audio tools (lame, sox, dot)."""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

from musicgen.errors import AudioDecodeError, ToolMissingError

INSTALL_HINTS = {
    "lame": "install it: sudo apt-get install -y lame  (macOS: brew install lame)",
    "sox": "install it: sudo apt-get install -y sox libsox-fmt-mp3  (macOS: brew install sox)",
    "dot": "install graphviz: sudo apt-get install -y graphviz  (macOS: brew install graphviz)",
}


def require(tool: str) -> str:
    """Return the full path of `tool`, or raise ToolMissingError with an install hint."""
    path = shutil.which(tool)
    if path is None:
        raise ToolMissingError(f"'{tool}' is not on PATH; {INSTALL_HINTS.get(tool, 'install it')}")
    return path


def run_tool(args: list[str | Path], *, what: str) -> subprocess.CompletedProcess:
    """Run a tool with an argument list; raise AudioDecodeError with its stderr on failure."""
    argv = [str(a) for a in args]
    argv[0] = require(argv[0])
    proc = subprocess.run(argv, capture_output=True, text=True, errors="replace", check=False)
    if proc.returncode != 0:
        detail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        last = detail[-1] if detail else f"exit code {proc.returncode}"
        raise AudioDecodeError(f"{what}: {Path(argv[0]).name} failed: {last}")
    return proc


class ReaderStoppedError(AudioDecodeError):
    """The second program of a pipe exited 0 without reading all of the first one's output."""


def run_pipe(first: list[str | Path], second: list[str | Path], *, what: str) -> None:
    """Run `first | second` without a shell; raise AudioDecodeError if either fails."""
    argv1, argv2 = [str(a) for a in first], [str(a) for a in second]
    argv1[0], argv2[0] = require(argv1[0]), require(argv2[0])
    with subprocess.Popen(argv1, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as p1:
        p2 = subprocess.run(argv2, stdin=p1.stdout, capture_output=True, check=False)
        p1.stdout.close()
        err1 = p1.stderr.read().decode(errors="replace")
        p1.wait()
    failures = [(argv1, p1.returncode, err1), (argv2, p2.returncode, p2.stderr.decode(errors="replace"))]
    if p1.returncode == -signal.SIGPIPE:  # the reader died first: its error is the cause
        failures.reverse()
        if p2.returncode == 0:  # sox stops reading, and exits 0, when it cannot write (a full disk)
            raise ReaderStoppedError(f"{what}: {Path(argv2[0]).name} stopped reading before the end")
    for argv, code, err in failures:
        if code != 0:
            lines = err.strip().splitlines()
            raise AudioDecodeError(
                f"{what}: {Path(argv[0]).name} failed: {lines[-1] if lines else f'exit code {code}'}")


def tool_version(tool: str) -> str | None:
    """First line of a tool's version output, or None if it is missing."""
    path = shutil.which(tool)
    if path is None:
        return None
    flag = {"lame": "--version", "sox": "--version", "dot": "-V"}.get(tool, "--version")
    proc = subprocess.run([path, flag], capture_output=True, text=True, errors="replace", check=False)
    text = (proc.stdout + proc.stderr).strip().splitlines()
    return text[0].strip() if text else "unknown version"


def sox_formats() -> set[str]:
    """File formats the installed sox can read and write."""
    proc = subprocess.run([require("sox"), "-h"], capture_output=True, text=True, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("AUDIO FILE FORMATS:"):
            return set(line.split(":", 1)[1].split())
    return set()

"""Which temporary files belong to a run that is still going, provably, across containers and hosts.

A process id is no proof: a second container sharing the folder has its own pid numbers, so a
live run there looks dead here. Instead every run draws a random token, names its temporary files
with it, and holds an advisory lock (flock) on a lock file `.part-TOKEN.lock` in every folder where
it writes them. The kernel (or the NFS server) drops the lock when the run dies however it dies,
so a token whose lock can be taken belongs to no live run, and a lock file only becomes visible
once it is held.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import re
import secrets
import threading
from pathlib import Path

TOKEN_RE = "[0-9a-f]{16}"
LOCK_RE = re.compile(rf"^\.part-({TOKEN_RE})\.lock(\.new)?$")

_state: dict = {"pid": None, "token": "", "locks": {}}
_guard = threading.Lock()  # conversion's worker threads may claim the same folder at once


def run_token() -> str:
    """This run's random token (a forked child draws its own)."""
    if _state["pid"] != os.getpid():
        _state.update(pid=os.getpid(), token=secrets.token_hex(8), locks={})
    return _state["token"]


def lock_name(token: str) -> str:
    """The name of a run's lock file in each folder where it writes temporary files."""
    return f".part-{token}.lock"


def hold_folder(folder: Path) -> None:
    """Make sure this run holds its lock in `folder` (best effort: a folder that cannot take the
    lock file cannot take the temporary file either, and that write reports the error)."""
    with _guard:
        _hold(folder)


def _hold(folder: Path) -> None:
    token = run_token()
    key = os.path.abspath(folder)
    locks = _state["locks"]
    lock = Path(key) / lock_name(token)
    held = locks.get(key)
    if held is not None:
        try:
            if os.stat(lock).st_ino == os.fstat(held).st_ino:
                return
        except OSError:
            pass
        os.close(held)  # the folder or the lock file was removed under us: take it again
        del locks[key]
    fresh = lock.with_name(lock.name + ".new")
    for _ in range(3):  # a cleaner may take a fresh, not yet locked file for a dead run's: try again
        try:
            fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.replace(fresh, lock)  # visible under its name only once locked
            break
        except OSError:
            os.close(fd)
    else:
        return
    locks[key] = fd
    if len(locks) == 1:
        atexit.register(_release, os.getpid())


def _release(pid: int) -> None:
    if _state["pid"] != pid:
        return
    for key, fd in _state["locks"].items():
        try:
            if os.stat(Path(key) / lock_name(_state["token"])).st_ino == os.fstat(fd).st_ino:
                os.unlink(Path(key) / lock_name(_state["token"]))
        except OSError:
            pass
        os.close(fd)
    _state["locks"] = {}


def is_dead(folder: Path, token: str) -> bool:
    """Whether no live run holds `token`'s lock in `folder`: its lock file is missing or lockable."""
    if token == _state["token"] and _state["pid"] == os.getpid():
        return False
    for name in (lock_name(token), lock_name(token) + ".new"):
        try:
            fd = os.open(Path(folder) / name, os.O_RDONLY)
        except FileNotFoundError:
            continue
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        finally:
            os.close(fd)
    return True

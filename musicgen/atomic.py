"""Writing a file so that readers see the old version or the new one, never half of one.

Every temporary file of the project is named by `temp_path`: hidden, beside its target,
unique to the process (pid) and the call (random), within the 255-byte name limit, and
ending like the target. `remove_stale_temps` deletes those of processes that no longer run.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
from pathlib import Path
from typing import Callable

from musicgen.errors import OutputError

NAME_MAX = 255  # bytes in one file name on Linux and macOS file systems
TEMP_RE = re.compile(r"^\.part-(\d+)-[0-9a-f]{8}-")


def temp_path(path: Path) -> Path:
    """A hidden name beside `path` for writing it: `.part-PID-RANDOM-<name>`.

    The name keeps `path`'s whole name as its ending (shortened from the left when the limit
    demands), because Keras (.weights.h5), matplotlib (.png) and np.save (.npy) choose by it.
    """
    path = Path(path)
    prefix = f".part-{os.getpid()}-{secrets.token_hex(4)}-"
    name = os.fsencode(path.name)  # bytes, as the limit counts them; not every name is UTF-8
    room = NAME_MAX - len(prefix)
    tail = os.fsdecode(name[-room:]) if len(name) > room else path.name
    return path.with_name(prefix + tail)


def write_atomic(path: Path, write: Callable[[Path], object]) -> Path:
    """Call `write(temp)` on a temporary name beside `path`, then rename it into place."""
    path = Path(path)
    part = temp_path(path)
    try:
        write(part)
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    return path


def write_text_atomic(path: Path, text: str) -> Path:
    """Write a text file atomically."""
    return write_atomic(path, lambda part: part.write_text(text))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(folder: Path) -> list[Path]:
    """Delete temporary files in `folder` left by processes that were killed; return them."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = TEMP_RE.match(entry.name)
        if match and int(match.group(1)) != os.getpid() and not _alive(int(match.group(1))):
            try:
                entry.unlink()
                removed.append(entry)
            except OSError:
                pass
    return removed


# A full disk, a quota, a file-size limit or a read-only mount: the disk, not the file, is at fault.
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def require_space(path: Path, size: int = 0) -> None:
    """OSError(ENOSPC) naming `path`, the file about to be written, unless its folder has `size` bytes
    free and 1 MiB beside them, and OSError(EFBIG) unless the process may write a file of `size` bytes
    (ulimit -f): for writers that cannot report either themselves (HDF5 crashes the process on a failed
    write; sox exits 0 with its output cut short)."""
    space = os.statvfs(Path(path).parent)
    if space.f_bavail * space.f_frsize < size + (1 << 20):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    if not size_allowed(size):
        raise OSError(errno.EFBIG, os.strerror(errno.EFBIG), str(path))


def size_allowed(size: int) -> bool:
    """Whether the file-size limit (ulimit -f, RLIMIT_FSIZE) lets this process write a file of `size` bytes."""
    import resource

    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return limit == resource.RLIM_INFINITY or size < limit


def hit_size_limit(path: Path) -> bool:
    """Whether the partly written file at `path` stopped at the file-size limit (a tool that cannot
    write on reports only that it failed)."""
    try:
        return not size_allowed(os.path.getsize(path))
    except OSError:
        return False


def raise_if_disk_full(exc: BaseException, folder: Path | str, consequence: str = "") -> None:
    """Raise the one-line OutputError for `exc` if it says the disk is full or read-only (naming the
    file, else `folder`, and what became of the outputs); return for any other error."""
    if isinstance(exc, OSError) and exc.errno in DISK_ERRNOS:
        where = exc.filename if exc.filename else folder
        # Raised, never kept in a variable: a local holding it would keep the failed writer (and its
        # frames) alive in a reference cycle until exit, where its close() prints a traceback.
        raise OutputError(f"cannot write '{where}': {exc.strerror or exc}"
                          + (f"; {consequence}" if consequence else "")) from None


def check_writable(folder: Path) -> Path:
    """Create `folder` if needed and prove a file can be written there, before any long work
    starts; OutputError naming the folder if not. Leftovers of killed runs are removed."""
    folder = Path(folder)
    if os.path.lexists(folder) and not folder.is_dir():
        raise OutputError(f"'{folder}' is not a folder (a file of that name is in the way)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = temp_path(folder / "probe")
        probe.write_bytes(b"\0")
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"cannot write to folder '{folder}': {exc.strerror or exc}") from None
    remove_stale_temps(folder)
    return folder

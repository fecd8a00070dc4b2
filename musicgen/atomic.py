"""Writing a file so that readers see the old version or the new one, never half of one.

Every temporary file of the project is named by `temp_path`: hidden, beside its target,
unique to the run (a random token whose lock the run holds, see liveness.py), within the
255-byte name limit, and ending like the target. `remove_stale_temps` deletes those of runs
that provably no longer go on.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import time
from pathlib import Path
from typing import Callable, Iterable

from musicgen.errors import OutputError
from musicgen.liveness import LOCK_RE, TOKEN_RE, hold_folder, is_dead, run_token

NAME_MAX = 255  # bytes in one file name on Linux and macOS file systems
TEMP_RE = re.compile(rf"^\.part-({TOKEN_RE})-")
# Earlier versions named temporary files by pid; a pid proves nothing across containers, so
# those are removed only when no process here has that pid and a day has passed.
LEGACY_TEMP_RE = re.compile(r"^\.part-(\d+)-[0-9a-f]{8}-")
LEGACY_AGE_S = 86400


def temp_path(path: Path) -> Path:
    """A hidden name beside `path` for writing it: `.part-TOKEN-<name>`, this run's lock held in its folder.

    The name keeps `path`'s whole name as its ending (shortened from the left when the limit
    demands), because Keras (.weights.h5), matplotlib (.png) and np.save (.npy) choose by it.
    """
    path = Path(path)
    hold_folder(path.parent)
    prefix = f".part-{run_token()}-"
    name = os.fsencode(path.name)  # bytes, as the limit counts them; not every name is UTF-8
    room = NAME_MAX - len(prefix)
    tail = os.fsdecode(name[-room:]) if len(name) > room else path.name
    return path.with_name(prefix + tail)


def claim_first_free(names: Iterable[Path], take: Callable[[Path], object]) -> Path:
    """The first of `names` that `take` gets: the one way every numbered output claims its name. `take(path)`
    must raise FileExistsError when the name is taken, and be atomic (link(), an O_EXCL create), so two runs
    claiming in one folder at once never get the same name and nothing is overwritten."""
    for path in names:
        try:
            take(path)
            return path
        except FileExistsError:
            continue
    raise OutputError("no free name left")


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


def _stale(folder: Path, entry: os.DirEntry) -> bool:
    match = TEMP_RE.match(entry.name) or LOCK_RE.match(entry.name)
    if match:
        return is_dead(folder, match.group(1))
    legacy = LEGACY_TEMP_RE.match(entry.name)
    if legacy and not _alive(int(legacy.group(1))):
        try:
            return time.time() - entry.stat(follow_symlinks=False).st_mtime > LEGACY_AGE_S
        except OSError:
            return False
    return False


def remove_stale_temps(folder: Path) -> list[Path]:
    """Delete temporary files and folders (and lock files) in `folder` left by runs that were killed; return them."""
    removed = []
    try:
        with os.scandir(folder) as listing:
            entries = list(listing)
    except OSError:
        return removed
    for entry in entries:
        if _stale(Path(folder), entry):
            try:
                if entry.is_dir(follow_symlinks=False):  # a folder written whole, then renamed (export.py)
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
                removed.append(Path(entry.path))
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

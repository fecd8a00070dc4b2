"""The clips of one or many .npy files (shards) as one array, read row by row from disk."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from musicgen.errors import DatasetError

# The layouts convert_directory.py writes (float32 FFT values, float16 log magnitudes); any other
# header (an object dtype above all, whose bytes would become pointers) is refused before a byte of
# data is read.
CLIP_DTYPE = np.dtype("<f4")
STORE_DTYPES = {"fft": CLIP_DTYPE, "logmag": np.dtype("<f2"), "frames": np.dtype("<f2")}
CLIP_RANK = 3


def npy_layout(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, data offset) of a C-ordered .npy, from its header alone."""
    try:
        with open(path, "rb") as handle:
            major, _ = np.lib.format.read_magic(handle)
            read_header = (np.lib.format.read_array_header_1_0 if major == 1
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(handle)
            offset = handle.tell()
    except (OSError, ValueError, SyntaxError, TypeError) as exc:
        raise DatasetError(f"cannot read '{path}': {str(exc).splitlines()[0] if str(exc) else exc!r}") from None
    if fortran:
        raise DatasetError(f"'{path}' is Fortran-ordered; re-run convert_directory.py")
    return tuple(shape), dtype, offset


def check_clip_file(path: Path, dtype: np.dtype = CLIP_DTYPE) -> tuple[tuple[int, ...], int]:
    """(shape, data offset) of a clip tensor; DatasetError unless it is (clips, blocks, features) of
    `dtype` and the file holds every byte its header promises."""
    shape, found, offset = npy_layout(path)
    if found != dtype:
        raise DatasetError(f"'{path}' holds {found} values, not {dtype.name}; re-run convert_directory.py")
    if len(shape) != CLIP_RANK or any(s < 0 for s in shape):
        raise DatasetError(f"'{path}' has shape {shape}, not (clips, blocks, features); "
                           "re-run convert_directory.py")
    check_npy_size(path, shape, dtype, offset)
    return shape, offset


def check_npy_size(path: Path, shape: tuple[int, ...], dtype: np.dtype, offset: int) -> None:
    """DatasetError unless the file holds exactly the bytes its header promises."""
    # Python integers: numpy's int64 product of (2**61, 4, 2) wraps to 0 and would pass.
    expected = offset + math.prod(int(s) for s in shape) * dtype.itemsize
    size = os.stat(path).st_size
    if size != expected:
        raise DatasetError(f"'{path}' is {size} bytes but its header promises {expected} (truncated or "
                           "padded); re-run convert_directory.py")


class ClipArray:
    """Read-only (clips, *row) array of `dtype` over .npy files; rows are fetched with plain file reads.

    A memory map would leave every page it touched mapped into the process, so
    resident memory would grow with the dataset; file reads go through the page
    cache, which the kernel can drop. Only headers are read when opening, but every file stays open
    from then on: a conversion that replaces the dataset meanwhile (new files under the same names, old
    shards deleted) leaves this reader with the files it opened, whole and consistent.
    """

    def __init__(self, paths: list[Path], dtype: np.dtype = CLIP_DTYPE):
        # The lowest and highest value the stored representation can take, set by whoever knows the store
        # (training_data.stored_bounds): a value outside (a flipped exponent bit: 0.508 read as 33312) is
        # damage, however finite. None: only NaN and infinities are refused.
        self.bounds: tuple[float, float] | None = None
        self._fds: list[int] = []
        if not paths:
            raise DatasetError("no tensor files given")
        self.paths = [Path(p) for p in paths]
        try:
            for path in self.paths:
                self._fds.append(os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)))
        except OSError as exc:
            self.close()
            raise DatasetError(f"cannot read '{exc.filename}': {exc.strerror}; re-run convert_directory.py") from None
        layouts = [check_clip_file(p, dtype) for p in self.paths]
        row_shape = layouts[0][0][1:]
        self.dtype = dtype
        for path, (shape, _) in zip(self.paths, layouts):
            if shape[1:] != row_shape:
                raise DatasetError(f"'{path}' holds rows of {shape[1:]}, unlike "
                                   f"'{self.paths[0].name}' ({row_shape}); re-run convert_directory.py")
        self.offsets = [offset for _, offset in layouts]
        self.starts = np.cumsum([0] + [shape[0] for shape, _ in layouts])
        self.shape = (int(self.starts[-1]), *row_shape)
        self.ndim = len(self.shape)
        self.row_bytes = int(np.prod(row_shape)) * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def close(self) -> None:
        """Close the files (reading afterwards is an error)."""
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = []

    def __del__(self):
        self.close()

    def read(self, rows) -> np.ndarray:
        """Rows `rows` (any order, repeats allowed) as a new (len(rows), *row) array."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(rows) and (rows.min() < 0 or rows.max() >= len(self)):
            raise IndexError(f"clip index out of range 0..{len(self) - 1}")
        out = np.empty((len(rows), *self.shape[1:]), dtype=self.dtype)
        shard_of = self._shards_of(rows)
        for shard in np.unique(shard_of):
            picks = np.flatnonzero(shard_of == shard)
            for k in picks:
                offset = self.offsets[shard] + int(rows[k] - self.starts[shard]) * self.row_bytes
                # pread: no shared file position, so tf.data's threads may read at once. A file cut short
                # after it was opened must not hand out uninitialised memory.
                if os.preadv(self._fds[shard], [memoryview(out[k]).cast("B")], offset) != self.row_bytes:
                    raise DatasetError(f"'{self.paths[shard]}' ended early (truncated while in use); "
                                       "re-run convert_directory.py")
        return out

    def read_finite(self, rows) -> np.ndarray:
        """read(rows), or DatasetError naming the file and clip if a value is NaN, infinite or outside
        `bounds` (the info file's fingerprints cover only each file's ends, so a damaged middle is found here)."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        values = self.read(rows)
        flat = values.reshape(len(rows), -1)
        finite = np.isfinite(flat).all(axis=1)
        inside = finite if self.bounds is None else \
            finite & ((flat >= self.bounds[0]) & (flat <= self.bounds[1])).all(axis=1)
        if not inside.all():
            bad = int(np.flatnonzero(~inside)[0])
            row, shard = int(rows[bad]), int(self._shards_of(int(rows[bad])))
            what = ("NaN or infinite values" if not finite[bad] else
                    f"values outside {self.bounds[0]:g}..{self.bounds[1]:g}, which no music gives (damaged)")
            raise DatasetError(f"'{self.paths[shard]}' clip {row - int(self.starts[shard])} holds {what}; "
                               "re-run convert_directory.py")
        return values

    def _shards_of(self, rows):
        """The shard (index into self.paths) that holds each row."""
        return np.searchsorted(self.starts, rows, side="right") - 1

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, (int, np.integer)):
            return self.read([index])[0]
        return self.read(index)

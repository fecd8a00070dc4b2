"""Writing .npy files piece by piece, so tensors never sit whole in memory."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from musicgen.atomic import temp_path

HEADER_BYTES = 128  # fixed, so the row count can be patched in after the last row


def _header(shape: tuple[int, ...], descr: str) -> bytes:
    """A .npy v1.0 header padded to HEADER_BYTES (numpy reads any 64-aligned length)."""
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape!r}, }}"
    body = text.ljust(HEADER_BYTES - 10 - 1) + "\n"
    return b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body.encode("latin1")


class NpyAppender:
    """Write a float32 .npy by appending rows along axis 0; the row count is found at the end.

    The data goes to `<path>.part`; `commit()` writes the final shape into the
    header and renames the file into place, so an interrupted run never leaves a
    half-written tensor under the real name.
    """

    def __init__(self, path: Path, row_shape: tuple[int, ...], dtype=np.float32):
        self.path = Path(path)
        self.row_shape = tuple(int(s) for s in row_shape)
        self.dtype = np.dtype(dtype).newbyteorder("<")
        self.descr = np.lib.format.dtype_to_descr(self.dtype)
        self.part = temp_path(self.path)
        self.rows = 0
        self._file = open(self.part, "wb")
        self._file.write(_header((0, *self.row_shape), self.descr))

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of everything appended so far."""
        return (self.rows, *self.row_shape)

    def append(self, rows: np.ndarray) -> None:
        """Append an array of shape (k, *row_shape)."""
        if rows.shape[1:] != self.row_shape:
            raise ValueError(f"rows of shape {rows.shape[1:]} do not fit {self.row_shape}")
        self._file.write(np.ascontiguousarray(rows, dtype=self.dtype).tobytes())
        self.rows += rows.shape[0]

    def finish(self) -> None:
        """Write the final shape into the header and close; the file keeps its temporary name."""
        if not self._file.closed:
            self._file.seek(0)
            self._file.write(_header(self.shape, self.descr))
            if self.path.exists():
                # On disk before it is renamed over the older file: ext4 would otherwise flush it during
                # the rename, which makes the moment between two renames long enough for a kill to land.
                # (A new name needs no such care; the fsync costs ~1.5 s per GB on this machine.)
                self._file.flush()
                os.fsync(self._file.fileno())
            self._file.close()

    def commit(self) -> Path:
        """Finish and move the file into place."""
        self.finish()
        os.replace(self.part, self.path)
        return self.path

    def abort(self) -> None:
        """Close and delete the partial file (closing may fail as writing did, on a full disk)."""
        with contextlib.suppress(OSError):
            self._file.close()
        self.part.unlink(missing_ok=True)


class RunningStats:
    """Per-feature mean and variance (Chan's parallel update), smallest and largest value over many rows."""

    def __init__(self, dim: int):
        self.count = 0
        self.mean = np.zeros(dim, dtype=np.float64)
        self.m2 = np.zeros(dim, dtype=np.float64)
        self.low = np.full(dim, np.inf)
        self.high = np.full(dim, -np.inf)

    def update(self, rows: np.ndarray) -> None:
        """Fold rows of shape (k, dim) into the statistics."""
        k = rows.shape[0]
        if k == 0:
            return
        # A batch's own moments are accurate in float32; the merge across batches is float64.
        mean_b32 = rows.mean(axis=0, dtype=np.float32)
        m2_b = np.square(rows - mean_b32).sum(axis=0, dtype=np.float64)
        mean_b = mean_b32.astype(np.float64)
        total = self.count + k
        delta = mean_b - self.mean
        self.mean += delta * (k / total)
        self.m2 += m2_b + delta**2 * (self.count * k / total)
        self.count = total
        self.low = np.minimum(self.low, rows.min(axis=0))
        self.high = np.maximum(self.high, rows.max(axis=0))

    @property
    def variance(self) -> np.ndarray:
        """Population variance of everything seen so far."""
        return self.m2 / max(self.count, 1)

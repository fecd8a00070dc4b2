"""A compact code of a block's fine frames: their first principal components over the user's music.

A block of fine frames holds ~1000 values (8 frames of 128 bands); a network stepping through them
would be 8x larger and would draw its noise value by value, which is heard as hiss. The principal
components of the music's own blocks (a linear autoencoder, fitted in one pass when training starts)
keep the part of each block that varies, in 128 values like today's bands, and noise drawn on them
is shaped like the music's own changes. The code travels in the weight file's sidecar.

A fitted basis holds for the music it was fitted on; on other music it loses more (the round trip of
recorded music through 128 components of 8 x 128 bands, fitted on the other pieces of the set, is
0.1-0.6 dB further than the bands themselves). The cosine basis is fixed: the first coefficients of a
DCT over each frame's bands (the cepstral smoothing MFCCs use), so it holds as well everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np


@dataclass
class FrameCode:
    """Encodes (..., D) stored values as (..., K) components and back."""

    mean: np.ndarray  # (D,) float32
    basis: np.ndarray  # (K, D) float32, orthonormal rows, the most varying first
    # Each stored value's lowest and highest in the music (None: not recorded): a drawn code decodes to values
    # within them, so noise drawn on a component never lifts a band the music keeps quiet above its loudest.
    low: np.ndarray | None = None
    high: np.ndarray | None = None

    def encode(self, values: np.ndarray) -> np.ndarray:
        """(..., D) -> (..., K) float32."""
        return ((np.asarray(values, dtype=np.float32) - self.mean) @ self.basis.T).astype(np.float32)

    def decode(self, code: np.ndarray) -> np.ndarray:
        """(..., K) -> (..., D) float32: the values nearest the code, within the music's range of each."""
        values = (np.asarray(code, dtype=np.float32) @ self.basis + self.mean).astype(np.float32)
        return values if self.low is None else np.clip(values, self.low, self.high)


def _moments(chunks: Iterable[np.ndarray], scatter: bool):
    """Count, sum, lowest, highest (and the scatter, if asked) of the rows of every (n, D) chunk, in float64."""
    total, outer, count, low, high = None, None, 0, None, None
    for chunk in chunks:
        rows = np.asarray(chunk, dtype=np.float64).reshape(-1, np.shape(chunk)[-1])
        if total is None:
            total, low, high = np.zeros(rows.shape[1]), rows.min(axis=0), rows.max(axis=0)
            outer = np.zeros((rows.shape[1], rows.shape[1])) if scatter else None
        total += rows.sum(axis=0)
        low, high = np.minimum(low, rows.min(axis=0)), np.maximum(high, rows.max(axis=0))
        if scatter:
            outer += rows.T @ rows
        count += len(rows)
    if not count:
        raise ValueError("no values to fit a code to")
    return count, total, low, high, outer


def fit_code(chunks: Iterable[np.ndarray], components: int) -> FrameCode:
    """The first `components` principal components of the rows of every (n, D) chunk, in one pass (the
    D x D scatter in float64); each component's sign is fixed (largest entry positive), so the same
    music gives the same code."""
    count, total, low, high, scatter = _moments(chunks, scatter=True)
    mean = total / count
    covariance = scatter / count - np.outer(mean, mean)
    _, vectors = np.linalg.eigh(covariance)  # ascending
    basis = vectors[:, ::-1][:, :components].T
    signs = np.sign(basis[np.arange(len(basis)), np.abs(basis).argmax(axis=1)])
    return FrameCode(mean=mean.astype(np.float32), basis=(basis * signs[:, None]).astype(np.float32),
                     low=low.astype(np.float32), high=high.astype(np.float32))


def _dct_rows(n: int, count: int) -> np.ndarray:
    """The first `count` orthonormal DCT-II rows of length `n`."""
    k = np.arange(count)[:, None]
    rows = np.cos(np.pi * k * (2 * np.arange(n)[None, :] + 1) / (2 * n)) * np.sqrt(2.0 / n)
    rows[0] /= np.sqrt(2.0)
    return rows


def cosine_basis(bands: int, frames: int, components: int, times: int = 0) -> np.ndarray:
    """(components, frames * bands) float32, orthonormal rows: the products of the first `times` cosines over
    a block's frames and the first components / times over each frame's bands (times 0: every frame coded
    alone, components / frames coefficients each); a block's values are its frames' bands in turn."""
    if not times or times == frames:
        return np.kron(np.eye(frames), _dct_rows(bands, components // frames)).astype(np.float32)
    return np.kron(_dct_rows(frames, times), _dct_rows(bands, components // times)).astype(np.float32)


def cosine_shape_problem(bands: int, frames: int, components: int, times: int = 0) -> str | None:
    """Why `components` cosine coefficients cannot be laid out as cosine_basis lays them; None if they can."""
    if times > frames:
        return f"{times} cosines over a block's frames, but a block has {frames} frames"
    per = times or frames
    if components % per:
        return f"{components} values do not divide among {per} {'cosines over the frames' if times else 'frames'}"
    if components // per > bands:
        return f"{components // per} cosines over each frame's bands, but a frame has {bands} bands"
    return None


def cosine_code(chunks: Iterable[np.ndarray], bands: int, frames: int, components: int, times: int = 0) -> FrameCode:
    """The cosine code of `components` values a block (cosine_basis) around the music's mean block, with the
    music's range of each value, in one pass over every (n, frames * bands) chunk."""
    count, total, low, high, _ = _moments(chunks, scatter=False)
    return FrameCode(mean=(total / count).astype(np.float32), basis=cosine_basis(bands, frames, components, times),
                     low=low.astype(np.float32), high=high.astype(np.float32))

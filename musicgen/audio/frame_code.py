"""A compact code of a block's fine frames: their first principal components over the user's music.

A block of fine frames holds ~1000 values (8 frames of 128 bands); a network stepping through them
would be 8x larger and would draw its noise value by value, which is heard as hiss. The principal
components of the music's own blocks (a linear autoencoder, fitted in one pass when training starts)
keep the part of each block that varies, in 128 values like today's bands, and noise drawn on them
is shaped like the music's own changes. The code travels in the weight file's sidecar.
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


def fit_code(chunks: Iterable[np.ndarray], components: int) -> FrameCode:
    """The first `components` principal components of the rows of every (n, D) chunk, in one pass (the
    D x D scatter in float64); each component's sign is fixed (largest entry positive), so the same
    music gives the same code."""
    total, scatter, count = None, None, 0
    for chunk in chunks:
        rows = np.asarray(chunk, dtype=np.float64).reshape(-1, np.shape(chunk)[-1])
        if total is None:
            total, scatter = np.zeros(rows.shape[1]), np.zeros((rows.shape[1], rows.shape[1]))
            low, high = rows.min(axis=0), rows.max(axis=0)
        total += rows.sum(axis=0)
        low, high = np.minimum(low, rows.min(axis=0)), np.maximum(high, rows.max(axis=0))
        scatter += rows.T @ rows
        count += len(rows)
    if not count:
        raise ValueError("no values to fit a code to")
    mean = total / count
    covariance = scatter / count - np.outer(mean, mean)
    _, vectors = np.linalg.eigh(covariance)  # ascending
    basis = vectors[:, ::-1][:, :components].T
    signs = np.sign(basis[np.arange(len(basis)), np.abs(basis).argmax(axis=1)])
    return FrameCode(mean=mean.astype(np.float32), basis=(basis * signs[:, None]).astype(np.float32),
                     low=low.astype(np.float32), high=high.astype(np.float32))

"""Audio <-> blocks <-> FFT features, the representation the networks see.

A block of `block_size` samples becomes 2*block_size float values: the real
parts of its complex FFT followed by the imaginary parts (as in GRUV).
"""

from __future__ import annotations

import numpy as np
import scipy.fft


def split_blocks(samples: np.ndarray, block_size: int) -> np.ndarray:
    """Cut a 1-D signal into rows of `block_size`, zero-padding the last one.

    Returns an array of shape (ceil(n / block_size), block_size).
    """
    n_blocks = -(-len(samples) // block_size)
    padded = np.zeros(n_blocks * block_size, dtype=np.float32)
    padded[: len(samples)] = samples
    return padded.reshape(n_blocks, block_size)


def blocks_to_features(blocks: np.ndarray) -> np.ndarray:
    """(..., block_size) time blocks -> (..., 2*block_size) float32 FFT features."""
    # scipy.fft keeps float32 input in single precision: 4x faster than numpy's float64 path.
    spectrum = scipy.fft.fft(np.asarray(blocks, dtype=np.float32), axis=-1)
    return np.concatenate([spectrum.real, spectrum.imag], axis=-1)


def features_to_blocks(features: np.ndarray) -> np.ndarray:
    """(..., 2*block_size) FFT features -> (..., block_size) float32 time blocks.

    Keeps the real part of the inverse FFT: a network's output need not be
    Hermitian, and the imaginary residue is not sound.
    """
    half = features.shape[-1] // 2
    spectrum = np.empty(features.shape[:-1] + (half,), dtype=np.complex64)
    spectrum.real, spectrum.imag = features[..., :half], features[..., half:]
    return scipy.fft.ifft(spectrum, axis=-1).real.astype(np.float32)


def to_int16(samples: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] -> int16, clipped at full scale instead of wrapping."""
    cleaned = np.nan_to_num(np.asarray(samples, dtype=np.float64), nan=0.0, posinf=1.0, neginf=-1.0)
    return np.clip(np.round(cleaned * 32767.0), -32768, 32767).astype(np.int16)

"""What a network sees of each block: GRUV's FFT values, or their log magnitudes.

The training tensors always hold GRUV's features (real parts, then imaginary parts, of each
block's FFT). A network with representation "fft" learns those as they are. One with "logmag"
learns log(|FFT| + LOG_FLOOR) of the non-negative-frequency bins instead: a block's phase is
close to unpredictable, and mean squared error on values of unknown sign pulls them towards
zero, which makes the quiet, static endings of GRUV's songs. The phase is rebuilt when
generating: Griffin-Lim (1984) for overlapping blocks, whose overlaps constrain it, and a random
phase per bin for hard-edged blocks, which constrain nothing.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from .config import BlockSpec
from .fft_blocks import blocks_to_signal, features_to_blocks, frame
from .npy_stream import RunningStats

LOG_FLOOR = 1e-3  # |FFT| below this (about -100 dB re a full-scale block) counts as silence
GRIFFIN_LIM_ITERATIONS = 32


def from_fft_features(features: np.ndarray, representation: str) -> np.ndarray:
    """(..., 2*block_size) GRUV features -> (..., feature_dim) float32 values of `representation`."""
    features = np.asarray(features, dtype=np.float32)
    if representation == "fft":
        return features
    n = features.shape[-1] // 2
    bins = n // 2 + 1
    magnitude = np.hypot(features[..., :bins], features[..., n: n + bins])
    return np.log(magnitude + LOG_FLOOR).astype(np.float32)


def feature_stats(x, block: BlockSpec, *, rows_per_read: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and variance of `block.representation` over every block of a ClipArray.

    GRUV's own features need not come here: convert_directory.py wrote their statistics.
    """
    stats = RunningStats(block.feature_dim)
    for start in range(0, x.shape[0], rows_per_read):
        values = from_fft_features(x.read(np.arange(start, min(start + rows_per_read, x.shape[0]))),
                                   block.representation)
        stats.update(values.reshape(-1, values.shape[-1]))
    return stats.mean.astype(np.float32), stats.variance.astype(np.float32)


def to_signal(values: np.ndarray, block: BlockSpec, *, rng: np.random.Generator | None = None,
              iterations: int = GRIFFIN_LIM_ITERATIONS) -> np.ndarray:
    """(T, feature_dim) de-normalised values of `block`'s representation -> float samples: the
    inverse FFT, or the phase rebuilt."""
    fft = block.representation == "fft"
    values = np.where(np.isfinite(values), values, 0.0 if fft else np.log(LOG_FLOOR))
    if fft:
        return blocks_to_signal(features_to_blocks(values.astype(np.float32)), block)
    magnitude = np.maximum(np.exp(np.asarray(values, dtype=np.float64)) - LOG_FLOOR, 0.0)
    rng = rng or np.random.default_rng()
    phase = np.exp(2j * np.pi * rng.random(magnitude.shape))
    if not block.overlap:
        return blocks_to_signal(_irfft(magnitude * phase, block.block_size), block)
    return griffin_lim(magnitude, phase, block, iterations)


def _irfft(spectrum: np.ndarray, block_size: int) -> np.ndarray:
    return scipy.fft.irfft(spectrum, n=block_size, axis=-1).astype(np.float32)


def griffin_lim(magnitude: np.ndarray, phase: np.ndarray, block: BlockSpec, iterations: int) -> np.ndarray:
    """The signal whose overlapping windowed blocks have these magnitudes, phase found by Griffin-Lim.

    Alternates between the signal the blocks overlap-add to and the phases of that signal's own
    blocks, cut with the window the training blocks were cut with (fft_blocks.frame).
    """
    n_blocks, n = len(magnitude), block.block_size
    spectrum = magnitude * phase
    for _ in range(iterations):
        signal = blocks_to_signal(_irfft(spectrum, n), block)
        rebuilt = scipy.fft.rfft(frame(signal, n_blocks, block), axis=-1)
        spectrum = magnitude * np.exp(1j * np.angle(rebuilt))
    return blocks_to_signal(_irfft(spectrum, n), block)

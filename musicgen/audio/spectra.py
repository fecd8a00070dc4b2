"""What every magnitude representation shares: the log floor, the mel scale and its filterbanks, and
the fast Griffin-Lim loop that rebuilds a phase from magnitudes alone."""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np

from musicgen.config import BlockSpec

LOG_FLOOR = 1e-3  # |FFT| below this (about -100 dB re a full-scale block) counts as silence


def to_log(magnitude: np.ndarray) -> np.ndarray:
    """Magnitudes -> float32 log(magnitude + LOG_FLOOR), the values a network sees."""
    return np.log(magnitude + LOG_FLOOR).astype(np.float32)


def from_log(values: np.ndarray) -> np.ndarray:
    """log(magnitude + LOG_FLOOR) -> float64 magnitudes (the inverse of to_log)."""
    return np.maximum(np.exp(np.asarray(values, dtype=np.float64)) - LOG_FLOOR, 0.0)


def band_rms(magnitude: np.ndarray, block: BlockSpec) -> np.ndarray:
    """(..., bins) magnitudes -> (..., bands): the RMS of each mel band's bins, not their mean: spread back
    over the bins, it keeps the block's energy (the mean of a peaky band lost 3-6 dB on the bundled piano)."""
    return np.sqrt(np.square(magnitude) @ mel_filterbank(block).T)


def fast_griffin_lim(magnitude: np.ndarray, phase: np.ndarray, synthesise: Callable[[np.ndarray], np.ndarray],
                     analyse: Callable[[np.ndarray], np.ndarray], iterations: int, momentum: float) -> np.ndarray:
    """The signal whose frames have these magnitudes, starting from `phase`: Griffin-Lim alternates between
    the signal the spectra make (`synthesise`) and that signal's own spectra (`analyse`). A `momentum` above
    0 is the fast Griffin-Lim of Perraudin et al. (2013, librosa's default 0.99): each round overshoots
    along the last change, reaching in fewer rounds what plain rounds reach."""
    return synthesise(griffin_lim_spectra(magnitude, phase, synthesise, analyse, iterations, momentum))


def griffin_lim_spectra(magnitude: np.ndarray, phase: np.ndarray, synthesise: Callable[[np.ndarray], np.ndarray],
                        analyse: Callable[[np.ndarray], np.ndarray], iterations: int, momentum: float) -> np.ndarray:
    """The complex spectra fast_griffin_lim ends with (these magnitudes, the phases it found)."""
    # Single precision throughout, and each bin's phase taken by dividing by its size rather than
    # through angle() and exp(): 6x faster, so a minute of song is rebuilt in a few seconds.
    magnitude = np.asarray(magnitude, dtype=np.float32)
    spectrum = (magnitude * phase).astype(np.complex64)
    previous = np.complex64(0)
    step = np.float32(momentum / (1.0 + momentum))
    for _ in range(iterations):
        rebuilt = analyse(synthesise(spectrum))
        target = rebuilt - step * previous if momentum else rebuilt
        previous = rebuilt
        spectrum = target * (magnitude / np.maximum(np.abs(target), 1e-30))
    return spectrum


def hz_to_mel(hz):
    """HTK's mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel):
    """The inverse of hz_to_mel."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def triangles(points: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(len(edges) - 2, len(points)) triangular filters: filter k rises from edges[k] to 1 at edges[k + 1]
    and falls to 0 at edges[k + 2], evaluated at `points` (the same unit as the edges, Hz or mel)."""
    low, centre, high = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (points - low) / np.maximum(centre - low, 1e-9)
    falling = (high - points) / np.maximum(high - centre, 1e-9)
    return np.maximum(0.0, np.minimum(rising, falling))


def _mel_points(block: BlockSpec) -> tuple[np.ndarray, np.ndarray]:
    """(each bin's frequency in mel, the bands' edges in mel: bands + 2 of them, 0 Hz to Nyquist)."""
    bin_mel = hz_to_mel(np.arange(block.bins) * block.sample_rate / block.block_size)
    return bin_mel, np.linspace(0.0, bin_mel[-1], block.bands + 2)


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False  # cached and shared by every caller
    return array


@functools.lru_cache(maxsize=8)
def mel_filterbank(block: BlockSpec) -> np.ndarray:
    """(bands, bins) triangular mel filters, each row summing to 1: weights of a band's mean over its bins.

    A band narrower than one bin (low frequencies of a short block) takes its nearest bin, so no band is empty.
    """
    bin_mel, edges = _mel_points(block)
    weights = triangles(bin_mel, edges)
    empty = weights.sum(axis=1) == 0
    weights[empty, np.abs(bin_mel[None, :] - edges[1:-1, None][empty]).argmin(axis=1)] = 1.0
    weights /= weights.sum(axis=1, keepdims=True)
    return _read_only(weights.astype(np.float32))


@functools.lru_cache(maxsize=8)
def mel_inverse(block: BlockSpec) -> np.ndarray:
    """(bands, bins): band magnitudes -> bin magnitudes, linear on the mel scale between band centres."""
    bin_mel, edges = _mel_points(block)
    centres, unit = edges[1:-1], np.eye(block.bands)
    return _read_only(np.stack([np.interp(bin_mel, centres, row) for row in unit]).astype(np.float32))

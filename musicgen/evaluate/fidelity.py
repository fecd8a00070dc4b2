"""How close a rebuilt signal is to the music it was made from, at several time scales.

A decoder's round trip (music -> a network's representation -> audio) is the ceiling of every song
made with it. It is measured here the way speech and music vocoders are: the log-spectral distance
at short, middle and long windows (a quarter-second window hides smeared transients; a short one
hides lost partials) and the spectral convergence of the magnitudes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import scipy.fft

from musicgen.audio.frames import hann

WINDOWS = (256, 1024, 4096)  # samples: transients, notes, partials (at 44.1 kHz: 6 ms, 23 ms, 93 ms)
CONVERGENCE_WINDOW = 1024
FLOOR_DB = -100.0  # power this far below the music's loudest bin counts as silence in both signals


@dataclass
class Fidelity:
    """One rebuilt signal against its music."""

    lsd_db: tuple[float, ...]  # log-spectral distance (dB) at each of WINDOWS
    convergence_db: float  # 20 log10(|| |S| - |S'| || / || |S| ||) at CONVERGENCE_WINDOW: -inf for an exact copy

    def as_dict(self) -> dict:
        """Plain JSON-ready values."""
        return {**asdict(self), "windows": list(WINDOWS)}

    def describe(self) -> str:
        """The figures in one line."""
        lsd = " / ".join(f"{d:.1f}" for d in self.lsd_db)
        return (f"log-spectral distance {lsd} dB at {'/'.join(map(str, WINDOWS))}-sample windows, "
                f"spectral convergence {self.convergence_db:.1f} dB")


def magnitudes(samples: np.ndarray, window: int) -> np.ndarray:
    """(frames, window // 2 + 1) magnitudes of Hann-windowed frames every window / 4 samples."""
    samples = np.asarray(samples, dtype=np.float32)
    if len(samples) < window:
        samples = np.pad(samples, (0, window - len(samples)))
    frames = np.lib.stride_tricks.sliding_window_view(samples, window)[:: window // 4]
    return np.abs(scipy.fft.rfft(frames * hann(window), axis=-1, workers=-1))


def log_spectral_distance(music: np.ndarray, rebuilt: np.ndarray, window: int) -> float:
    """The RMS over frequencies of the difference in dB of the two power spectra, averaged over frames."""
    a, b = magnitudes(music, window), magnitudes(rebuilt, window)
    n = min(len(a), len(b))
    power_a, power_b = np.square(a[:n], dtype=np.float64), np.square(b[:n], dtype=np.float64)
    floor = max(float(power_a.max()), 1e-30) * 10.0 ** (FLOOR_DB / 10.0)
    diff = 10.0 * (np.log10(power_a + floor) - np.log10(power_b + floor))
    return float(np.mean(np.sqrt(np.mean(np.square(diff), axis=1))))


def spectral_convergence_db(music: np.ndarray, rebuilt: np.ndarray, window: int = CONVERGENCE_WINDOW) -> float:
    """20 log10 of the magnitudes' relative error (the measure Griffin-Lim's papers report)."""
    a, b = magnitudes(music, window), magnitudes(rebuilt, window)
    n = min(len(a), len(b))
    error = np.linalg.norm(a[:n] - b[:n]) / max(float(np.linalg.norm(a[:n])), 1e-30)
    return float(20.0 * np.log10(max(error, 1e-12)))


def fidelity(music: np.ndarray, rebuilt: np.ndarray) -> Fidelity:
    """How close `rebuilt` is to `music` (float samples at one rate, aligned at their starts)."""
    n = min(len(music), len(rebuilt))
    music, rebuilt = music[:n], rebuilt[:n]
    return Fidelity(lsd_db=tuple(log_spectral_distance(music, rebuilt, w) for w in WINDOWS),
                    convergence_db=spectral_convergence_db(music, rebuilt))


def spectrum_distance_db(songs: list[np.ndarray], music: list[np.ndarray], window: int,
                         bands: np.ndarray | None = None) -> float:
    """The RMS over frequencies of the difference in dB of two sets' long-term mean power spectra; with
    `bands` ((bands, window // 2 + 1) weights, e.g. mel), over those bands' power instead of the bins'."""
    def mean_power(signals):
        power = np.concatenate([np.square(magnitudes(x, window), dtype=np.float64) for x in signals]).mean(axis=0)
        return power if bands is None else bands @ power

    a, b = mean_power(songs), mean_power(music)
    floor = max(float(b.max()), 1e-30) * 10.0 ** (FLOOR_DB / 10.0)
    return float(np.sqrt(np.mean(np.square(10.0 * (np.log10(a + floor) - np.log10(b + floor))))))


def frechet_distance(songs: list[np.ndarray], music: list[np.ndarray], mel: np.ndarray,
                     window: int = CONVERGENCE_WINDOW) -> float:
    """The Fréchet distance between Gaussians fitted to the two sets' log mel frames (`mel`: (bands, bins)
    weights): how far the songs' frames and their spread lie from the music's, as FAD measures with a
    learnt embedding, here with plain log mel bands."""
    from scipy import linalg

    def frames(signals):
        return np.concatenate([np.log(np.square(magnitudes(x, window), dtype=np.float64) @ mel.T + 1e-10)
                               for x in signals])

    a, b = frames(songs), frames(music)
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b)
    return float(np.sum(np.square(mu_a - mu_b)) + np.trace(cov_a + cov_b - 2.0 * np.real(root)))

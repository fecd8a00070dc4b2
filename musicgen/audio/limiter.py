"""Keeping a song within full scale without clipping it.

A network's song can swing past full scale where its music was mastered close to it (most recorded
songs of the bench did, in hundreds to thousands of samples each). Clipped at the 16-bit write, each
such peak becomes a click whose splatter reaches every band up to 22 kHz. Here the song's gain is
lowered around each such peak instead: smoothly, over a few milliseconds either side, and only there,
so a song within full scale comes out unchanged, sample for sample.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import minimum_filter1d, uniform_filter1d

CEILING = 0.98  # the highest sample a limited song reaches, under full scale so that rounding never clips
RAMP_SECONDS = 0.005  # the gain slides down over this long before a peak and back up after it


def limit(samples: np.ndarray, sample_rate: int, ceiling: float = CEILING) -> np.ndarray:
    """`samples` with their gain lowered smoothly around every sample beyond `ceiling`, so none is; the
    same array where none is."""
    samples = np.asarray(samples, dtype=np.float32)
    magnitude = np.abs(np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0))
    if len(samples) == 0 or magnitude.max() <= ceiling:
        return samples
    ramp = max(1, int(RAMP_SECONDS * sample_rate))
    needed = np.minimum(1.0, ceiling / np.maximum(magnitude, 1e-30))
    # Every sample within `ramp` of a peak holds at most that peak's gain; a moving mean no wider than the
    # hold then smooths the steps and still gives each peak no more than its own gain.
    held = minimum_filter1d(needed, size=2 * ramp + 1, mode="nearest")
    limited = samples * uniform_filter1d(held, size=2 * ramp + 1, mode="nearest")
    return np.clip(limited, -ceiling, ceiling).astype(np.float32)  # the mean's last rounding step, no more

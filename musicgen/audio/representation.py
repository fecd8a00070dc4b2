"""What a network sees of each block: GRUV's FFT values, or their log magnitudes per bin or per band.

The training tensors hold GRUV's features (real parts, then imaginary parts, of each block's
FFT), or, converted with --store logmag, the log magnitudes below. A network with representation
"fft" learns GRUV's features as they are. One with "logmag"
learns log(|FFT| + LOG_FLOOR) of the non-negative-frequency bins instead: a block's phase is
close to unpredictable, and mean squared error on values of unknown sign pulls them towards
zero, which makes the quiet, static endings of GRUV's songs. "logmel" averages those magnitudes
over mel-spaced bands first (triangular filters, as in speech and music tagging): far fewer values
a block, and on dense recorded music a band's level is predictable where a single bin's is close to
random. The phase is rebuilt when generating: Griffin-Lim (1984) for overlapping blocks, whose
overlaps constrain it, and a random phase per bin for hard-edged blocks, which constrain nothing;
bands are spread back over the bins by linear interpolation on the mel scale first.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from musicgen.audio.blocks import blocks_to_signal, features_to_blocks, frame
from musicgen.audio.frame_code import FrameCode
from musicgen.audio.frames import frames_to_signal
from musicgen.audio.spectra import LOG_FLOOR, band_rms, fast_griffin_lim, from_log, mel_inverse, to_log
from musicgen.config import BlockSpec

# Fast Griffin-Lim: 16 rounds at momentum 0.99 rebuild blocks as consistent as 32 plain rounds
# (-25.0 against -24.6 to -25.3 dB spectral convergence on the bundled and recorded music) in 0.55x
# the time; docs/PERFORMANCE.md has the table.
GRIFFIN_LIM_ITERATIONS = 16
GRIFFIN_LIM_MOMENTUM = 0.99


def from_fft_features(features: np.ndarray, block: BlockSpec) -> np.ndarray:
    """(..., 2*block_size) GRUV features -> (..., feature_dim) float32 values of `block.representation`."""
    features = np.asarray(features, dtype=np.float32)
    if block.representation == "fft":
        return features
    magnitude = _magnitudes(features)
    if block.representation == "logmel":
        magnitude = band_rms(magnitude, block)
    return to_log(magnitude)


def log_magnitudes(features: np.ndarray) -> np.ndarray:
    """(..., 2*block_size) GRUV features -> (..., bins) float32 log(|FFT| + LOG_FLOOR): what a "logmag"
    dataset stores (convert_directory.py --store logmag)."""
    return to_log(_magnitudes(np.asarray(features, dtype=np.float32)))


def from_log_magnitudes(values: np.ndarray, block: BlockSpec) -> np.ndarray:
    """(..., bins) log magnitudes -> (..., feature_dim) float32 values of a "logmag" or "logmel" `block`."""
    values = np.asarray(values, dtype=np.float32)
    if block.representation == "logmag":
        return values
    if block.representation != "logmel":
        raise ValueError(f"log magnitudes cannot give {block.representation} values")
    magnitude = np.maximum(np.exp(values) - np.float32(LOG_FLOOR), 0.0)
    return to_log(band_rms(magnitude, block))


def _magnitudes(features: np.ndarray) -> np.ndarray:
    n = features.shape[-1] // 2
    bins = n // 2 + 1
    return np.hypot(features[..., :bins], features[..., n: n + bins])


def from_stored(values: np.ndarray, store: str, block: BlockSpec, code: FrameCode | None = None) -> np.ndarray:
    """Values as a dataset of `store` holds them ("fft", "logmag" or "frames") -> float32 values of `block`;
    a "frames" block's through its `code`, where it has one."""
    if store == "frames":
        if block.representation != "frames":
            raise ValueError(f"fine frames cannot give {block.representation} values")
        values = np.asarray(values, dtype=np.float32)
        return values if code is None else code.encode(values)
    return from_fft_features(values, block) if store == "fft" else from_log_magnitudes(values, block)


def band_bins(values: np.ndarray, block: BlockSpec) -> np.ndarray:
    """(..., bands) log band magnitudes -> (..., bins) bin magnitudes, linear between band centres."""
    return from_log(values) @ mel_inverse(block)


def finite_values(values: np.ndarray, block: BlockSpec) -> np.ndarray:
    """`values` with every value that is not finite dropped alone: 0 for FFT values, silence for log magnitudes."""
    return np.where(np.isfinite(values), values, 0.0 if block.representation == "fft" else np.log(LOG_FLOOR))


def bin_magnitudes(values: np.ndarray, block: BlockSpec, detail: np.ndarray | None = None) -> np.ndarray:
    """(T, bins) magnitudes of a "logmag" or "logmel" block's values; `detail`, (T, bins) log offsets, shapes a
    "logmel" block within its bands."""
    if block.representation != "logmel":
        return from_log(values)
    magnitude = band_bins(values, block)
    if detail is not None:
        magnitude *= np.exp(detail)
    return magnitude


def to_signal(values: np.ndarray, block: BlockSpec, *, rng: np.random.Generator | None = None,
              iterations: int = GRIFFIN_LIM_ITERATIONS, momentum: float = GRIFFIN_LIM_MOMENTUM,
              detail: np.ndarray | None = None) -> np.ndarray:
    """(T, D) de-normalised values of `block`'s representation (a "frames" block's decoded from its code:
    every frame's bands) -> float samples: the inverse FFT, or the phase rebuilt. `detail`, (T, bins) log offsets
    ((frames, bins) for fine frames), shapes a "logmel" block or a fine frame within its bands (band_detail)."""
    values = finite_values(values, block)
    if block.representation == "fft":
        return blocks_to_signal(features_to_blocks(values.astype(np.float32)), block)
    if block.representation == "frames":
        return frames_to_signal(values, block, rng=rng, detail=detail)
    magnitude = bin_magnitudes(values, block, detail)
    rng = rng or np.random.default_rng()
    phase = np.exp(2j * np.pi * rng.random(magnitude.shape))
    if not block.overlap:
        return blocks_to_signal(_irfft(magnitude * phase, block.block_size), block)
    return griffin_lim(magnitude, phase, block, iterations, momentum)


def _irfft(spectrum: np.ndarray, block_size: int) -> np.ndarray:
    return scipy.fft.irfft(spectrum, n=block_size, axis=-1, workers=-1).astype(np.float32)


def griffin_lim(magnitude: np.ndarray, phase: np.ndarray, block: BlockSpec, iterations: int,
                momentum: float = 0.0) -> np.ndarray:
    """The signal whose overlapping windowed blocks have these magnitudes, phase found by (fast) Griffin-Lim
    over the blocks, cut with the window the training blocks were cut with (audio.blocks.frame)."""
    n_blocks, n = len(magnitude), block.block_size
    return fast_griffin_lim(magnitude, phase, lambda spectrum: blocks_to_signal(_irfft(spectrum, n), block),
                            lambda signal: scipy.fft.rfft(frame(signal, n_blocks, block), axis=-1, workers=-1),
                            iterations, momentum)

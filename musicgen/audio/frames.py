"""Fine frames: short Hann frames every quarter frame, their magnitudes (per bin or per mel band), and
the signal rebuilt from magnitudes alone by Griffin-Lim.

The blocks a network steps through are long (a quarter second) so that training stays in minutes;
heard through their own magnitudes, such a block smears every transient over its length, and two
overlapping blocks leave the phase nearly free. Frames of 1024-2048 samples at a quarter-frame hop
keep the transients, and four frames over every sample pin the phase down: the round trip of real
music through them is far closer (docs/RESULTS.md, "The decoder's ceiling").
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import scipy.fft

from musicgen.audio.spectra import band_rms, fast_griffin_lim, from_log, mel_inverse, to_log
from musicgen.config import BlockSpec

# 16 fast rounds: from 128 mel bands a frame, a minute of recorded music comes back as close as after 32
# (log-spectral distance 6.7 / 6.9 / 7.1 dB against 6.7 / 7.0 / 7.3) at 16x real time instead of 8x on
# 2 cores; from every bin's magnitude 32 rounds gain 0.3-0.6 dB (bench/bench_fidelity.py).
GRIFFIN_LIM_ITERATIONS = 16
GRIFFIN_LIM_MOMENTUM = 0.99
FRAMES_PER_READ = 4096  # frames of 2048 samples transformed at once by log_bin_chunks: 34 MB of spectra


@dataclass(frozen=True)
class FrameSpec:
    """Frames of `frame` samples every `hop` at `sample_rate`, described by `bands` mel bands (0: every bin)."""

    sample_rate: int = 44100
    frame: int = 2048
    hop: int = 512
    bands: int = 128

    @property
    def bins(self) -> int:
        """Non-negative-frequency bins of a frame."""
        return self.frame // 2 + 1

    @property
    def values(self) -> int:
        """Values that describe one frame."""
        return self.bands or self.bins

    def __post_init__(self):
        if self.frame % self.hop or self.frame < 2 * self.hop:
            # A Hann frame is zero at its start: every sample must lie inside at least two frames.
            raise ValueError(f"a frame of {self.frame} samples is not a whole number (2 or more) of hops of {self.hop}")

    def mel_block(self) -> BlockSpec:
        """The mel bands of a frame: those of a block of the frame's length (audio.representation)."""
        return BlockSpec(sample_rate=self.sample_rate, block_size=self.frame, overlap=True,
                         representation="logmel", bands=self.bands)


@functools.lru_cache(maxsize=8)
def hann(frame: int) -> np.ndarray:
    """The periodic Hann window (read-only)."""
    window = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(frame) / frame)).astype(np.float32)
    window.flags.writeable = False
    return window


def n_frames(length: int, spec: FrameSpec) -> int:
    """Frames that cover `length` samples, each sample by frame / hop of them: the first frame ends `hop`
    samples in, the last starts within the last hop."""
    return -(-(length + spec.frame - spec.hop) // spec.hop)


def stft(samples: np.ndarray, spec: FrameSpec) -> np.ndarray:
    """(n_frames, bins) complex64 spectra of the Hann-windowed frames; frame t ends at (t + 1) * hop."""
    samples = np.asarray(samples, dtype=np.float32)
    count = n_frames(len(samples), spec)
    lead = spec.frame - spec.hop
    padded = np.zeros((count - 1) * spec.hop + spec.frame, dtype=np.float32)
    padded[lead:lead + len(samples)] = samples
    frames = np.lib.stride_tricks.sliding_window_view(padded, spec.frame)[:: spec.hop]
    return scipy.fft.rfft(frames * hann(spec.frame), axis=-1, workers=-1).astype(np.complex64)


def overlap_add(frames: np.ndarray, hop: int) -> np.ndarray:
    """(count, size) frames that start every `hop` samples, summed into one float32 signal."""
    count, size = frames.shape
    out = np.zeros((count - 1) * hop + size, dtype=np.float32)
    if size % hop:
        for k, frame in enumerate(frames):
            out[k * hop:k * hop + size] += frame
        return out
    # Frames k, k + per, k + 2 per, ... lie end to end: each such run is added in one slice.
    per = size // hop
    for k in range(min(per, count)):
        run = frames[k::per]
        out[k * hop:k * hop + len(run) * size] += run.reshape(-1)
    return out


def istft(spectra: np.ndarray, spec: FrameSpec, length: int) -> np.ndarray:
    """The `length` samples whose frames are closest to `spectra` (windowed overlap-add, least squares)."""
    frames = scipy.fft.irfft(spectra, n=spec.frame, axis=-1, workers=-1).astype(np.float32) * hann(spec.frame)
    out = overlap_add(frames, spec.hop)
    weight = overlap_add(np.broadcast_to(np.square(hann(spec.frame)), frames.shape), spec.hop)
    lead = spec.frame - spec.hop
    return (out / np.maximum(weight, 1e-3))[lead:lead + length]


def frame_magnitudes(samples: np.ndarray, spec: FrameSpec) -> np.ndarray:
    """(n_frames, values) magnitudes: per bin, or the RMS of each mel band's bins."""
    magnitude = np.abs(stft(samples, spec))
    return band_rms(magnitude, spec.mel_block()) if spec.bands else magnitude


def log_bin_chunks(samples: np.ndarray, spec: FrameSpec) -> Iterator[np.ndarray]:
    """The log magnitudes of every bin (whatever spec.bands) of the whole frames within `samples`, FRAMES_PER_READ
    frames at a time: frame_magnitudes' analysis in memory that does not grow with the music."""
    windows = np.lib.stride_tricks.sliding_window_view(np.asarray(samples, dtype=np.float32), spec.frame)[::spec.hop]
    for start in range(0, len(windows), FRAMES_PER_READ):
        spectra = scipy.fft.rfft(windows[start:start + FRAMES_PER_READ] * hann(spec.frame), axis=-1, workers=-1)
        yield to_log(np.abs(spectra))


def bins_from_bands(bands: np.ndarray, spec: FrameSpec) -> np.ndarray:
    """(..., bands) band magnitudes -> (..., bins), linear on the mel scale between band centres."""
    return bands @ band_inverse(spec)


def band_inverse(spec: FrameSpec) -> np.ndarray:
    """(bands, bins): a frame's band magnitudes -> its bin magnitudes (representation.mel_inverse's, for frames)."""
    return mel_inverse(spec.mel_block())


def griffin_lim(magnitude: np.ndarray, spec: FrameSpec, length: int, *, rng: np.random.Generator | None = None,
                iterations: int = GRIFFIN_LIM_ITERATIONS, momentum: float = GRIFFIN_LIM_MOMENTUM) -> np.ndarray:
    """`length` samples whose frames have these (n_frames, bins) magnitudes, the phase found by fast
    Griffin-Lim (Perraudin et al. 2013) from random phases."""
    rng = rng or np.random.default_rng()
    phase = np.exp(2j * np.pi * rng.random(np.shape(magnitude)))
    return fast_griffin_lim(magnitude, phase, lambda spectrum: istft(spectrum, spec, length),
                            lambda signal: stft(signal, spec), iterations, momentum)


def resynthesize(samples: np.ndarray, spec: FrameSpec, *, rng: np.random.Generator | None = None,
                 iterations: int = GRIFFIN_LIM_ITERATIONS) -> np.ndarray:
    """`samples` as these frames give them back: their magnitudes (bands spread over the bins) and
    Griffin-Lim; nothing of the original phase is kept."""
    magnitude = frame_magnitudes(samples, spec)
    if spec.bands:
        magnitude = bins_from_bands(magnitude, spec)
    return griffin_lim(magnitude, spec, len(samples), rng=rng, iterations=iterations)


def frame_spec(block: BlockSpec) -> FrameSpec:
    """The fine frames of a --store frames dataset's blocks."""
    return FrameSpec(sample_rate=block.sample_rate, frame=block.frame, hop=block.frame_hop, bands=block.bands)


def block_frame_values(samples: np.ndarray, start: int, n_blocks: int, block: BlockSpec) -> np.ndarray:
    """(n_blocks, block.frame_values) float32: the log mel bands of the fine frames that end within each of
    the `n_blocks` blocks from sample `start` (frame j ends at start + (j + 1) * frame_hop; the frames reach
    back before `start` into the music there, or silence at the file's start)."""
    spec = frame_spec(block)
    lead = spec.frame - spec.hop
    end = start + n_blocks * block.block_size
    segment = np.zeros(lead + n_blocks * block.block_size, dtype=np.float32)
    first = start - lead
    taken = np.asarray(samples[max(first, 0):end], dtype=np.float32)
    segment[max(0, -first):max(0, -first) + len(taken)] = taken
    windows = np.lib.stride_tricks.sliding_window_view(segment, spec.frame)
    framed = windows[:: spec.hop][: n_blocks * block.frames_per_block]
    magnitude = np.abs(scipy.fft.rfft(framed * hann(spec.frame), axis=-1, workers=-1))
    return to_log(band_rms(magnitude, spec.mel_block())).reshape(n_blocks, block.frame_values)


def frame_bins(values: np.ndarray, spec: FrameSpec, detail: np.ndarray | None = None) -> np.ndarray:
    """(T, frames a block x bands) log mel bands of fine frames -> (frames, bins) magnitudes, spread over the bins
    and shaped within them by `detail`, (frames, bins) log offsets (generate.band_detail), if given."""
    magnitude = bins_from_bands(from_log(np.asarray(values).reshape(-1, spec.bands)), spec)
    return magnitude if detail is None else magnitude * np.exp(detail)


def frames_to_signal(values: np.ndarray, block: BlockSpec, *, rng: np.random.Generator | None = None,
                     iterations: int = GRIFFIN_LIM_ITERATIONS, detail: np.ndarray | None = None) -> np.ndarray:
    """(T, block.frame_values) log mel bands of fine frames -> T * block_size float samples: the bands spread
    over the bins (shaped within them by `detail`, (frames, bins) log offsets), the phase found by Griffin-Lim
    over the frames (the last frames, which would reach past the end, are silent)."""
    spec = frame_spec(block)
    length = len(values) * block.block_size
    magnitude = frame_bins(values, spec, detail)
    missing = n_frames(length, spec) - len(magnitude)
    magnitude = np.concatenate([magnitude, np.zeros((missing, spec.bins))])
    return griffin_lim(magnitude, spec, length, rng=rng, iterations=iterations)

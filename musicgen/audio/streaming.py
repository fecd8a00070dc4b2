"""Decoding a song while it is generated, a run of blocks at a time, in memory that does not grow with it.

The phase of magnitude-only blocks is found by Griffin-Lim over a sliding run of frames: the frames already
played stay fixed and only overlap the new ones, a few frames after the ones played this time are kept back
and guessed again next time (lookahead, as RTISI-LA does), so each new frame's phase continues the last ones'
and no seam is heard where one run ends.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from musicgen.audio.blocks import OverlapAdd, block_window, features_to_blocks
from musicgen.audio.frames import frame_bins, frame_spec, hann, overlap_add
from musicgen.audio.representation import (GRIFFIN_LIM_ITERATIONS, GRIFFIN_LIM_MOMENTUM, bin_magnitudes,
                                           finite_values)
from musicgen.audio.spectra import griffin_lim_spectra
from musicgen.config import BlockSpec

# Frames played per Griffin-Lim run, and frames kept back to be guessed again. At 8 + 4 blocks of the main
# preset the runs cost 1.6x the whole-song decoder and the first audio waits for 1.5 s of song.
COMMIT_FRAMES = {"blocks": 8, "frames": 64}
LOOKAHEAD_FRAMES = {"blocks": 4, "frames": 16}


class StreamingGriffinLim:
    """Magnitudes of consecutive frames in (push), the samples they complete out, phase found as it goes.

    Frames of `frame` samples every `hop`, cut and put back with `window`; the sum of the window's squares
    over its overlaps is the same everywhere (both windows here), so a sample is complete once every frame
    over it is played."""

    def __init__(self, frame: int, hop: int, window: np.ndarray, *, commit: int, lookahead: int,
                 rng: np.random.Generator, iterations: int = GRIFFIN_LIM_ITERATIONS,
                 momentum: float = GRIFFIN_LIM_MOMENTUM):
        self.frame, self.hop, self.window = frame, hop, np.asarray(window, dtype=np.float32)
        self.commit, self.lookahead = commit, lookahead
        self.rng, self.iterations, self.momentum = rng, iterations, momentum
        bins = frame // 2 + 1
        # The frames before the first one: silence, so the song starts as the whole-song decoder's does.
        self.overlaps = -(-frame // hop) - 1  # the frames each frame overlaps on either side
        self.fixed = np.zeros((self.overlaps, bins), dtype=np.complex64)
        self.magnitude = np.zeros((0, bins), dtype=np.float32)
        self.spectrum = np.zeros((0, bins), dtype=np.complex64)
        self.norm = np.float32(np.square(self.window).sum() / hop)

    def push(self, magnitude: np.ndarray) -> np.ndarray:
        """Add (m, bins) magnitudes of the next frames; return the samples now complete (maybe none)."""
        magnitude = np.asarray(magnitude, dtype=np.float32)
        phase = np.exp(2j * np.pi * self.rng.random(magnitude.shape)).astype(np.complex64)
        self.magnitude = np.concatenate([self.magnitude, magnitude])
        self.spectrum = np.concatenate([self.spectrum, magnitude * phase])
        out = []
        while len(self.magnitude) >= self.commit + self.lookahead:
            out.append(self._run(self.commit))
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)

    def flush(self) -> np.ndarray:
        """Play every frame still held and the end of the last one (which no later frame completes)."""
        return self._run(len(self.magnitude), tail=True)

    def _synthesise(self, spectra: np.ndarray) -> np.ndarray:
        frames = scipy.fft.irfft(spectra, n=self.frame, axis=-1, workers=-1).astype(np.float32) * self.window
        return overlap_add(frames, self.hop) / self.norm

    def _run(self, commit: int, *, tail: bool = False) -> np.ndarray:
        """Griffin-Lim over the held frames beside the fixed ones; play the first `commit` of them."""
        fixed, held = len(self.fixed), len(self.magnitude)
        if held:
            def synthesise(spectra):
                return self._synthesise(np.concatenate([self.fixed, spectra]))

            def analyse(signal):
                windows = np.lib.stride_tricks.sliding_window_view(signal, self.frame)[::self.hop][fixed:]
                return scipy.fft.rfft(windows * self.window, axis=-1, workers=-1)

            phase = self.spectrum / np.maximum(np.abs(self.spectrum), 1e-30)
            self.spectrum = griffin_lim_spectra(self.magnitude, phase, synthesise, analyse, self.iterations,
                                                self.momentum)
        signal = self._synthesise(np.concatenate([self.fixed, self.spectrum]))
        end = len(signal) if tail else (fixed + commit) * self.hop
        played = signal[fixed * self.hop:end]
        self.fixed = np.concatenate([self.fixed, self.spectrum[:commit]])[-fixed:]
        self.magnitude, self.spectrum = self.magnitude[commit:], self.spectrum[commit:]
        return played


class SignalStream:
    """to_signal, a run of blocks at a time: (m, D) de-normalised values of `block`'s representation (a
    "frames" block's decoded from its code) in, the float samples they complete out; flush() ends the song."""

    def __init__(self, block: BlockSpec, rng: np.random.Generator):
        self.block, self.rng = block, rng
        self.blocks = OverlapAdd(block)
        self.skip, self.left = 0, None  # samples still to drop at the start; samples the song has left (frames)
        if block.representation == "frames":
            spec = frame_spec(block)
            self.phase = StreamingGriffinLim(spec.frame, spec.hop, hann(spec.frame), commit=COMMIT_FRAMES["frames"],
                                             lookahead=LOOKAHEAD_FRAMES["frames"], rng=rng)
            self.skip, self.left = spec.frame - spec.hop, 0  # frame t ends (t + 1) hops in: drop the first's lead
        elif block.representation != "fft" and block.overlap:
            self.phase = StreamingGriffinLim(block.block_size, block.hop, block_window(block),
                                             commit=COMMIT_FRAMES["blocks"], lookahead=LOOKAHEAD_FRAMES["blocks"],
                                             rng=rng)
        else:
            self.phase = None

    def push(self, values: np.ndarray, detail: np.ndarray | None = None) -> np.ndarray:
        """The samples the blocks `values` complete; `detail` shapes a logmel block or a fine frame within its bands."""
        block = self.block
        values = finite_values(values, block)
        if block.representation == "fft":
            return self.blocks.push(features_to_blocks(values.astype(np.float32)))
        if block.representation == "frames":
            self.left += len(values) * block.block_size
            return self._trimmed(self.phase.push(frame_bins(values, frame_spec(block), detail)))
        magnitude = bin_magnitudes(values, block, detail)
        if self.phase is not None:
            return self.phase.push(magnitude)
        phase = np.exp(2j * np.pi * self.rng.random(magnitude.shape))
        spectrum = (magnitude * phase).astype(np.complex64)
        return self.blocks.push(scipy.fft.irfft(spectrum, n=block.block_size, axis=-1).astype(np.float32))

    def flush(self) -> np.ndarray:
        """The song's last samples: the held frames played and the last block's fading end."""
        if self.block.representation == "frames":
            # The frames that would reach past the song's end are silent, as the whole-song decoder has them.
            ending = self.phase.push(np.zeros((self.phase.overlaps, frame_spec(self.block).bins), dtype=np.float32))
            return self._trimmed(np.concatenate([ending, self.phase.flush()]))
        if self.phase is not None:
            return self.phase.flush()
        return self.blocks.flush()

    def _trimmed(self, samples: np.ndarray) -> np.ndarray:
        drop = min(self.skip, len(samples))
        self.skip -= drop
        samples = samples[drop:drop + self.left]
        self.left -= len(samples)
        return samples

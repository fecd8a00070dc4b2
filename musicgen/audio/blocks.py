"""Audio <-> blocks <-> FFT features, the representation the networks see.

A block of `block_size` samples becomes 2*block_size float values: the real
parts of its complex FFT followed by the imaginary parts (as in GRUV).

GRUV's blocks sit end to end with hard edges, so a generated song jumps at
every seam. With `overlap`, blocks start every block_size // 2 samples and are
shaped by a square-root Hann window on the way in and again on the way out;
the squared windows of neighbouring blocks sum to exactly one, so overlap-adding
the blocks gives back the signal and there is no seam left to jump at.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.fft

from musicgen.config import BlockSpec


@functools.lru_cache(maxsize=8)
def block_window(block: BlockSpec) -> np.ndarray | None:
    """The analysis and synthesis window of overlapping blocks (made once per block format, read-only);
    None for GRUV's hard-edged ones.

    sin(pi n / 2h) over the first 2h samples (h the hop) and zero after: its square is a
    periodic Hann window, whose copies every h samples sum to one also when block_size is odd.
    """
    if not block.overlap:
        return None
    hop = block.hop
    n = np.arange(block.block_size)
    window = np.where(n < 2 * hop, np.sin(np.pi * n / (2 * hop)), 0.0).astype(np.float32)
    window.flags.writeable = False
    return window


def frame(samples: np.ndarray, n_blocks: int, block: BlockSpec) -> np.ndarray:
    """The first `n_blocks` blocks of a 1-D signal, windowed if they overlap; zero-padded at the end.

    Returns (n_blocks, block_size) float32.
    """
    hop, block_size = block.hop, block.block_size
    needed = (n_blocks - 1) * hop + block_size
    padded = np.zeros(needed, dtype=np.float32)
    take = min(len(samples), needed)
    padded[:take] = samples[:take]
    window = block_window(block)
    if window is None:
        return padded.reshape(n_blocks, block_size)
    return np.lib.stride_tricks.sliding_window_view(padded, block_size)[::hop][:n_blocks] * window


class OverlapAdd:
    """Time blocks -> one continuous signal, fed a run of blocks at a time.

    Overlapping blocks are windowed again and summed at their hop; the part of a
    run that the next run's blocks still add to is held back until then.
    """

    def __init__(self, block: BlockSpec):
        self.block_size, self.hop = block.block_size, block.hop
        self.window = block_window(block)
        self.tail = np.zeros(self.block_size - self.hop, dtype=np.float32)

    def push(self, blocks: np.ndarray) -> np.ndarray:
        """Add (n, block_size) blocks; return the n * hop samples now complete."""
        blocks = np.asarray(blocks, dtype=np.float32)
        if self.window is None:
            return blocks.reshape(-1)
        n, hop = len(blocks), self.hop
        out = np.zeros(n * hop + len(self.tail), dtype=np.float32)
        out[: len(self.tail)] += self.tail
        for i, block in enumerate(blocks * self.window):
            out[i * hop: i * hop + self.block_size] += block
        self.tail = out[n * hop:].copy()
        return out[: n * hop]

    def flush(self) -> np.ndarray:
        """The samples still held back: the fading end of the last block."""
        tail, self.tail = self.tail, np.zeros_like(self.tail)
        return tail


def blocks_to_signal(blocks: np.ndarray, block: BlockSpec) -> np.ndarray:
    """(n, block_size) time blocks -> the whole signal they make, ends included."""
    ola = OverlapAdd(block)
    return np.concatenate([ola.push(blocks), ola.flush()])


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

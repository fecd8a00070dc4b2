"""Decoding a run of blocks at a time (generate.py --stream) gives what the whole-song decoder gives, on real
music, for every representation."""

from __future__ import annotations

import numpy as np
import pytest

from musicgen.audio.representation import to_signal
from musicgen.audio.streaming import SignalStream
from musicgen.evaluate.fidelity import fidelity

from helpers import FFT_BLOCKS, MAGNITUDE_BLOCKS, fft_values, representation_values


def streamed(values, block, run, seed=0):
    stream = SignalStream(block, np.random.default_rng(seed))
    parts = [stream.push(values[i:i + run]) for i in range(0, len(values), run)]
    return np.concatenate([*parts, stream.flush()])


@pytest.mark.parametrize("name", MAGNITUDE_BLOCKS)
def test_streamed_phase_comes_as_close_to_the_music_as_the_whole_songs(canon_8k, name):
    block = MAGNITUDE_BLOCKS[name]
    values = representation_values(canon_8k, block)
    whole = to_signal(values, block, rng=np.random.default_rng(0))
    for run in (1, 5):  # one block at a time, as a song streams, and several
        stream = streamed(values, block, run)
        assert len(stream) == len(whole)  # the same samples, ends included
        assert np.isfinite(stream).all()
        near, got = fidelity(canon_8k, whole).lsd_db, fidelity(canon_8k, stream).lsd_db
        # Within 0.3 dB of the whole-song decoder at every window: no seam where one run of frames ends.
        assert all(g < n + 0.3 for g, n in zip(got, near)), (name, run, near, got)


@pytest.mark.parametrize("name", FFT_BLOCKS)
def test_fft_blocks_stream_to_exactly_the_whole_songs_samples(canon_8k, name):
    block = FFT_BLOCKS[name]
    values = fft_values(canon_8k, block)
    np.testing.assert_array_equal(streamed(values, block, 3), to_signal(values, block))

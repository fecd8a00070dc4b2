"""Decoding a run of blocks at a time (generate.py --stream) gives what the whole-song decoder gives, on real
music, for every representation."""

from __future__ import annotations

import numpy as np
import pytest

from musicgen.audio.blocks import blocks_to_features, frame
from musicgen.audio.frames import block_frame_values
from musicgen.audio.representation import from_fft_features, to_signal
from musicgen.audio.streaming import SignalStream
from musicgen.config import BlockSpec
from musicgen.evaluate.fidelity import fidelity

RATE = 8000


@pytest.fixture(scope="module")
def music(tmp_path_factory):
    from helpers import decoded

    return decoded(tmp_path_factory.mktemp("music"), "canon_in_d.mp3", 30.0, 12.0, rate=RATE)


def block_values(music, block):
    if block.representation == "frames":
        return block_frame_values(music, 0, len(music) // block.block_size, block)
    n = (len(music) - block.block_size) // block.hop + 1
    return from_fft_features(blocks_to_features(frame(music, n, block)), block)


def streamed(values, block, run, seed=0):
    stream = SignalStream(block, np.random.default_rng(seed))
    parts = [stream.push(values[i:i + run]) for i in range(0, len(values), run)]
    return np.concatenate([*parts, stream.flush()])


MAGNITUDE_BLOCKS = {
    "logmel, overlapping (the main preset's)": BlockSpec(sample_rate=RATE, block_size=1000, overlap=True,
                                                         representation="logmel", bands=32),
    "logmag, overlapping": BlockSpec(sample_rate=RATE, block_size=1000, overlap=True, representation="logmag"),
    "fine frames (the fine preset's)": BlockSpec(sample_rate=RATE, block_size=1024, representation="frames",
                                                 frame=512, bands=64),
}


@pytest.mark.parametrize("name", MAGNITUDE_BLOCKS)
def test_streamed_phase_comes_as_close_to_the_music_as_the_whole_songs(music, name):
    block = MAGNITUDE_BLOCKS[name]
    values = block_values(music, block)
    whole = to_signal(values, block, rng=np.random.default_rng(0))
    for run in (1, 5):  # one block at a time, as a song streams, and several
        stream = streamed(values, block, run)
        assert len(stream) == len(whole)  # the same samples, ends included
        assert np.isfinite(stream).all()
        near, got = fidelity(music, whole).lsd_db, fidelity(music, stream).lsd_db
        # Within 0.3 dB of the whole-song decoder at every window: no seam where one run of frames ends.
        assert all(g < n + 0.3 for g, n in zip(got, near)), (name, run, near, got)


@pytest.mark.parametrize("block", [BlockSpec(sample_rate=RATE, block_size=1000),
                                   BlockSpec(sample_rate=RATE, block_size=1000, overlap=True)],
                         ids=["hard-edged", "overlapping"])
def test_fft_blocks_stream_to_exactly_the_whole_songs_samples(music, block):
    n = (len(music) - block.block_size) // block.hop + 1
    values = blocks_to_features(frame(music, n, block))
    np.testing.assert_array_equal(streamed(values, block, 3), to_signal(values, block))

import numpy as np
import pytest

from musicgen.audio.blocks import (OverlapAdd, block_window, blocks_to_features, blocks_to_signal, features_to_blocks,
                                   frame)
from musicgen.audio.io import to_int16
from musicgen.config import BlockSpec


@pytest.mark.parametrize("block_size", [64, 1000, 11025])
def test_round_trip_audio_blocks_fft_back(rng, block_size):
    audio = rng.uniform(-1, 1, size=3 * block_size + 17).astype(np.float32)
    blocks = frame(audio, 4, BlockSpec(block_size=block_size))
    feats = blocks_to_features(blocks)
    assert blocks.shape == (4, block_size)
    assert feats.shape == (4, 2 * block_size) and feats.dtype == np.float32
    back = features_to_blocks(feats).reshape(-1)
    # float32 features of sums over up to 11025 samples: relative error ~1e-7 * sqrt(n).
    np.testing.assert_allclose(back[: len(audio)], audio, atol=2e-5)
    np.testing.assert_allclose(back[len(audio):], 0, atol=2e-5)


def test_features_are_real_then_imaginary_parts():
    n = 100
    t = np.arange(n)
    block = np.cos(2 * np.pi * 5 * t / n).astype(np.float32)
    feats = blocks_to_features(block[None])[0]
    real, imag = feats[:n], feats[n:]
    assert real[5] == pytest.approx(n / 2, rel=1e-5) and real[n - 5] == pytest.approx(n / 2, rel=1e-5)
    assert np.abs(np.delete(real, [5, n - 5])).max() < 1e-3
    assert np.abs(imag).max() < 1e-3


def test_to_int16_clips_instead_of_wrapping_and_removes_nan():
    out = to_int16(np.array([0.0, 0.5, 1.0, 1.5, -2.0, np.nan, np.inf, -np.inf]))
    assert out.dtype == np.int16
    assert list(out) == [0, 16384, 32767, 32767, -32768, 0, 32767, -32767]


@pytest.mark.parametrize("block_size", [64, 1001, 11025])
def test_overlapping_window_squares_sum_to_one(block_size):
    window = block_window(BlockSpec(block_size=block_size, overlap=True))
    hop = block_size // 2
    total = np.zeros(6 * hop + block_size)
    for k in range(7):
        total[k * hop: k * hop + block_size] += window.astype(np.float64) ** 2
    np.testing.assert_allclose(total[block_size: 6 * hop], 1.0, atol=1e-6)


@pytest.mark.parametrize("block_size", [64, 1001, 11025])
def test_overlapping_blocks_give_the_signal_back_between_the_fades(rng, block_size):
    hop = block_size // 2
    audio = rng.uniform(-1, 1, size=9 * hop + 5).astype(np.float32)
    blocks = frame(audio, 10, BlockSpec(block_size=block_size, overlap=True))
    assert blocks.shape == (10, block_size)
    spec = BlockSpec(block_size=block_size, overlap=True)
    back = blocks_to_signal(features_to_blocks(blocks_to_features(blocks)), spec)
    assert len(back) == 10 * hop + block_size - hop
    inner = slice(hop, len(audio) - block_size)
    np.testing.assert_allclose(back[inner], audio[inner], atol=5e-5)
    # The first half block fades in: no block before it completes the window sum.
    assert abs(back[hop // 2]) < abs(audio[hop // 2]) or abs(audio[hop // 2]) < 1e-3


def test_overlap_add_fed_in_pieces_equals_fed_at_once(rng):
    blocks = rng.standard_normal((9, 50)).astype(np.float32)
    whole = blocks_to_signal(blocks, BlockSpec(block_size=50, overlap=True))
    ola = OverlapAdd(BlockSpec(block_size=50, overlap=True))
    pieces = np.concatenate([ola.push(blocks[:4]), ola.push(blocks[4:5]), ola.push(blocks[5:]), ola.flush()])
    np.testing.assert_allclose(pieces, whole, atol=1e-6)


def test_hard_edged_blocks_jump_at_seams_where_overlapping_ones_do_not():
    # A sine whose period does not divide the block: hard-edged blocks that each hold a shifted
    # copy of the first block's content (as a network repeating itself would) jump at every seam.
    block_size = 1000
    t = np.arange(block_size)
    tone = np.sin(2 * np.pi * t / 317.0).astype(np.float32)
    jumps = {}
    for overlap in (False, True):
        spec = BlockSpec(block_size=block_size, overlap=overlap)
        window = block_window(spec)
        block = tone if window is None else tone * window
        signal = blocks_to_signal(np.tile(block, (8, 1)), spec)
        hop = block_size // 2 if overlap else block_size
        inner = signal[block_size: -block_size]
        seams = np.arange(hop, len(inner), hop) - 1
        jumps[overlap] = np.abs(np.diff(inner)[seams]).max()
    assert jumps[False] > 0.5
    assert jumps[True] < 0.05

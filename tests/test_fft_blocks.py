import numpy as np
import pytest

from musicgen.fft_blocks import blocks_to_features, features_to_blocks, split_blocks, to_int16


@pytest.mark.parametrize("block_size", [64, 1000, 11025])
def test_round_trip_audio_blocks_fft_back(rng, block_size):
    audio = rng.uniform(-1, 1, size=3 * block_size + 17).astype(np.float32)
    blocks = split_blocks(audio, block_size)
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

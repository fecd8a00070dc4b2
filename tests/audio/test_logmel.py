"""Log mel bands: the filterbank, its inverse and the per-value Gaussian layout, on signals whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from musicgen.audio.blocks import blocks_to_features
from musicgen.audio.representation import from_fft_features
from musicgen.audio.spectra import LOG_FLOOR, hz_to_mel, mel_filterbank, mel_inverse, mel_to_hz
from musicgen.config import BlockSpec, ModelConfig
from musicgen.generate.generation import Sampler

BLOCK = BlockSpec(sample_rate=8000, block_size=1000, representation="logmel", bands=40)


def test_each_band_is_the_mean_magnitude_of_its_bins_and_none_is_empty():
    weights = mel_filterbank(BLOCK)
    assert weights.shape == (40, 501) and np.all(weights >= 0)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-5)
    # More bands than a short block has bins at low frequencies: each still takes a bin.
    crowded = mel_filterbank(BlockSpec(sample_rate=8000, block_size=64, representation="logmel", bands=60))
    assert np.all(crowded.max(axis=1) > 0)
    assert not weights.flags.writeable  # cached: one caller must not change it for the others


def test_a_sine_lands_in_the_band_around_its_frequency():
    t = np.arange(1000) / 8000
    sine = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    values = from_fft_features(blocks_to_features(sine[None]), BLOCK)[0]
    assert values.shape == (40,)
    band = int(np.argmax(values))
    centre_hz = mel_to_hz(np.linspace(0, hz_to_mel(4000), 42)[1:-1][band])
    assert abs(centre_hz - 1000) < 100
    assert values[band] - np.median(values) > 5  # nats above the empty bands (log of LOG_FLOOR)
    assert np.median(values) == pytest.approx(math.log(LOG_FLOOR), abs=0.1)


def test_the_inverse_gives_back_a_smooth_spectrum():
    freqs = np.arange(501) * 8.0
    smooth = (1.0 + np.cos(2 * np.pi * freqs / 4000)) + 0.5  # slow over frequency, as mel bands see it
    bands = smooth @ mel_filterbank(BLOCK).T
    rebuilt = bands @ mel_inverse(BLOCK)
    inside = (freqs > 200) & (freqs < 3800)
    assert np.abs(rebuilt[inside] - smooth[inside]).max() < 0.05 * smooth.max()


def test_a_gaussian_over_bands_has_one_spread_per_value():
    cfg = ModelConfig(block=BLOCK, output="gaussian")
    assert cfg.output_dim == 80
    out = np.concatenate([np.full((1, 20000, 40), -1.0, np.float32),
                          np.log(np.linspace(0.1, 2.0, 40, dtype=np.float32))[None, None].repeat(20000, 1)], -1)
    drawn = Sampler(cfg, 1.0, np.random.default_rng(0))(out)
    assert drawn.shape == (1, 20000, 40)
    np.testing.assert_allclose(drawn.mean(axis=(0, 1)), -1.0, atol=0.05)
    np.testing.assert_allclose(drawn.std(axis=(0, 1)), np.linspace(0.1, 2.0, 40), rtol=0.05)


def test_the_gaussian_likelihood_over_bands_is_per_value():
    from musicgen.models.outputs import nll_loss

    cfg = ModelConfig(block=BlockSpec(block_size=8, representation="logmel", bands=3), output="gaussian")
    y_true = np.array([[[1.0, 0.0, -1.0]]], np.float32)
    log_scale = np.array([0.0, 0.5, -0.5], np.float32)
    y_pred = np.concatenate([np.zeros((1, 1, 3), np.float32), log_scale[None, None]], axis=-1)
    got = float(np.asarray(nll_loss(cfg)(y_true, y_pred)).ravel()[0])
    expected = (log_scale + 0.5 * y_true[0, 0] ** 2 * np.exp(-2 * log_scale)).mean() + 0.5 * math.log(2 * math.pi)
    assert got == pytest.approx(expected, rel=1e-5)


def test_songs_are_drawn_at_the_temperature_and_heard_through_the_detail_training_recorded():
    from pathlib import Path

    from musicgen.errors import WeightsError
    from musicgen.formats.weights import Checkpoint

    def ckpt(training):
        return Checkpoint(model=ModelConfig(block=BLOCK, output="gaussian"), iteration=1, epoch=1,
                          mean=np.zeros(40, np.float32), std=np.ones(40, np.float32), training=training,
                          weights=Path("GRU_NP_Weights_Iter-1.weights.h5"))

    assert ckpt({"temperature": 0.8}).temperature == 0.8
    assert ckpt({}).temperature == 1.0  # files written before training recorded it
    for bad in ("hot", 11, True, float("nan")):
        with pytest.raises(WeightsError, match="GRU_NP_Weights_Iter-1.weights.h5.*temperature"):
            ckpt({"temperature": bad}).temperature
    # and heard through the detail it recorded: smooth for files from before it
    assert ckpt({"detail": "learned"}).detail == "learned" and ckpt({}).detail == "smooth"
    for bad in ("sharp", 1, None):
        with pytest.raises(WeightsError, match="GRU_NP_Weights_Iter-1.weights.h5.*detail.*--detail"):
            ckpt({"detail": bad}).detail

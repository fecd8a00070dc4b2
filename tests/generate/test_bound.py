"""--bound: a weight file records its music's range, and songs keep every value they feed back within it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from musicgen.config import ModelConfig
from musicgen.data.training_data import feature_stats, load_training_data
from musicgen.errors import WeightsError
from musicgen.generate.generation import Draws, load_generator, normalised_seeds, song_features
from musicgen.formats.weights import companion, read_checkpoint
from musicgen.train.loop import train

from helpers import train_config


@pytest.fixture(scope="module")
def gaussian_net(small_data, tmp_path_factory):
    """A small Gaussian-output LSTM trained with --bound 0.5."""
    wdir = tmp_path_factory.mktemp("bound")
    result = train(train_config(small_data, wdir, n_iter=1, bound=0.5),
                   ModelConfig(hidden=16, output="gaussian"), verbose=0)
    return result.checkpoint


@pytest.mark.trains
def test_the_weight_file_records_the_range_of_its_music(gaussian_net, small_data):
    ckpt = read_checkpoint(gaussian_net)
    stats = feature_stats(load_training_data(small_data), ckpt.model.block)
    np.testing.assert_array_equal(ckpt.low, stats.low.astype(np.float32))
    np.testing.assert_array_equal(ckpt.high, stats.high.astype(np.float32))
    assert ckpt.bound == 0.5 and np.all(ckpt.low <= ckpt.high) and np.mean(ckpt.low < ckpt.high) > 0.9


@pytest.mark.slow
def test_a_bounded_song_stays_within_the_music_s_range(gaussian_net, small_data):
    ckpt, network = load_generator(gaussian_net, 2)
    seeds = normalised_seeds(load_training_data(small_data).inputs([0, 1], ckpt.model.block), ckpt)

    def song(bound):
        rng = np.random.default_rng(3)
        # At temperature 10 the sampled noise alone carries values far outside the music's range.
        return song_features(network, ckpt, seeds, 30, rng=rng, draws=Draws(temperature=10.0, bound=bound))

    low, high = ckpt.value_bounds(0.5)
    free, bounded = song(None), song(0.5)
    assert np.any((free < low) | (free > high))
    assert np.all((bounded >= low) & (bounded <= high))
    assert np.any(bounded == high) and np.any(bounded == low)


@pytest.mark.slow
def test_bound_needs_a_file_that_records_the_range(gaussian_net, tmp_path):
    old = tmp_path / gaussian_net.name
    old.write_bytes(gaussian_net.read_bytes())
    meta = json.loads(companion(gaussian_net, ".json").read_text())
    for key in ("low", "high"):
        del meta["normalisation"][key]
    companion(old, ".json").write_text(json.dumps(meta))
    ckpt = read_checkpoint(old)
    assert ckpt.low is None
    with pytest.raises(WeightsError, match="records no range of its music"):
        ckpt.value_bounds(0.0)
    meta["normalisation"].update(low=[1.0] * ckpt.model.feature_dim, high=[0.0] * ckpt.model.feature_dim)
    companion(old, ".json").write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="low' is above"):
        read_checkpoint(old)

"""The sampled outputs and what feeds them back: the Gaussian loss, the sampler, pre-net dropout kept on
when generating, scheduled sampling, and the Keras and BLAS engines drawing alike."""

from __future__ import annotations

import numpy as np
import pytest

from musicgen.config import BlockSpec, ModelConfig
from musicgen.generate.generation import Sampler, continue_deterministic, continue_sampled
from musicgen.models.blas_network import BlasNetwork
from musicgen.models.model import build_model, build_training_model


def test_gaussian_loss_is_the_likelihood_of_a_circular_gaussian():
    import math

    from musicgen.models.outputs import nll_loss

    n = 3
    y_true = np.array([[[1.0, 0.0, -1.0, 0.5, 0.0, 0.0]]], np.float32)
    log_scale = np.array([0.0, 0.5, -0.5], np.float32)
    y_pred = np.concatenate([np.zeros((1, 1, 2 * n), np.float32), log_scale[None, None]], axis=-1)
    cfg = ModelConfig(block=BlockSpec(block_size=n), output="gaussian")
    got = float(np.asarray(nll_loss(cfg)(y_true, y_pred)).ravel()[0])
    power = y_true[0, 0, :n] ** 2 + y_true[0, 0, n:] ** 2
    per_value = (2 * log_scale + 0.5 * power * np.exp(-2 * log_scale)).mean() / 2 + 0.5 * math.log(2 * math.pi)
    assert got == pytest.approx(per_value, rel=1e-5)


@pytest.mark.slow
def test_scheduled_sampling_feeds_back_predictions_only_when_training(rng):
    cfg = ModelConfig(hidden=8, block=BlockSpec(block_size=5))
    fitted, network = build_training_model(cfg, 1.0)
    network.get_layer("time_distributed_dense_out").set_weights(
        [rng.normal(size=(8, 10)).astype(np.float32), np.zeros(10, np.float32)])
    x = rng.normal(size=(2, 6, 10)).astype(np.float32)
    # Every input block after the first replaced by the prediction: the second pass's first output is
    # the plain network's; later ones differ.
    trained_out = np.asarray(fitted(x, training=True))
    plain = np.asarray(network(x))
    np.testing.assert_allclose(trained_out[:, 0], plain[:, 0], atol=1e-5)
    assert np.abs(trained_out[:, 1:] - plain[:, 1:]).max() > 1e-3
    np.testing.assert_allclose(np.asarray(fitted(x, training=False)), plain, atol=1e-5)


def test_sampler_draws_around_the_mean_with_the_predicted_spread(rng):
    cfg = ModelConfig(block=BlockSpec(block_size=4), output="gaussian")
    out = np.concatenate([np.full((1, 20000, 8), 2.0, np.float32),
                          np.log(np.array([0.5, 1.0, 2.0, 0.1], np.float32))[None, None].repeat(20000, 1)], -1)
    drawn = Sampler(cfg, 1.0, rng)(out)
    assert drawn.shape == (1, 20000, 8)
    np.testing.assert_allclose(drawn.mean(axis=(0, 1)), 2.0, atol=0.05)
    np.testing.assert_allclose(drawn.std(axis=(0, 1)), [0.5, 1, 2, 0.1] * 2, rtol=0.05)
    np.testing.assert_array_equal(Sampler(cfg, 0.0, rng)(out), out[..., :8])


@pytest.mark.slow
def test_blas_engine_keeps_the_prenet_dropout_on_when_generating(rng):
    import keras

    cfg = ModelConfig(hidden=16, block=BlockSpec(block_size=10), prenet_dropout=0.5)
    keras.utils.set_random_seed(1)
    model = build_model(cfg, batch_size=1, stateful=True)
    model.get_layer("time_distributed_dense_out").set_weights(  # it starts at zero, which hides everything
        [rng.normal(size=(16, 20)).astype(np.float32), np.zeros(20, np.float32)])
    network = BlasNetwork(model, np.random.default_rng(0))
    assert network.prenet_rate == 0.5
    x = rng.normal(size=(1, 5, 20)).astype(np.float32)
    sampler = Sampler(cfg, 1.0, rng)
    with_dropout = continue_sampled(network, x, 12, sampler)
    again = continue_sampled(network, x, 12, sampler)
    network.prenet_rate = 0.0
    without = continue_sampled(network, x, 12, sampler)
    np.testing.assert_allclose(without, continue_deterministic(network, x, 12), rtol=1e-5, atol=1e-5)
    assert with_dropout.shape == without.shape == (1, 12, 20)
    assert np.abs(with_dropout - without).max() > 1e-3 and np.abs(with_dropout - again).max() > 1e-3


@pytest.mark.slow
def test_sampled_generation_on_the_keras_engine_matches_the_blas_one(rng):
    import keras

    cfg = ModelConfig(hidden=16, block=BlockSpec(block_size=10))
    keras.utils.set_random_seed(2)
    model = build_model(cfg, batch_size=2, stateful=True)
    model.get_layer("time_distributed_dense_out").set_weights(
        [rng.normal(0, 0.3, size=(16, 20)).astype(np.float32), np.zeros(20, np.float32)])
    x = rng.normal(size=(2, 5, 20)).astype(np.float32)
    sampler = Sampler(cfg, 1.0, rng)  # an "mse" network: the outputs are the blocks
    on_keras = continue_sampled(model, x, 14, sampler)
    np.testing.assert_allclose(on_keras, continue_deterministic(BlasNetwork(model), x, 14), rtol=1e-4, atol=1e-4)


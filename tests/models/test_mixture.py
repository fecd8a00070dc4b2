"""--output mixture: the likelihood of a mixture of per-block Gaussians, and blocks drawn whole from one
component at its weight, in generation (numpy) and in scheduled sampling's draws (keras)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from musicgen.config import CODE_LEAD, BlockSpec, ModelConfig
from musicgen.generate.generation import Sampler
from musicgen.models.outputs import draw_keras, layout, nll_loss

BANDS = 3


def mixture_cfg(components: int, bands: int = BANDS) -> ModelConfig:
    block = BlockSpec(block_size=64, representation="logmel", bands=bands)
    return ModelConfig(block=block, output="mixture", components=components)


def packed(logits, means, log_scales) -> np.ndarray:
    """One output vector (1, 1, width) in the mixture's layout."""
    parts = np.concatenate([means, log_scales], axis=-1).ravel()
    return np.concatenate([logits, parts]).astype(np.float32)[None, None]


def test_the_mixture_likelihood_is_per_value_over_whole_blocks(rng):
    cfg = mixture_cfg(2)
    assert cfg.output_dim == 2 * (1 + 2 * BANDS)
    logits, means, log_scales = rng.normal(size=2), rng.normal(size=(2, BANDS)), 0.3 * rng.normal(size=(2, BANDS))
    y = rng.normal(size=BANDS)
    loss = nll_loss(cfg)(y[None, None].astype(np.float32), packed(logits, means, log_scales))
    got = float(np.asarray(loss).ravel()[0])
    weights = np.exp(logits) / np.exp(logits).sum()
    scales = np.exp(log_scales)
    densities = np.prod(np.exp(-0.5 * ((y - means) / scales) ** 2) / (scales * math.sqrt(2 * math.pi)), axis=-1)
    assert got == pytest.approx(-math.log((weights * densities).sum()) / BANDS, rel=1e-5)


def test_one_component_is_the_plain_gaussian(rng):
    mean, log_scale, y = rng.normal(size=BANDS), 0.3 * rng.normal(size=BANDS), rng.normal(size=(1, 1, BANDS))
    y = y.astype(np.float32)
    single = float(np.asarray(nll_loss(mixture_cfg(1))(y, packed(np.zeros(1), mean[None], log_scale[None]))).ravel()[0])
    gaussian_cfg = ModelConfig(block=mixture_cfg(1).block, output="gaussian")
    plain = np.concatenate([mean, log_scale]).astype(np.float32)[None, None]
    assert single == pytest.approx(float(np.asarray(nll_loss(gaussian_cfg)(y, plain)).ravel()[0]), rel=1e-5)


def two_levels(n: int) -> np.ndarray:
    """n outputs of a 2-component mixture over 4 bands: weights 1/4 and 3/4, levels -2 and +2, spreads 0.1."""
    out = packed(np.log([0.25, 0.75]), np.array([[-2.0] * 4, [2.0] * 4]), np.full((2, 4), math.log(0.1)))
    return np.repeat(out, n, axis=1)


def check_whole_blocks_at_their_weights(blocks: np.ndarray) -> None:
    loud = blocks > 0
    # Every band of a block comes from the same component: all four loud, or all four quiet.
    assert np.array_equal(loud.all(axis=-1), loud.any(axis=-1))
    assert loud[..., 0].mean() == pytest.approx(0.75, abs=0.02)
    assert np.abs(np.abs(blocks) - 2.0).max() < 0.6


def test_generation_draws_each_block_from_one_component_at_its_weight():
    cfg = mixture_cfg(2, bands=4)
    out = two_levels(20000)
    check_whole_blocks_at_their_weights(Sampler(cfg, 1.0, np.random.default_rng(0))(out))
    # At temperature 0: the likeliest component's mean, every block.
    np.testing.assert_array_equal(Sampler(cfg, 0.0)(out), np.full((1, 20000, 4), 2.0, np.float32))
    # A lower temperature sharpens the weights too: 3:1 becomes 9:1 at 0.5.
    cold = Sampler(cfg, 0.5, np.random.default_rng(1))(out)
    assert (cold[..., 0] > 0).mean() == pytest.approx(0.9, abs=0.02)


def test_a_codes_detail_is_drawn_at_its_tail_noise_and_its_broad_shape_at_the_temperature():
    """--tail-noise: past a fine code's first CODE_LEAD components the noise is R times the temperature's; the
    component's pick and every other network's draws are as before."""
    code = ModelConfig(block=BlockSpec(representation="frames", code=CODE_LEAD + 8), output="mixture", components=1)
    out = packed(np.zeros(1), np.zeros((1, CODE_LEAD + 8)), np.zeros((1, CODE_LEAD + 8))).repeat(20000, axis=1)
    spread = Sampler(code, 1.5, np.random.default_rng(0), tail_noise=0.2)(out)[0].std(axis=0)
    np.testing.assert_allclose(spread[:CODE_LEAD], 1.5, rtol=0.03)
    np.testing.assert_allclose(spread[CODE_LEAD:], 0.3, rtol=0.03)
    bands = mixture_cfg(2, bands=4)
    np.testing.assert_array_equal(Sampler(bands, 1.0, np.random.default_rng(0), tail_noise=0.2)(two_levels(500)),
                                  Sampler(bands, 1.0, np.random.default_rng(0))(two_levels(500)))


def test_a_codes_detail_noise_carries_its_memory_of_the_last_blocks_and_keeps_its_spread():
    """--noise-memory: block after block, the noise past a fine code's first CODE_LEAD components correlates with
    the last block's by M, its spread unchanged; the broad shape's is drawn anew; at 0 the draws are as before."""
    code = ModelConfig(block=BlockSpec(representation="frames", code=CODE_LEAD + 8), output="mixture", components=1)
    one = packed(np.zeros(1), np.zeros((1, CODE_LEAD + 8)), np.zeros((1, CODE_LEAD + 8)))

    def steps(sampler, n=8000):
        sampler(one.repeat(10, axis=1))  # the seed's echo first, all at once, as a song starts
        return np.concatenate([sampler(one)[0] for _ in range(n)])

    drawn = steps(Sampler(code, 1.5, np.random.default_rng(0), memory=0.8))
    lag = np.mean(drawn[1:] * drawn[:-1], axis=0) / np.mean(drawn * drawn, axis=0)
    np.testing.assert_allclose(lag[CODE_LEAD:], 0.8, atol=0.04)
    np.testing.assert_allclose(lag[:CODE_LEAD], 0.0, atol=0.06)
    np.testing.assert_allclose(drawn.std(axis=0), 1.5, rtol=0.08)
    np.testing.assert_array_equal(steps(Sampler(code, 1.5, np.random.default_rng(0), memory=0.0), 50),
                                  steps(Sampler(code, 1.5, np.random.default_rng(0)), 50))


def test_scheduled_samplings_draws_are_generations_draws():
    import keras

    cfg = mixture_cfg(2, bands=4)
    drawn = np.asarray(draw_keras(keras.ops.convert_to_tensor(two_levels(20000)), layout(cfg),
                                  keras.random.SeedGenerator(3)))
    check_whole_blocks_at_their_weights(drawn)


def test_the_components_start_apart_and_alike_in_weight(rng):
    from musicgen.models.model import build_model
    from musicgen.models.outputs import mixture_split

    cfg = mixture_cfg(3)
    out = np.asarray(build_model(cfg, batch_size=1)(rng.normal(size=(1, 2, BANDS)).astype(np.float32)))
    logits, means, log_scales = mixture_split(out, layout(cfg), np)
    np.testing.assert_array_equal(logits, 0.0)
    np.testing.assert_array_equal(log_scales, 0.0)
    np.testing.assert_array_equal(means[0, 0], np.repeat([[-1.0], [0.0], [1.0]], BANDS, axis=1))


def test_a_code_networks_components_start_where_the_musics_blocks_are():
    """Shifted alike in all 128 values of a fine code, the outer components started so far from every block of
    real music that they never fitted one and were never trained; along the code's first value (the frames'
    level) each starts nearest some of the music's blocks."""
    from helpers import MUSIC
    from musicgen.audio.frame_code import fit_code
    from musicgen.audio.frames import block_frame_values
    from musicgen.audio.io import read_audio
    from musicgen.models.outputs import initial_bias, mixture_split

    block = BlockSpec(sample_rate=44100, block_size=4096, representation="frames", bands=128, code=128)
    cfg = ModelConfig(block=block, output="mixture", components=4)
    samples, _ = read_audio(MUSIC / "minuet_in_g.mp3", 44100, resample=True)
    values = block_frame_values(samples, 0, len(samples) // 4096 - 1, block)
    code = fit_code([values], 128).encode(values)
    blocks = (code - code.mean(axis=0)) / code.std(axis=0)  # normalised as the network reads them ("bin")

    def wins(means: np.ndarray) -> np.ndarray:
        """How many blocks each unit-scale component starting at `means` fits best."""
        distance = np.square(blocks[:, None, :] - means[None]).sum(axis=-1)
        return np.bincount(distance.argmin(axis=1), minlength=len(means))

    def shifted_alike(dim: int) -> np.ndarray:
        """The old start: each component's `dim` means all at its level, from -1 to 1."""
        return np.repeat(np.linspace(-1.0, 1.0, 4)[:, None], dim, axis=1)

    _, means, _ = mixture_split(initial_bias(cfg)[None], layout(cfg), np)
    assert (wins(means[0]) >= 0.05 * len(blocks)).all(), wins(means[0])
    assert wins(shifted_alike(128))[[0, 3]].sum() == 0  # the old start: the outer two fit no block of the music

    # Where the first value is not the level (one band of uncoded frames), every value still starts shifted alike.
    uncoded = ModelConfig(block=dataclasses.replace(block, code=0), output="mixture", components=4)
    _, means, _ = mixture_split(initial_bias(uncoded)[None], layout(uncoded), np)
    np.testing.assert_allclose(means[0], shifted_alike(8 * 128), rtol=1e-6)

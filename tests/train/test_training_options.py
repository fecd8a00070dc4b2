"""The training options end to end (gaussian and mixture outputs, pre-net dropout, scheduled sampling,
magnitude representations, --minutes): each lowers the loss, is recorded, generates and resumes."""

from __future__ import annotations

import numpy as np
import pytest

from musicgen.audio.io import read_audio
from musicgen.config import BlockSpec, GenerateConfig, ModelConfig
from musicgen.generate.generation import generate
from musicgen.formats.songs import read_song_info
from musicgen.formats.weights import read_checkpoint
from musicgen.train.loop import train

from helpers import train_config


@pytest.mark.slow
@pytest.mark.parametrize("options", [
    dict(model=dict(output="gaussian"), train=dict(normalisation="bin")),
    dict(model=dict(prenet_dropout=0.3), train=dict(scheduled_sampling=0.5)),
    dict(model=dict(output="gaussian", prenet_dropout=0.3), train=dict(scheduled_sampling=0.5)),
    dict(model=dict(output="mixture", components=3), train=dict(normalisation="bin", scheduled_sampling=0.5)),
], ids=["gaussian", "prenet+scheduled", "all three", "mixture"])
@pytest.mark.trains
def test_each_training_option_lowers_the_loss_and_is_recorded(small_data, tmp_path, options):
    cfg = train_config(small_data, tmp_path, n_iter=2, n_epochs=5, **options["train"])
    result = train(cfg, ModelConfig(hidden=64, **options["model"]), verbose=0)
    loss = result.history["loss"]
    # Both losses start near 1 (mse in per-bin units; nll of unit Gaussians 1.42 nats); sampled inputs and
    # dropout make them noisy from epoch to epoch.
    assert loss[-1] < loss[0] - 0.05 and np.mean(loss[-3:]) < np.mean(loss[:3]) - 0.05, loss
    ckpt = read_checkpoint(result.checkpoint)
    for key, value in options["model"].items():
        assert getattr(ckpt.model, key) == value
    assert ckpt.training["scheduled_sampling"] == options["train"].get("scheduled_sampling", 0.0)


@pytest.mark.parametrize("output", ["gaussian", "mixture"])
@pytest.mark.trains
def test_sampled_network_generates_samples_reproducibly_and_its_mean_at_temperature_zero(small_data, tmp_path, output):
    result = train(train_config(small_data, tmp_path / "w", n_iter=1, n_epochs=2, normalisation="bin"),
                   ModelConfig(hidden=32, output=output), verbose=0)
    weights = result.checkpoint

    def song(out, **kw):
        cfg = GenerateConfig(**{**dict(seconds=3.0, count=2, random_seed=5, data_prefix=small_data,
                                       out_dir=tmp_path / out), **kw})
        return [read_audio(s.path)[0] for s in generate(weights, cfg)]

    first, again, other = song("a"), song("b"), song("c", random_seed=6)
    np.testing.assert_array_equal(first[0], again[0])
    assert not np.array_equal(first[0], other[0])
    mean_a, mean_b = song("d", temperature=0.0, seed_index=0, random_seed=1), song("e", temperature=0.0, seed_index=0,
                                                                                    random_seed=2)
    np.testing.assert_array_equal(mean_a[0], mean_b[0])
    assert not np.array_equal(mean_a[0], song("f", seed_index=0, random_seed=1)[0])
    info = read_song_info(tmp_path / "a" / "generated_song1.wav")
    assert info.output == output and info.prenet_dropout == 0.0 and info.temperature == 1.0
    assert info.echo_seconds == pytest.approx(1.0) and info.block.block_size == 1000 and info.block.overlap is False


@pytest.mark.slow
@pytest.mark.parametrize("cell, block, output, width", [
    ("lstm", BlockSpec(representation="logmag"), "mse", 501),
    ("gru", BlockSpec(representation="logmel", bands=40), "gaussian", 40),
], ids=["lstm-logmag", "gru-logmel-gaussian"])
@pytest.mark.trains
def test_magnitude_networks_train_generate_and_resume(small_data, tmp_path, cell, block, output, width):
    cfg = train_config(small_data, tmp_path / "w", n_iter=2, n_epochs=5, normalisation="bin", scheduled_sampling=0.5)
    result = train(cfg, ModelConfig(cell=cell, hidden=48, block=block, prenet_dropout=0.3, output=output), verbose=0)
    loss = result.history["loss"]
    # Sampled inputs and dropout make the loss noisy from epoch to epoch (it starts near 1).
    assert loss[-1] < loss[0] - 0.05 and np.mean(loss[-3:]) < np.mean(loss[:3]) - 0.05, loss
    ckpt = read_checkpoint(result.checkpoint)
    assert ckpt.model.block == cfg_block(block) and ckpt.model.output == output and ckpt.mean.shape == (width,)
    songs = generate(result.checkpoint, GenerateConfig(seconds=3.0, random_seed=0, data_prefix=small_data,
                                                       out_dir=tmp_path / "songs"))
    audio, rate = read_audio(songs[0].path)
    assert rate == 8000 and len(audio) == 24000 and np.sqrt(np.mean(audio ** 2)) > 1e-3
    # Re-training takes the representation, its statistics and the dropout from the file.
    again = train(train_config(small_data, tmp_path / "w", n_iter=1, n_epochs=1), ModelConfig(cell=cell),
                  resume=result.checkpoint, verbose=0)
    resumed = read_checkpoint(again.checkpoint)
    assert resumed.model == ckpt.model and resumed.iteration == 3
    np.testing.assert_array_equal(resumed.mean, ckpt.mean)


def cfg_block(block):
    """The BlockSpec a network trained on the small data records: the data's blocks, in `block`'s representation."""
    import dataclasses

    return dataclasses.replace(block, sample_rate=8000, block_size=1000)


@pytest.mark.trains
def test_minutes_end_training_on_the_clock_with_the_checkpoints_spread_over_it(small_data, tmp_path):
    import time

    cfg = train_config(small_data, tmp_path / "w", n_iter=3, n_epochs=100000, minutes=0.4, lr_schedule="cosine")
    start = time.monotonic()
    result = train(cfg, ModelConfig(hidden=16), verbose=0)
    took = time.monotonic() - start
    epochs = len(result.history["loss"])
    # 24 s of training (the first epoch compiles the step) then one more save: far from the 300000
    # epochs the counts alone would ask for.
    assert 1 <= epochs < 20000 and took < 150, (epochs, took)
    ckpt = read_checkpoint(result.checkpoint)
    assert 1 <= ckpt.iteration <= 3 and ckpt.epoch == epochs and ckpt.training["minutes"] == 0.4
    rates = result.history["learning_rate"]
    assert rates[0] == pytest.approx(0.01, rel=0.05)
    if epochs >= 3:  # on a machine fast enough to run several epochs, the rate decays over the minutes
        assert rates[-1] < 0.5 * rates[0], rates


"""Songs that keep going: the free-running measures on signals whose answer is known, the song sidecar,
and the training options (gaussian output, pre-net dropout, scheduled sampling) end to end."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from scipy.io import wavfile

from musicgen.audio.io import load_wav
from musicgen.config import BlockSpec, GenerateConfig, ModelConfig
from musicgen.evaluate.measures import loop_score, measure_window, timeline
from musicgen.evaluate.report import load_reference
from musicgen.generate.generation import Sampler, continue_deterministic, continue_sampled, generate
from musicgen.formats.songs import read_song_info, song_info_path
from musicgen.models.blas_network import BlasNetwork
from musicgen.models.model import build_model, build_training_model
from musicgen.formats.weights import read_checkpoint
from musicgen.train.loop import train

from helpers import MUSIC, run_script, sox, train_config

RATE = 22050
BLOCK = RATE // 4


def decoded(tmp_path, name: str, start: float, seconds: float) -> np.ndarray:
    """Mono samples at RATE of a slice of a bundled piece."""
    wav = tmp_path / f"{name}.wav"
    raw = tmp_path / f"{name}.raw.wav"
    subprocess.run(["lame", "--decode", "--quiet", str(MUSIC / name), str(raw)], check=True)
    sox(raw, "-r", RATE, "-c", 1, wav, "trim", start, seconds)
    return load_wav(wav)[0]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Two of the bundled pieces as the 'training music'; the third stays unseen."""
    folder = tmp_path_factory.mktemp("reference")
    for name in ("minuet_in_g.mp3", "ode_to_joy.mp3"):
        subprocess.run(["lame", "--decode", "--quiet", str(MUSIC / name), str(folder / (name[:-4] + ".wav"))],
                       check=True)
    return load_reference([folder])


@pytest.fixture(scope="module")
def unseen(tmp_path_factory):
    """20 s of the bundled piece the reference leaves out."""
    return decoded(tmp_path_factory.mktemp("unseen"), "canon_in_d.mp3", 30.0, 20.0)


def test_loop_score_is_one_for_a_repeated_block_and_near_zero_for_music_and_noise(unseen, rng):
    block = unseen[RATE * 3: RATE * 3 + BLOCK]
    assert loop_score(np.tile(block, 40), BLOCK) == pytest.approx(1.0, abs=1e-6)
    assert abs(loop_score(unseen, BLOCK)) < 0.3
    assert abs(loop_score(rng.standard_normal(RATE * 10), BLOCK)) < 0.05
    assert loop_score(np.zeros(RATE * 2), BLOCK) == 0.0


@pytest.mark.slow
def test_unseen_music_is_alive_and_each_way_of_dying_fails_its_own_test(unseen, reference, rng, tmp_path):
    def judge(samples):
        return measure_window(samples, RATE, 0.0, len(samples) / RATE, reference, block_size=BLOCK)

    music = judge(unseen)
    assert music.alive, music.tests
    level = np.sqrt(np.mean(np.square(unseen)))
    looped = judge(np.tile(unseen[RATE * 5: RATE * 5 + BLOCK], 80))
    assert looped.tests["no loop"] is False and looped.tests["moves"] is False
    # A held chord whose partials are not whole cycles per block: not a loop, but it does not move.
    t = np.arange(RATE * 20) / RATE
    chord = sum(np.sin(2 * np.pi * f * t) for f in (293.3, 369.9, 440.7)).astype(np.float32)
    held = judge(chord * level / np.sqrt(np.mean(np.square(chord))))
    assert held.tests["no loop"] and held.tests["loud"] and not held.tests["moves"]
    noise = judge((rng.standard_normal(RATE * 20) * level).astype(np.float32))
    assert not noise.tests["tonal"] and not noise.tests["moves"]
    quiet = judge(unseen * 0.2)
    assert not quiet.tests["loud"] and quiet.tests["moves"] and quiet.tests["no loop"]
    copied = judge(decoded(tmp_path, "minuet_in_g.mp3", 20.0, 20.0))  # 20 s of the reference itself
    assert copied.tests["no copy"] is False  # frames fall between the reference's: ~1.5 dB, not 0


@pytest.mark.slow
def test_timeline_finds_where_a_song_dies(unseen, reference):
    # 20 s of music, then one of its blocks looped for 20 s: the first two windows live, the last two don't.
    song = np.concatenate([unseen, np.tile(unseen[-BLOCK:], 80)])
    windows = timeline(song, RATE, 0.0, reference, block_size=BLOCK)
    assert [(round(w.start), round(w.end)) for w in windows] == [(0, 10), (10, 20), (20, 30), (30, 40)]
    assert [w.alive for w in windows] == [True, True, False, False]


@pytest.mark.slow
def test_evaluate_reads_the_sidecar_and_measures_after_the_echo(unseen, tmp_path):
    # The 'echo' is 5 s of silence; the new music after it is real music.
    song = tmp_path / "generated_song1.wav"
    wavfile.write(song, RATE, np.concatenate([np.zeros(RATE * 5, np.float32), unseen]))
    song_info_path(song).write_text(json.dumps({"echo_seconds": 5.0, "hop_seconds": 0.25}))
    assert read_song_info(song).echo_seconds == 5.0 and read_song_info(song).block_seconds == 0.25
    ref = tmp_path / "ref"
    ref.mkdir()
    for name in ("minuet_in_g.mp3", "ode_to_joy.mp3"):
        subprocess.run(["lame", "--decode", "--quiet", str(MUSIC / name), str(ref / (name[:-4] + ".wav"))],
                       check=True)
    after = run_script("evaluate.py", song, "--reference", ref, "--json")
    assert after.returncode == 0, after.stderr
    report = json.loads(after.stdout)["songs"][0]
    assert report["measured_from"] == 5.0 and report["seconds"] == pytest.approx(20.0, abs=0.01)
    assert report["music_seconds"] == pytest.approx(20.0, abs=0.01)
    whole = json.loads(run_script("evaluate.py", song, "--reference", ref, "--json", "--whole").stdout)["songs"][0]
    assert whole["measured_from"] == 0.0 and whole["seconds"] == pytest.approx(25.0, abs=0.01)
    assert whole["rms_dbfs"] == pytest.approx(report["rms_dbfs"] + 10 * np.log10(20 / 25), abs=0.05)
    text = run_script("evaluate.py", song, "--reference", ref).stdout
    assert "music for 20 of 20 seconds after the seed" in text


@pytest.mark.slow
def test_song_without_a_sidecar_is_measured_whole(unseen, reference, tmp_path):
    from musicgen.evaluate.report import evaluate_songs

    song = tmp_path / "mine.wav"
    wavfile.write(song, RATE, unseen)
    assert read_song_info(song) is None
    report = evaluate_songs([song], [MUSIC])
    assert report.starts == [0.0] and report.songs[0].seconds == pytest.approx(20.0, abs=0.01)


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
@pytest.mark.parametrize("options", [
    dict(model=dict(output="gaussian"), train=dict(normalisation="bin")),
    dict(model=dict(prenet_dropout=0.3), train=dict(scheduled_sampling=0.5)),
    dict(model=dict(output="gaussian", prenet_dropout=0.3), train=dict(scheduled_sampling=0.5)),
    dict(model=dict(output="mixture", components=3), train=dict(normalisation="bin", scheduled_sampling=0.5)),
], ids=["gaussian", "prenet+scheduled", "all three", "mixture"])
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


@pytest.mark.slow
@pytest.mark.parametrize("output", ["gaussian", "mixture"])
def test_sampled_network_generates_samples_reproducibly_and_its_mean_at_temperature_zero(small_data, tmp_path, output):
    result = train(train_config(small_data, tmp_path / "w", n_iter=1, n_epochs=2, normalisation="bin"),
                   ModelConfig(hidden=32, output=output), verbose=0)
    weights = result.checkpoint

    def song(out, **kw):
        cfg = GenerateConfig(**{**dict(seconds=3.0, count=2, random_seed=5, data_prefix=small_data,
                                       out_dir=tmp_path / out), **kw})
        return [load_wav(s.path)[0] for s in generate(weights, cfg)]

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


def test_logmag_features_are_log_magnitudes_of_the_non_negative_bins():
    from musicgen.audio.blocks import blocks_to_features
    from musicgen.audio.representation import from_fft_features
    from musicgen.audio.spectra import LOG_FLOOR

    block = np.sin(2 * np.pi * 5 * np.arange(64) / 64).astype(np.float32)  # 5 cycles: all in bin 5
    values = from_fft_features(blocks_to_features(block[None]), BlockSpec(block_size=64, representation="logmag"))[0]
    assert values.shape == (BlockSpec(block_size=64, representation="logmag").feature_dim,) == (33,)
    assert values[5] == pytest.approx(np.log(32 + LOG_FLOOR), rel=1e-4)
    assert values[np.arange(33) != 5].max() < np.log(1e-2)


def test_griffin_lim_rebuilds_a_signal_with_the_asked_magnitudes(unseen):
    from musicgen.audio.blocks import blocks_to_features, frame
    from musicgen.audio.representation import from_fft_features, to_signal

    block = BlockSpec(sample_rate=RATE, block_size=2048, overlap=True, representation="logmag")
    n = len(unseen[: RATE * 4]) // block.hop - 1
    blocks = frame(unseen[: RATE * 4], n, block)
    target = np.exp(from_fft_features(blocks_to_features(blocks), block))

    def mismatch(signal):  # spectral convergence: 0 for a signal with exactly these magnitudes
        got = np.exp(from_fft_features(blocks_to_features(frame(signal, n, block)), block))
        return np.linalg.norm(got - target) / np.linalg.norm(target)

    values = np.log(target)
    random_phase = to_signal(values, block, rng=np.random.default_rng(0), iterations=0)
    rebuilt = to_signal(values, block, rng=np.random.default_rng(0))
    assert mismatch(rebuilt) < 0.5 * mismatch(random_phase)
    assert mismatch(rebuilt) < 0.35
    # The default (fast Griffin-Lim, 16 rounds) is worth the 32 plain rounds it replaced.
    plain = to_signal(values, block, rng=np.random.default_rng(0), iterations=32, momentum=0.0)
    assert mismatch(rebuilt) <= 1.05 * mismatch(plain), (mismatch(rebuilt), mismatch(plain))


@pytest.mark.slow
@pytest.mark.parametrize("cell, block, output, width", [
    ("lstm", BlockSpec(representation="logmag"), "mse", 501),
    ("gru", BlockSpec(representation="logmel", bands=40), "gaussian", 40),
], ids=["lstm-logmag", "gru-logmel-gaussian"])
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
    audio, rate = load_wav(songs[0].path)
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


@pytest.mark.slow
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

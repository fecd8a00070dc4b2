import multiprocessing
import shutil
import subprocess
import sys

import numpy as np
import pytest
from scipy.io import wavfile

from musicgen.atomic import remove_stale_temps
from musicgen.config import BlockSpec, GenerateConfig, ModelConfig
from musicgen.generate.generation import (continue_by_reprediction, continue_deterministic, fastest_engine, generate,
                                          load_generator)
from musicgen.formats.songs import write_song
from musicgen.models.blas_network import BlasNetwork
from musicgen.models.model import build_model
from musicgen.formats.weights import list_weight_files, read_checkpoint
from musicgen.train.loop import train

from helpers import DOWN, ENTER, REPO, run_in_pty, run_script, train_config


@pytest.fixture(scope="module")
def weights(small_data, tmp_path_factory):
    """A tiny trained LSTM and GRU (one epoch each) in one weights folder."""
    wdir = tmp_path_factory.mktemp("gen_weights")
    for cell in ("lstm", "gru"):
        train(train_config(small_data, wdir, n_iter=1, n_epochs=1), ModelConfig(cell=cell, hidden=48), verbose=0)
    return {p.name.split("_")[0].lower(): p for p in list_weight_files(wdir)}


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["blas", "keras"])
@pytest.mark.parametrize("cell, layers", [("lstm", 1), ("gru", 1), ("lstm", 2), ("gru", 2)])
def test_stateful_generation_equals_growing_sequence_reprediction(cell, layers, engine, rng):
    import keras

    cfg = ModelConfig(cell=cell, hidden=24, layers=layers, block=BlockSpec(block_size=50), clip_blocks=6)
    keras.utils.set_random_seed(3)
    full = build_model(cfg)
    # Random weights made larger so every unit matters and the song keeps changing, but not so
    # large that the recurrence turns chaotic: then any two correct methods, summing in a
    # different order, drift apart past any tolerance (noise of 0.2 did, for 1 GRU in 6).
    full.set_weights([w + rng.normal(0, 0.15, w.shape).astype(np.float32) for w in full.get_weights()])

    def network(batch):
        model = build_model(cfg, batch_size=batch, stateful=True)
        model.set_weights(full.get_weights())
        return BlasNetwork(model) if engine == "blas" else model

    seeds = rng.normal(size=(3, 6, 100)).astype(np.float32)
    # 9 steps are run one by one; 54 run on the folded feedback matrix (BLAS engine).
    for n_blocks in (15, 60):
        fast = continue_deterministic(network(3), seeds, n_blocks)
        slow = continue_by_reprediction(full, seeds, n_blocks)
        assert fast.shape == slow.shape == (3, n_blocks, 100)
        assert slow[:, -10:].std(axis=1).mean() > 1e-3  # still moving: a fixed point would prove little
        np.testing.assert_allclose(fast, slow, rtol=1e-4, atol=1e-4)
    # A batch of songs is the same as each song on its own, and a second song starts afresh.
    single = network(1)
    np.testing.assert_allclose(continue_deterministic(single, seeds[1:2], 60)[0], fast[1], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(continue_deterministic(single, seeds[1:2], 60)[0], fast[1], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("seconds, blocks", [(None, 49), (0.5, 4), (3.0, 24), (7.3, 58)])
@pytest.mark.trains
def test_song_length_follows_seconds(weights, small_data, tmp_path, seconds, blocks):
    songs = generate(weights["lstm"], GenerateConfig(seconds=seconds, data_prefix=small_data, out_dir=tmp_path,
                                                     random_seed=1))
    rate, pcm = wavfile.read(songs[0].path)
    assert rate == 8000 and pcm.dtype == np.int16
    assert len(pcm) == blocks * 1000
    assert songs[0].plot.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_count_writes_k_songs_from_distinct_seeds_numbered_after_existing(weights, small_data, tmp_path):
    (tmp_path / "generated_song1.wav").write_bytes(b"mine")
    (tmp_path / "generated_song7.wav").write_bytes(b"also mine")
    songs = generate(weights["gru"], GenerateConfig(count=3, data_prefix=small_data, out_dir=tmp_path, random_seed=5))
    assert [s.path.name for s in songs] == ["generated_song8.wav", "generated_song9.wav", "generated_song10.wav"]
    assert len({s.seed_index for s in songs}) == 3
    assert (tmp_path / "generated_song1.wav").read_bytes() == b"mine"
    assert (tmp_path / "generated_song7.wav").read_bytes() == b"also mine"
    again = generate(weights["gru"], GenerateConfig(count=1, seed_index=2, data_prefix=small_data, out_dir=tmp_path))
    assert again[0].seed_index == 2 and again[0].path.name == "generated_song11.wav"


def _write_three(folder):
    return [write_song(folder, np.zeros(100, np.float32), 8000).name for _ in range(3)]


def test_concurrent_writers_never_share_a_number(tmp_path):
    with multiprocessing.get_context("spawn").Pool(8) as pool:
        names = sum(pool.map(_write_three, [tmp_path] * 8), [])
    assert len(names) == len(set(names)) == 24
    assert sorted(p.name for p in tmp_path.glob("generated_song*.wav")) == sorted(names)
    # A pool's workers end without running atexit, so the last ones may leave their (released) run locks;
    # nothing else is left, and the next run in the folder clears those as dead.
    assert all(p.name.endswith(".lock") for p in tmp_path.glob(".*"))
    remove_stale_temps(tmp_path)
    assert not list(tmp_path.glob(".*"))


@pytest.mark.script
def test_two_generate_runs_at_once_write_two_songs(weights, small_data, tmp_path):
    cmd = [sys.executable, str(REPO / "generate.py"), "--weights", str(weights["lstm"]), "--data", str(small_data),
           "--out-dir", str(tmp_path), "--seconds", "1"]
    procs = [subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    for p in procs:
        p.communicate(timeout=300)
        assert p.returncode == 0
    assert sorted(p.name for p in tmp_path.glob("*.wav")) == ["generated_song1.wav", "generated_song2.wav"]


@pytest.mark.slow
def test_wav_is_nan_free_and_kept_within_full_scale_not_wrapped(weights, small_data, tmp_path):
    ckpt, model = load_generator(weights["lstm"], 1)
    decode = model.get_layer("time_distributed_dense_out")
    kernel, bias = decode.get_weights()
    bias[:] = 0
    bias[3] = 1e4  # a huge cosine at bin 3: full-scale overflow everywhere, both signs
    bias[7] = np.nan
    decode.set_weights([kernel * 0, bias])
    from musicgen.audio.limiter import CEILING
    from musicgen.generate.generation import features_to_audio

    out = continue_deterministic(fastest_engine(model), np.zeros((1, 8, 2000), np.float32), 10)
    audio = features_to_audio(out[0], ckpt)
    path = write_song(tmp_path, audio, 8000)
    _, pcm = wavfile.read(path)
    # The overflow is turned down to just under full scale (audio.limiter), not clipped or wrapped.
    ceiling = int(CEILING * 32768)
    assert ceiling - 100 < pcm.max() <= ceiling and -ceiling - 1 <= pcm.min() < -ceiling + 100
    # The wave keeps its sign: positive half-periods stay positive.
    t = np.arange(1000)
    expected_sign = np.sign(np.cos(2 * np.pi * 3 * t / 1000))
    strong = np.abs(np.cos(2 * np.pi * 3 * t / 1000)) > 0.1
    assert np.all(np.sign(pcm[:1000][strong]) == expected_sign[strong])
    assert np.isfinite(audio).all()


@pytest.mark.script
def test_menu_picks_weights_and_flags_work_without_terminal(weights, small_data, tmp_path):
    wdir = weights["lstm"].parent
    code, screen = run_in_pty("generate.py", "--weights-dir", wdir, "--data", small_data, "--out-dir", tmp_path,
                              "--seconds", "1", keys=[DOWN, ENTER], wait_for="Choose the weight file")
    assert code == 0, screen
    # Menu order is by cell then iteration: GRU first, LSTM second.
    assert "GRU_NP_Weights_Iter-1.weights.h5" in screen and "LSTM_NP_Weights_Iter-1.weights.h5" in screen
    assert "wrote" in screen and (tmp_path / "generated_song1.wav").exists()
    png = (tmp_path / "generated_song1.png")
    assert png.exists()

    out = run_script("generate.py", "--weights-dir", wdir, "--data", small_data, "--out-dir", tmp_path)
    assert out.returncode == 1 and "no terminal for the menu; pass --weights" in out.stderr


@pytest.mark.script
def test_bad_inputs_are_one_line_errors(weights, small_data, tmp_path):
    corrupt = tmp_path / "LSTM_NP_Weights_Iter-3.weights.h5"
    corrupt.write_bytes(b"not hdf5 at all")
    shutil.copy(read_checkpoint(weights["lstm"]).weights.with_suffix("").with_suffix(".json"),
                tmp_path / "LSTM_NP_Weights_Iter-3.json")
    cases = [
        (["--weights-dir", tmp_path / "none"], "no weight files to generate from"),
        (["--weights", corrupt, "--data", small_data], "sha256 differs"),
        (["--weights", weights["gru"], "--data", tmp_path / "nothing"], "run convert_directory.py first"),
        (["--weights", weights["gru"], "--data", small_data, "--seed-index", "999"], "out of range"),
        (["--weights", tmp_path / "model.keras"], "not a Keras weight file"),
    ]
    for args, message in cases:
        out = run_script("generate.py", *args, "--out-dir", tmp_path / "songs")
        assert out.returncode == 1, (args, out.stderr)
        assert message in out.stderr and "Traceback" not in out.stderr, (args, out.stderr)
    assert run_script("generate.py", "--seconds", "0").returncode == 2
    assert not (tmp_path / "songs").exists()


@pytest.mark.trains
def test_overlapping_blocks_train_generate_and_refuse_the_other_kind_of_data(small_data, tmp_path):
    from musicgen.errors import WeightsError

    from helpers import converted_minuet

    cfg = converted_minuet(tmp_path, overlap=True)
    train(train_config(cfg.output_prefix, tmp_path / "w", n_iter=1, n_epochs=1), ModelConfig(hidden=32), verbose=0)
    [weights] = list_weight_files(tmp_path / "w")
    model = read_checkpoint(weights).model
    assert model.block.overlap and model.block.hop == 500 and model.clip_blocks == 16
    songs = generate(weights, GenerateConfig(seconds=3.0, data_prefix=cfg.output_prefix, out_dir=tmp_path / "s",
                                             random_seed=1))
    _, pcm = wavfile.read(songs[0].path)
    assert len(pcm) == 48 * 500 + 500  # 48 blocks every 500 samples, and the last block's second half
    default = generate(weights, GenerateConfig(data_prefix=cfg.output_prefix, out_dir=tmp_path / "s", random_seed=1))
    assert default[0].seconds == pytest.approx(49 * 1000 / 8000, abs=0.07)  # the original's 49 blocks of time
    with pytest.raises(WeightsError, match="overlapping blocks of 1000 samples at 8000 Hz but the data has hard-edged"):
        generate(weights, GenerateConfig(data_prefix=small_data, out_dir=tmp_path / "s"))
    with pytest.raises(WeightsError, match="convert with --block-size 1000 --overlap"):
        train(train_config(small_data, tmp_path / "w"), ModelConfig(hidden=32), resume=weights, verbose=0)


@pytest.mark.slow
def test_one_block_format_from_the_info_file_through_the_weight_file_to_the_song(weights, small_data, tmp_path):
    """The BlockSpec the info file owns is the one the weight file embeds and the song sidecar carries."""
    from musicgen import schema
    from musicgen.data.training_data import load_training_data
    from musicgen.formats.dataset import read_dataset_info
    from musicgen.formats.songs import read_song_info, song_info_path

    data_block = read_dataset_info(small_data).block
    assert data_block == load_training_data(small_data).block
    ckpt = read_checkpoint(weights["gru"])
    assert ckpt.model.block == data_block
    song = generate(weights["gru"], GenerateConfig(seconds=1.0, data_prefix=small_data, out_dir=tmp_path))[0]
    assert read_song_info(song.path).block == data_block
    assert schema.get_block(schema.load_json(song_info_path(song.path))) == data_block  # the keys every file uses

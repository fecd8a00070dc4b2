"""What users of raw-audio generators ask for: clean terminal output, --help that says
each default once, songs primed from any audio file, songs without the echo, other formats,
Keras' own training aids."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from helpers import REPO, run_script

SCRIPTS = ["check_system_setup.py", "convert_directory.py", "train.py", "train_gru.py", "re_train.py",
           "re_train_gru.py", "generate.py", "evaluate.py", "export.py"]
TF_NOISE = re.compile(r"absl::InitializeLog|oneDNN|cudart_stub|cuda_platform|cpu_feature_guard|^[IWE]\d{4} ",
                      re.MULTILINE)


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.script
def test_help_says_each_default_once(script):
    out = run_script(script, "--help", timeout=60)
    assert out.returncode == 0 and "usage:" in out.stdout
    text = " ".join(out.stdout.split())
    options = re.split(r" (?=-{1,2}[a-zA-Z][\w-]* )", text.split("options:", 1)[1])
    assert len(options) > 1
    for option in options:
        assert option.count("(default") <= 1, option
    assert "(default: None)" not in text and "(default: False)" not in text


@pytest.mark.script
def test_scripts_print_no_tensorflow_start_up_lines_unless_verbose(small_data, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    args = [sys.executable, str(REPO / "train.py"), "--data", str(small_data), "-n", "1", "-e", "1", "--hidden", "8",
            "--weights-dir", str(tmp_path / "w"), "--img-dir", str(tmp_path / "img")]
    quiet = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
                           stdin=subprocess.DEVNULL)
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert not TF_NOISE.search(quiet.stdout + quiet.stderr), (quiet.stdout + quiet.stderr)[:2000]
    assert "iteration 1/1" in quiet.stdout
    check = subprocess.run([sys.executable, str(REPO / "check_system_setup.py")], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert not TF_NOISE.search(check.stdout + check.stderr) and "system setup" in check.stdout
    loud = subprocess.run([sys.executable, str(REPO / "check_system_setup.py"), "--verbose"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert TF_NOISE.search(loud.stdout + loud.stderr)


@pytest.fixture(scope="module")
def weights(small_data, tmp_path_factory):
    """A tiny trained LSTM."""
    from musicgen.config import ModelConfig
    from musicgen.train.loop import train

    from helpers import train_config

    wdir = tmp_path_factory.mktemp("request_weights")
    return train(train_config(small_data, wdir, n_iter=1, n_epochs=1), ModelConfig(hidden=16), verbose=0).checkpoint


@pytest.mark.trains
def test_a_prime_file_seeds_the_song_from_where_prime_start_says(weights, tmp_path):
    import numpy as np

    from musicgen.audio.blocks import blocks_to_features, frame
    from musicgen.generate.priming import prime_values
    from musicgen.formats.weights import read_checkpoint

    from helpers import music_excerpt

    model = read_checkpoint(weights).model
    stereo = tmp_path / "prime.flac"  # any format, rate and channel count
    music_excerpt(tmp_path / "p.wav", 6.0, start=40.0)
    subprocess.run(["sox", tmp_path / "p.wav", "-r", "48000", "-c", "2", stereo], check=True)
    mono = tmp_path / "mono.wav"
    subprocess.run(["sox", "-R", stereo, "-r", "8000", "-c", "1", "-b", "16", mono], check=True)
    from scipy.io import wavfile

    _, pcm = wavfile.read(mono)
    for start in (0.0, 1.5):
        first = int(start * 8000)
        want = blocks_to_features(frame(pcm[first:].astype(np.float32) / 32767.0, model.clip_blocks,
                                        model.block))
        np.testing.assert_allclose(prime_values(stereo, start, model), want, atol=2e-3)  # GRUV values: the FFT


@pytest.mark.slow
def test_primed_songs_need_no_training_data_and_follow_their_prime(weights, tmp_path):
    import json

    import numpy as np
    from scipy.io import wavfile

    from musicgen.config import GenerateConfig
    from musicgen.generate.generation import generate

    from helpers import music_excerpt

    a = music_excerpt(tmp_path / "a.mp3", 4.0, start=10.0)
    b = music_excerpt(tmp_path / "b.mp3", 4.0, start=30.0)
    songs = {}
    for name, prime in (("a", a), ("b", b)):
        cfg = GenerateConfig(seconds=3.0, prime=prime, data_prefix=tmp_path / "none", out_dir=tmp_path / name,
                             random_seed=1)
        [song] = generate(weights, cfg)
        info = json.loads(song.path.with_suffix(".json").read_text())
        assert info["prime"] == str(prime) and info["seed_clip"] is None and info["data"] is None
        assert song.seed == f"{name}.mp3 from 0 s"
        songs[name] = wavfile.read(song.path)[1]
    assert not np.array_equal(songs["a"], songs["b"])


@pytest.mark.slow
@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.wav", "does not exist"),
    (lambda d: (d / "text.mp3").write_text("not audio") and d / "text.mp3", "cannot be read"),
    (lambda d: __import__("helpers").tone(d / "short.wav", 0.3, rate=8000), "a seed needs 1.00 s"),
    (lambda d: __import__("helpers").sox("-n", "-r", 8000, "-c", 1, "-b", 16, d / "quiet.wav", "trim", 0, 3)
     or d / "quiet.wav", "silent"),
])
@pytest.mark.script
@pytest.mark.script
def test_a_bad_prime_file_is_one_line(weights, tmp_path, make, message):
    prime = make(tmp_path)
    out = run_script("generate.py", "--weights", weights, "--prime", prime, "--out-dir", tmp_path / "s", timeout=120)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 1 and len(lines) == 1 and message in lines[0], out.stderr
    assert "--prime" in lines[0] and not (tmp_path / "s").exists()


@pytest.mark.slow
def test_no_echo_songs_hold_only_new_music_of_the_asked_length(weights, small_data, tmp_path):
    import json

    from scipy.io import wavfile

    from musicgen.config import GenerateConfig
    from musicgen.generate.generation import generate

    common = dict(seconds=2.0, seed_index=3, data_prefix=small_data, random_seed=1)
    [echo] = generate(weights, GenerateConfig(out_dir=tmp_path / "e", **common))
    [new] = generate(weights, GenerateConfig(out_dir=tmp_path / "n", echo=False, **common))
    assert json.loads(echo.path.with_suffix(".json").read_text())["echo_seconds"] == 1.0  # 8 blocks of 0.125 s
    assert json.loads(new.path.with_suffix(".json").read_text())["echo_seconds"] == 0.0
    _, with_echo = wavfile.read(echo.path)
    _, without = wavfile.read(new.path)
    assert len(with_echo) == len(without) == 16 * 1000
    # The same network from the same seed: the new song is what followed the echo.
    [longer] = generate(weights, GenerateConfig(out_dir=tmp_path / "l", **{**common, "seconds": 3.0}))
    _, both = wavfile.read(longer.path)
    assert (both[8000:] == without[:16000]).all()


@pytest.mark.parametrize("song_format", ["flac", "ogg", "mp3"])
@pytest.mark.script
def test_songs_in_other_formats_keep_one_numbering(weights, small_data, tmp_path, song_format):
    from musicgen.audio.io import read_audio
    from musicgen.config import GenerateConfig
    from musicgen.generate.generation import generate

    out = tmp_path / "songs"
    out.mkdir()
    (out / "generated_song4.mp3").write_bytes(b"an older song")
    cfg = GenerateConfig(seconds=2.0, count=2, seed_index=0, data_prefix=small_data, out_dir=out,
                         song_format=song_format)
    songs = generate(weights, cfg)
    assert [s.path.name for s in songs] == [f"generated_song{n}.{song_format}" for n in (5, 6)]
    assert all(s.path.with_suffix(".png").is_file() and s.path.with_suffix(".json").is_file() for s in songs)
    decoded = tmp_path / "decoded.wav"
    subprocess.run(["sox", "-V1", songs[0].path, decoded], check=True)
    samples, rate = read_audio(decoded)
    assert rate == 8000 and abs(len(samples) - 16000) <= (0 if song_format != "mp3" else 1152)
    assert (out / "generated_song4.mp3").read_bytes() == b"an older song"
    evaluated = run_script("evaluate.py", songs[0].path, "--reference", small_data.parent.parent / "in" / "wave",
                           timeout=120)
    assert evaluated.returncode == 0 and songs[0].path.name in evaluated.stdout, evaluated.stderr


@pytest.mark.slow
def test_an_mp3_song_at_44_1_khz_decodes_to_the_same_length(tmp_path):
    import numpy as np

    from musicgen.formats.songs import write_song

    samples = np.sin(np.arange(145530) * 2 * np.pi * 440 / 44100).astype(np.float32) * 0.5
    song = write_song(tmp_path, samples, 44100, song_format="mp3")
    subprocess.run(["lame", "--decode", "--quiet", song, tmp_path / "back.wav"], check=True)
    from scipy.io import wavfile

    rate, back = wavfile.read(tmp_path / "back.wav")
    assert song.name == "generated_song1.mp3" and rate == 44100 and len(back) == len(samples)


@pytest.mark.trains
def test_early_stopping_stops_and_saves_the_epochs_since_the_last_checkpoint(small_data, tmp_path):
    from musicgen.config import ModelConfig
    from musicgen.formats.weights import read_checkpoint
    from musicgen.train.loop import train

    from helpers import train_config

    # A learning rate far too high: the validation loss never improves on its first value.
    cfg = train_config(small_data, tmp_path, n_iter=5, n_epochs=3, lr=5.0, validation_split=0.25, early_stopping=1)
    result = train(cfg, ModelConfig(hidden=16), verbose=0)
    ckpt = read_checkpoint(result.checkpoint)
    epochs = len(ckpt.history["loss"])
    assert epochs < 15 and ckpt.epoch == epochs and ckpt.training["early_stopping"] == 1
    assert ckpt.iteration == -(-epochs // 3)  # a last, shorter iteration holds the epochs after the last full one


@pytest.mark.parametrize("schedule", ["constant", "plateau", "cosine"])
@pytest.mark.trains
def test_learning_rate_schedules_follow_keras_callbacks_and_are_recorded(small_data, tmp_path, schedule):
    import numpy as np

    from musicgen.config import ModelConfig
    from musicgen.formats.weights import read_checkpoint
    from musicgen.train.loop import train

    from helpers import train_config

    cfg = train_config(small_data, tmp_path, n_iter=2, n_epochs=4, lr=0.01, lr_schedule=schedule,
                       tensorboard=tmp_path / "tb")
    ckpt = read_checkpoint(train(cfg, ModelConfig(hidden=16), verbose=0).checkpoint)
    rates = np.array(ckpt.history["learning_rate"])
    assert len(rates) == 8 and ckpt.training["lr_schedule"] == schedule
    if schedule == "constant":
        np.testing.assert_allclose(rates, 0.01, rtol=1e-6)
    elif schedule == "cosine":
        np.testing.assert_allclose(rates, 0.01 * 0.5 * (1 + np.cos(np.pi * np.arange(8) / 8)), rtol=1e-5)
    else:
        assert rates[0] == pytest.approx(0.01) and np.all(np.diff(rates) <= 0)
    assert list((tmp_path / "tb").rglob("events.out.tfevents*"))
    csv = (tmp_path / ckpt.weights.name.replace(".weights.h5", ".loss.csv")).read_text().splitlines()
    assert csv[0] == "epoch,loss,learning_rate" and len(csv) == 9


@pytest.mark.parametrize("shard_size", [0, 4])
def test_any_number_of_jobs_writes_byte_identical_tensors(tmp_path, shard_size):
    import json
    import shutil
    from dataclasses import replace

    from musicgen.data.convert import convert_directory

    from helpers import music_excerpt, small_config

    cfg = small_config(tmp_path)
    cfg.input_dir.mkdir()
    for k, (start, seconds) in enumerate([(5.0, 9.2), (20.0, 4.1), (40.0, 6.0)]):
        music_excerpt(cfg.input_dir / f"piece{k}.mp3", seconds, start=start)
    (cfg.input_dir / "broken.mp3").write_text("not audio")
    outputs = {}
    for jobs in (1, 2, 3):
        shutil.rmtree(cfg.wave_dir, ignore_errors=True)
        prefix = tmp_path / f"jobs{jobs}" / "np"
        summary = convert_directory(replace(cfg, output_prefix=prefix, jobs=jobs, shard_size=shard_size),
                                    progress=False)
        assert [f.path.name for f in summary.used] == ["piece0.mp3", "piece1.mp3", "piece2.mp3"]
        assert [name for name, _ in summary.skipped] == ["broken.mp3"]
        info = json.loads(prefix.with_name("np_info.json").read_text())
        files = [s[k] for s in info.get("shards", []) for k in ("x", "y")] or ["np_x.npy", "np_y.npy"]
        outputs[jobs] = [prefix.with_name(n).read_bytes() for n in [*files, "np_mean.npy", "np_var.npy",
                                                                    "np_xmerged.wav"]]
    assert outputs[1] == outputs[2] == outputs[3]


@pytest.mark.trains
def test_previews_beside_each_checkpoint_with_their_verdict_in_sidecar_menu_and_tensorboard(small_data, tmp_path):
    from scipy.io import wavfile

    from musicgen.config import ModelConfig
    from musicgen.formats.weights import describe, list_weight_files, read_checkpoint
    from musicgen.train.loop import train

    from helpers import train_config

    cfg = train_config(small_data, tmp_path, n_iter=3, n_epochs=1, keep_every=2, preview_seconds=2.0,
                       tensorboard=tmp_path / "tb")
    train(cfg, ModelConfig(hidden=16), verbose=0)
    files = list_weight_files(tmp_path)
    assert [f.name for f in files] == ["LSTM_NP_Weights_Iter-2.weights.h5", "LSTM_NP_Weights_Iter-3.weights.h5"]
    assert sorted(p.name for p in tmp_path.glob("*.preview.wav")) == [
        "LSTM_NP_Weights_Iter-2.preview.wav", "LSTM_NP_Weights_Iter-3.preview.wav"]  # iteration 1's went with it
    for weights in files:
        preview = read_checkpoint(weights).preview
        rate, pcm = wavfile.read(tmp_path / preview["file"])
        assert rate == 8000 and len(pcm) == 16000 and preview["seed_clip"] == 0
        assert isinstance(preview["music"], bool) and set(preview["failed"]) <= {"loud", "tonal", "moves", "no loop",
                                                                                 "no copy"}
        assert "iteration" in describe(weights) and "preview: " in describe(weights)
    assert list((tmp_path / "tb" / "previews").glob("events.out.tfevents*"))


@pytest.mark.parametrize("cell, options", [("lstm", {}), ("gru", {}),
                                           ("lstm", {"block": "logmag", "prenet_dropout": 0.3}),
                                           ("lstm", {"output": "gaussian"})])
@pytest.mark.trains
def test_bfloat16_training_lowers_the_loss_and_writes_float32_weights_that_generate(small_data, tmp_path, cell,
                                                                                    options):
    import h5py
    import numpy as np

    from musicgen.config import BlockSpec, GenerateConfig, ModelConfig
    from musicgen.generate.generation import generate
    from musicgen.formats.weights import read_checkpoint
    from musicgen.train.loop import train

    from helpers import train_config

    if "block" in options:
        options = {**options, "block": BlockSpec(representation=options["block"])}
    cfg = train_config(small_data, tmp_path, n_iter=1, n_epochs=4, precision="bfloat16",
                       scheduled_sampling=0.3 if options else 0.0)
    result = train(cfg, ModelConfig(cell=cell, hidden=32, **options), verbose=0)
    ckpt = read_checkpoint(result.checkpoint)
    losses = ckpt.history["loss"]
    assert ckpt.training["precision"] == "bfloat16" and losses[-1] < losses[0] and np.isfinite(losses).all()
    with h5py.File(result.checkpoint) as f:
        dtypes = set()
        f.visititems(lambda name, obj: dtypes.add(str(obj.dtype)) if isinstance(obj, h5py.Dataset) else None)
    assert "float32" in dtypes and "bfloat16" not in dtypes
    import keras
    assert keras.mixed_precision.global_policy().name == "float32"  # put back after training
    [song] = generate(result.checkpoint, GenerateConfig(seconds=2.0, data_prefix=small_data, out_dir=tmp_path / "s",
                                                        random_seed=0))
    assert song.path.is_file()

"""export.py: a network as one step in ONNX, SavedModel and TFLite that gives the Keras network's outputs, and
the example player that makes music from an ONNX export in an environment without TensorFlow."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from musicgen.atomic import check_writable
from musicgen.audio.io import read_audio
from musicgen.config import BlockSpec, ExportConfig, ModelConfig
from musicgen.errors import OutputError, WeightsError
from musicgen.evaluate.report import judge_song, training_reference
from musicgen.export.exporting import export
from musicgen.export.network_files import load_step
from musicgen.formats.export import CARD, read_export_info
from musicgen.formats.weights import read_checkpoint
from musicgen.generate.generation import stateful_model
from musicgen.models.model import reset_states
from musicgen.train.loop import train

from helpers import REPO, converted_minuet, run_script, train_config

PLAYER_PYTHON = REPO / ".venv-player" / "bin" / "python"


def player(*args) -> list[str]:
    """The command line of examples/onnx_player.py in its own environment, as a user without TensorFlow runs it."""
    return [str(PLAYER_PYTHON), str(REPO / "examples" / "onnx_player.py"), *map(str, args)]


def play(*args):
    """The example player run to its end."""
    return subprocess.run(player(*args), capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return converted_minuet(tmp_path_factory.mktemp("export"), store="logmag", overlap=True).output_prefix


@pytest.fixture(scope="module")
def networks(data, tmp_path_factory):
    """The main preset's kind, small: mel bands of overlapping blocks, a mixture drawn each block, pre-net dropout
    (two LSTM layers, trained long enough to make music); and a GRU."""
    root = tmp_path_factory.mktemp("networks")
    block = BlockSpec(representation="logmel", bands=16)
    lstm = train(train_config(data, root / "lstm", n_iter=1, n_epochs=10, normalisation="bin", bound=0.0),
                 ModelConfig(hidden=32, layers=2, block=block, output="mixture", components=2, prenet_dropout=0.2),
                 verbose=0)
    gru = train(train_config(data, root / "gru", n_iter=1, n_epochs=2, normalisation="bin"),
                ModelConfig(cell="gru", hidden=32, block=block, output="gaussian"), verbose=0)
    return {"lstm": lstm.checkpoint, "gru": gru.checkpoint}


@pytest.mark.trains
@pytest.mark.parametrize("cell, export_format", [("lstm", "onnx"), ("lstm", "savedmodel"), ("lstm", "tflite"),
                                                 ("gru", "onnx")])
def test_the_exported_step_gives_the_keras_networks_outputs_over_100_steps(networks, tmp_path, cell, export_format):
    weights = networks[cell]
    done = export(weights, ExportConfig(export_format=export_format, output=tmp_path / "out"))
    info, arrays = read_export_info(done.folder)
    assert info.network_format == export_format and (done.folder / info.network_file).exists()
    assert info.state_values == {"lstm": 2 * 2 * 32, "gru": 32}[cell] and info.block_values == 16
    assert arrays["seeds"].shape == (4, info.seed_blocks, 16) and np.isfinite(arrays["seeds"]).all()
    step = load_step(done.folder / info.network_file, export_format)

    ckpt = read_checkpoint(weights)
    keras_model = stateful_model(ckpt, 1)
    reset_states(keras_model)
    rng = np.random.default_rng(0)
    state = np.zeros((1, info.state_values), np.float32)
    keep_all = np.ones((1, info.prenet_units), np.float32)  # Keras without training=True drops nothing
    for _ in range(100):
        block = rng.standard_normal((1, info.block_values), dtype=np.float32)
        expected = keras_model(block[:, None], training=False).numpy()[:, 0]
        distribution, state = step(block, state, keep_all)
        np.testing.assert_allclose(distribution, expected, atol=1e-4 * max(1.0, np.abs(expected).max()))


def test_an_export_never_writes_into_a_folder_that_holds_files(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep me")
    with pytest.raises(OutputError, match="already holds files: nothing is overwritten"):
        export(tmp_path / "no.weights.h5", ExportConfig(output=tmp_path / "out"))
    (tmp_path / "file").write_text("keep me too")
    with pytest.raises(OutputError, match="in the way"):
        export(tmp_path / "no.weights.h5", ExportConfig(output=tmp_path / "file"))
    assert (tmp_path / "out" / "mine.txt").read_text() == "keep me" and (tmp_path / "file").read_text() == "keep me too"


def test_a_damaged_player_json_is_one_line(tmp_path):
    (tmp_path / CARD).write_text('{"format": "lstm-music-generation-export/1", "cell": 3}')
    with pytest.raises(WeightsError, match="is not a readable export") as err:
        read_export_info(tmp_path)
    assert "\n" not in str(err.value)


@pytest.mark.script
def test_a_folder_left_by_a_killed_export_is_removed_by_the_next_run(tmp_path):
    code = ("import os, sys; from pathlib import Path; from musicgen.atomic import temp_path; "
            "part = temp_path(Path(sys.argv[1])); part.mkdir(); (part / 'step.onnx').write_bytes(b'half'); "
            "print(part, flush=True); os.kill(os.getpid(), 9)")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL and os.path.isdir(proc.stdout.strip())
    check_writable(tmp_path)  # what every export run does first in the folder it writes into
    assert not os.path.exists(proc.stdout.strip()) and not (tmp_path / "out").exists()


@pytest.mark.script
@pytest.mark.trains
def test_the_example_player_makes_music_from_an_onnx_export_without_tensorflow(networks, data, tmp_path):
    assert PLAYER_PYTHON.exists(), "the player's own environment is made by `make test` (.venv-player)"
    no_tf = subprocess.run([str(PLAYER_PYTHON), "-c", "import tensorflow"], capture_output=True)
    assert no_tf.returncode != 0  # TensorFlow is not there to lean on
    out = run_script("export.py", "--weights", networks["lstm"], "--output", tmp_path / "exported", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["files"] == ["player.json", "player.npz", "step.onnx"] and doc["difference"] < 1e-4

    again = run_script("export.py", "--weights", networks["lstm"], "--output", tmp_path / "exported")
    assert again.returncode == 1 and "nothing is overwritten" in again.stderr and len(again.stderr.splitlines()) == 1

    reference = training_reference(data)
    for seed in (0, 3):
        song = tmp_path / f"song{seed}.wav"
        played = play(tmp_path / "exported", "--seconds", 20, "--seed", seed, "--random-seed", 1, "--output", song)
        assert played.returncode == 0, played.stderr
        samples, rate = read_audio(song)
        assert rate == 8000 and abs(len(samples) / rate - 20.0) < 0.01
        music, judged = judge_song(samples, rate, 0.0, reference, 0.0625)
        assert judged == pytest.approx(20.0, abs=0.5) and music >= 15.0, (seed, music, judged)

    learned = run_script("export.py", "--weights", networks["lstm"], "--output", tmp_path / "learned", "--detail",
                         "learned", "--seeds", 1)
    assert learned.returncode == 0, learned.stderr
    info, arrays = read_export_info(tmp_path / "learned")
    assert arrays["detail_weights"].shape == (16 + 1, info.block.bins) and arrays["seeds"].shape[0] == 1
    song = tmp_path / "learned.wav"
    assert play(tmp_path / "learned", "--seconds", 20, "--random-seed", 1, "--output", song).returncode == 0
    samples, rate = read_audio(song)
    assert judge_song(samples, rate, 0.0, reference, 0.0625)[0] >= 15.0

    refused = play(tmp_path / "exported", "--seconds", 1, "--output", tmp_path / "song0.wav")
    assert refused.returncode == 2 and "nothing is overwritten" in refused.stderr

    stopped = tmp_path / "stopped"
    stopped.mkdir()
    proc = subprocess.Popen(player(tmp_path / "exported", "--seconds", 3600, "--output", stopped / "song.wav"),
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not any(stopped.iterdir()) and time.monotonic() < deadline:  # its part file: the song has begun
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err and not any(stopped.iterdir())

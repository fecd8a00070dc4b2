"""generate.py --stream: the song as a WAV on standard output while it is made, kept in --out-dir however it
ends (its length reached, Ctrl-C or SIGTERM, the player closed), run as a user runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from scipy.io import wavfile

from musicgen.config import BlockSpec, ModelConfig
from musicgen.train.loop import train

from helpers import REPO, converted_minuet, ctrl_c_as_from_a_terminal, run_in_pty, train_config


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A tiny network of the main preset's kind: mel bands of overlapping blocks, a mixture drawn each block."""
    root = tmp_path_factory.mktemp("stream")
    data = converted_minuet(root, store="logmag", overlap=True).output_prefix
    block = BlockSpec(representation="logmel", bands=16)
    result = train(train_config(data, root / "w", n_iter=1, n_epochs=2, normalisation="bin"),
                   ModelConfig(hidden=32, block=block, output="mixture", components=2), verbose=0)
    return result.checkpoint


def stream(weights, out_dir, *args, stdout=subprocess.PIPE):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([sys.executable, str(REPO / "generate.py"), "--weights", str(weights), "--stream",
                             "--out-dir", str(out_dir), *map(str, args)], cwd=REPO, env=env, stdout=stdout,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, preexec_fn=ctrl_c_as_from_a_terminal)


def kept_songs(folder):
    return sorted(p for p in folder.iterdir() if p.suffix == ".wav"), [p for p in folder.iterdir()
                                                                        if p.name.startswith(".part")]


@pytest.mark.script
@pytest.mark.trains
def test_a_streamed_song_sent_to_a_file_is_a_whole_wav_and_kept_the_same(weights, tmp_path):
    with open(tmp_path / "song.wav", "wb") as out:
        proc = stream(weights, tmp_path / "songs", "--seconds", 6, "--random-seed", 3, stdout=out)
        _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    rate, song = wavfile.read(tmp_path / "song.wav")  # the header tells the true length: stdout could seek
    assert rate == 8000 and abs(len(song) / rate - 6.0) < 0.2 and np.abs(song).max() > 100
    songs, parts = kept_songs(tmp_path / "songs")
    assert [p.name for p in songs] == ["generated_song1.wav"] and not parts
    assert songs[0].read_bytes() == (tmp_path / "song.wav").read_bytes()
    assert songs[0].with_suffix(".png").is_file() and songs[0].with_suffix(".json").is_file()
    assert f"wrote {songs[0]}" in err.decode()  # the words go to standard error, never into the audio


@pytest.mark.script
@pytest.mark.trains
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_endless_song_plays_at_once_and_is_kept_when_stopped(weights, tmp_path, stop):
    proc = stream(weights, tmp_path / "songs", "--seconds", 0)
    header = proc.stdout.read(44)
    assert header[:4] == b"RIFF" and header[8:16] == b"WAVEfmt "
    heard = proc.stdout.read(8000 * 2 * 3)  # three seconds: it plays as it is made
    assert len(heard) == 8000 * 2 * 3
    time.sleep(1.0)
    proc.send_signal(stop)
    rest, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()
    songs, parts = kept_songs(tmp_path / "songs")
    assert len(songs) == 1 and not parts
    rate, song = wavfile.read(songs[0])
    # Everything sent was kept, and nothing more than was made.
    assert len(song) * 2 >= len(heard) + len(rest) - 4 and len(song) / rate >= 3.0
    assert f"wrote {songs[0]}" in err.decode() and "interrupted" in err.decode()


@pytest.mark.script
@pytest.mark.trains
def test_a_second_ctrl_c_while_the_song_is_being_kept_does_not_lose_it(weights, tmp_path):
    proc = stream(weights, tmp_path / "songs", "--seconds", 0)
    proc.stdout.read(44 + 8000 * 2 * 2)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.2)  # while its last frames are played, judged and drawn
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()
    songs, parts = kept_songs(tmp_path / "songs")
    assert len(songs) == 1 and not parts and songs[0].with_suffix(".json").is_file()


@pytest.mark.script
@pytest.mark.trains
def test_a_player_that_stops_listening_ends_the_song_and_keeps_it(weights, tmp_path):
    proc = stream(weights, tmp_path / "songs", "--seconds", 0)
    proc.stdout.read(44 + 8000 * 2 * 2)
    proc.stdout.close()  # the player quits
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    songs, parts = kept_songs(tmp_path / "songs")
    assert len(songs) == 1 and not parts and wavfile.read(songs[0])[1].size >= 8000 * 2


@pytest.mark.script
@pytest.mark.trains
def test_stream_refuses_a_terminal_more_songs_and_json_in_one_line(weights, tmp_path):
    code, screen = run_in_pty("generate.py", "--weights", weights, "--stream", "--out-dir", tmp_path, keys=[],
                              wait_for="never shown", timeout=120)
    assert code == 1 and "send it to a player (| play -t wav -) or a file (> song.wav)" in screen
    for args, message in ((["--count", 2], "--stream sends one song"), (["--json"], "cannot go with --json")):
        proc = stream(weights, tmp_path, *args)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode in (1, 2) and message in err.decode() and len(err.decode().splitlines()) <= 3
        assert not out.startswith(b"RIFF")
    songs, _ = kept_songs(tmp_path)
    assert not songs
    # --seconds 0 without --stream would never end: refused.
    plain = subprocess.run([sys.executable, str(REPO / "generate.py"), "--weights", str(weights), "--seconds", "0",
                            "--out-dir", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert plain.returncode == 2 and "--seconds 0 means a song without end" in plain.stderr

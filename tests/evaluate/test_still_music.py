"""The still-music measures on signals whose answer is known: a loop, music the reference never held, each
way of dying, the timeline, and songs measured after the echo their sidecar says."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from scipy.io import wavfile

from musicgen.evaluate.measures import loop_score, measure_window, timeline
from musicgen.evaluate.report import load_reference
from musicgen.formats.songs import read_song_info, song_info_path

from helpers import MUSIC, decoded, run_script

RATE = 22050
BLOCK = RATE // 4


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Two of the bundled pieces as the 'training music'; the third (conftest's unseen) stays unseen."""
    folder = tmp_path_factory.mktemp("reference")
    for name in ("minuet_in_g.mp3", "ode_to_joy.mp3"):
        subprocess.run(["lame", "--decode", "--quiet", str(MUSIC / name), str(folder / (name[:-4] + ".wav"))],
                       check=True)
    return load_reference([folder])


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


@pytest.mark.script
def test_evaluate_reads_the_sidecar_and_measures_after_the_echo(unseen, tmp_path):
    # The 'echo' is 5 s of silence; the new music after it is real music.
    song = tmp_path / "generated_song1.wav"
    wavfile.write(song, RATE, np.concatenate([np.zeros(RATE * 5, np.float32), unseen]))
    song_info_path(song).write_text(json.dumps({"echo_seconds": 5.0, "hop_seconds": 0.25}))
    assert read_song_info(song).echo_seconds == 5.0 and read_song_info(song).step_seconds == 0.25
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


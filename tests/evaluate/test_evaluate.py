"""evaluate.py: known values for known signals, and real music told apart from noise and silence."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.io import wavfile

from musicgen.evaluate.measures import (ANALYSIS_RATE, CHUNK_FRAMES, FRAME, HOP, analyse_reference, change_summary,
                                        log_mel, mel_profile, nearest_excerpt, power_chunks, power_spectrogram,
                                        rms_dbfs, seam_click_db, spectral_centroid, spectral_change, spectral_flatness,
                                        to_analysis_rate)

from helpers import music_excerpt, run_script

RATE = ANALYSIS_RATE


def sine(freq: float, seconds: float = 2.0, amplitude: float = 1.0, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_loudness_of_sines_and_silence():
    assert rms_dbfs(sine(440.0)) == pytest.approx(-3.01, abs=0.02)
    assert rms_dbfs(sine(440.0, amplitude=0.1)) == pytest.approx(-23.01, abs=0.02)
    assert rms_dbfs(np.zeros(1000, np.float32)) == pytest.approx(-100.0)


def test_flatness_is_that_of_theory_for_noise_and_tiny_for_a_sine(rng):
    noise = rng.standard_normal(RATE * 4).astype(np.float32) * 0.1
    # Periodogram bins of Gaussian noise are exponential: geometric/arithmetic mean = exp(-Euler's gamma).
    assert spectral_flatness(power_spectrogram(noise)) == pytest.approx(np.exp(-np.euler_gamma), abs=0.02)
    assert spectral_flatness(power_spectrogram(sine(1000.0, amplitude=0.5))) < 1e-3


def test_centroid_of_a_sine_is_its_frequency():
    assert spectral_centroid(power_spectrogram(sine(1000.0))) == pytest.approx(1000.0, rel=0.01)
    assert spectral_centroid(power_spectrogram(sine(3000.0))) == pytest.approx(3000.0, rel=0.01)


def test_resampling_keeps_a_sine_where_it_was():
    at_8k = sine(500.0, rate=8000)
    resampled = to_analysis_rate(at_8k, 8000)
    assert len(resampled) == pytest.approx(2.0 * RATE, abs=2)
    assert spectral_centroid(power_spectrogram(resampled)) == pytest.approx(500.0, rel=0.01)


def test_no_seam_clicks_in_continuous_audio_and_exact_value_for_a_click_train():
    block = 1000
    # A frequency whose period does not divide the block, so seams fall at every phase.
    assert abs(seam_click_db(sine(443.7), block)) < 1.0
    clicks = np.zeros(20 * block, np.float32)
    clicks[block::block] = 1.0  # one impulse at every seam
    n_seams = 19
    # Jumps are 1 at each seam, -1 just after it, 0 elsewhere.
    expected = 10 * np.log10(1.0 / (n_seams / (len(clicks) - 1 - n_seams)))
    assert seam_click_db(clicks, block) == pytest.approx(expected, abs=1e-6)
    # A sine restarted at every block, as blocks generated without regard to each other: loud clicks.
    restarted = np.tile(sine(443.7, seconds=block / RATE * 1.3)[:block], 20)
    assert seam_click_db(restarted, block) > 10.0


def test_nearest_excerpt_finds_a_verbatim_copy(rng):
    reference = log_mel(power_spectrogram(rng.standard_normal(RATE * 6).astype(np.float32)))
    copy = reference[100:180]
    distance, offset = nearest_excerpt(copy, reference)
    assert offset == 100
    assert distance == pytest.approx(0.0, abs=1e-3)
    other, _ = nearest_excerpt(copy + 6.0, reference)
    assert other == pytest.approx(6.0, abs=0.5)


def test_spectral_change_is_the_step_between_notes_and_zero_for_a_held_one(rng):
    second = 43 * HOP  # samples in one change window
    a, b = sine(440.0, seconds=1.0)[:second], sine(1320.0, seconds=1.0)[:second]
    # Each window is one note: the change is the distance between the two notes' spectra, less the few
    # STFT frames that straddle a boundary and hold both.
    step = float(np.sqrt(np.mean(np.square(log_mel(power_spectrogram(a)).mean(0)
                                           - log_mel(power_spectrogram(b)).mean(0)))))
    alternating = np.concatenate([a, b] * 4)
    change = spectral_change(log_mel(power_spectrogram(alternating)))
    assert len(change) == 6  # 8 s of audio make 7 whole windows: the STFT's last frame ends 1.5 frames early
    assert change == pytest.approx(np.full(6, step), rel=0.15)
    assert spectral_change(log_mel(power_spectrogram(np.tile(a, 8)))).max() < 0.05
    noise = rng.standard_normal(8 * second).astype(np.float32) * 0.1
    assert spectral_change(log_mel(power_spectrogram(noise))).mean() < 1.5
    # Notes, then a held note for the last quarter: moving overall, still at the end.
    settles = np.concatenate([alternating, np.tile(a, 4)])
    change, at_end = change_summary(log_mel(power_spectrogram(settles)))
    assert change > 0.5 * step and at_end < 0.05
    assert change_summary(log_mel(power_spectrogram(a))) == (None, None)


def test_reference_measures_of_music():
    # A piano-like tone: harmonics decaying, as the bundled music.
    t = np.arange(RATE * 3) / RATE
    tone = sum(0.3 / k * np.sin(2 * np.pi * 262 * k * t) for k in range(1, 6)) * np.exp(-t % 0.5 * 4)
    ref = analyse_reference(tone.astype(np.float32))
    assert ref.measures.flatness < 0.01
    assert 262 < ref.measures.centroid_hz < 1300


def test_the_training_music_analysed_in_chunks_measures_what_it_measures_whole():
    # Longer than two chunks of frames, with an odd tail: the chunks' frames must be exactly the whole's.
    rng = np.random.default_rng(3)
    t = np.arange((2 * CHUNK_FRAMES + 5) * HOP + FRAME + 100) / RATE
    music = (np.sin(2 * np.pi * 330 * t) * np.exp(-t % 0.7 * 3) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)
    whole = power_spectrogram(music)
    np.testing.assert_array_equal(np.concatenate(list(power_chunks(music))), whole)
    ref = analyse_reference(music)
    np.testing.assert_allclose(ref.mel, log_mel(whole), rtol=1e-6)
    np.testing.assert_allclose(ref.profile, mel_profile(whole), rtol=1e-6, atol=1e-9)
    assert ref.measures.flatness == pytest.approx(spectral_flatness(whole), rel=1e-9)
    assert ref.measures.centroid_hz == pytest.approx(spectral_centroid(whole), rel=1e-9)
    assert ref.measures.rms_dbfs == pytest.approx(10 * np.log10(np.mean(np.square(music, dtype=np.float64))), abs=1e-9)
    assert len(list(power_chunks(music[:FRAME // 2]))) == 1  # shorter than a frame: one padded frame


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Real music: a training folder (two excerpts), another excerpt of the same piece, noise and silence."""
    root = tmp_path_factory.mktemp("eval")
    train = root / "train"
    train.mkdir()
    music_excerpt(train / "a.wav", 8.0, start=0.0)
    music_excerpt(train / "b.wav", 8.0, start=20.0, source="ode_to_joy.mp3")
    music_excerpt(root / "song.wav", 4.0, start=10.0)
    rng = np.random.default_rng(5)
    wavfile.write(root / "noise.wav", 44100, (rng.standard_normal(44100 * 4) * 3000).astype(np.int16))
    wavfile.write(root / "silence.wav", 44100, np.zeros(44100 * 4, np.int16))
    return root


@pytest.mark.script
def test_evaluate_tells_music_from_noise_and_silence(clips):
    plot = clips / "eval.png"
    res = run_script("evaluate.py", clips / "song.wav", clips / "noise.wav", clips / "silence.wav",
                     "--reference", clips / "train", "--plot", plot, "--json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    music, noise, silence = report["songs"]
    assert music["music_like"] and not noise["music_like"] and not silence["music_like"]
    assert not noise["tests"]["flatness_ok"] and not silence["tests"]["loudness_ok"]
    assert music["mel_distance_db"] < report["white_noise"]["mel_distance_db"] < report["silence"]["mel_distance_db"]
    assert music["flatness"] < 0.05 < 0.4 < noise["flatness"]
    # Real piano music moves several dB from second to second; steady noise and silence do not.
    assert music["change_db"] > 3.0 and report["reference"]["change_db"] > 3.0
    assert noise["change_db"] < 1.5 and silence["change_db"] == 0.0
    assert plot.stat().st_size > 10_000


@pytest.mark.script
def test_evaluate_table_and_copy_detection(clips):
    # The training file itself is a verbatim copy: nearest excerpt ~0 dB, at its start.
    res = run_script("evaluate.py", clips / "train" / "a.wav", "--reference", clips / "train")
    assert res.returncode == 0, res.stderr
    assert "MUSIC-LIKE" in res.stdout and "close to a verbatim copy" in res.stdout
    assert "white noise" in res.stdout and "silence" in res.stdout


@pytest.mark.script
def test_evaluate_missing_inputs_are_one_line_errors(clips, tmp_path):
    res = run_script("evaluate.py", tmp_path / "nope.wav", "--reference", clips / "train")
    assert res.returncode == 1
    assert res.stderr.strip().count("\n") == 0 and "does not exist" in res.stderr
    res = run_script("evaluate.py", clips / "song.wav", "--reference", tmp_path / "missing")
    assert res.returncode == 1 and "convert_directory.py" in res.stderr
    (tmp_path / "bad.wav").write_bytes(b"not a wav at all")
    res = run_script("evaluate.py", tmp_path / "bad.wav", "--reference", clips / "train")
    assert res.returncode == 1 and "not a readable WAV" in res.stderr

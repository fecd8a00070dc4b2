"""The decoder's ceiling: the round-trip measures, fine frames and their Griffin-Lim, and
generate.py --resynthesize, on real music."""

from __future__ import annotations

import re

import numpy as np
import pytest

from musicgen.audio import frames
from musicgen.audio.io import read_audio
from musicgen.config import BlockSpec, ModelConfig
from musicgen.audio.spectra import mel_filterbank
from musicgen.evaluate.fidelity import WINDOWS, fidelity, log_spectral_distance, spectrum_distance_db
from musicgen.generate.resynthesis import round_trip
from musicgen.formats.weights import read_checkpoint

from helpers import MUSIC, converted_minuet, music_excerpt, run_script, train_config

RATE = 16000


@pytest.fixture(scope="module")
def minuet(tmp_path_factory) -> np.ndarray:
    """6 s of the bundled minuet at 16 kHz, mono float."""
    mp3 = music_excerpt(tmp_path_factory.mktemp("fidelity") / "minuet.mp3", 6.0)
    return read_audio(mp3, RATE, resample=True)[0]


def test_a_signal_is_at_no_distance_from_itself_and_far_from_noise(minuet, rng):
    same = fidelity(minuet, minuet)
    assert same.lsd_db == (0.0,) * len(WINDOWS) and same.convergence_db < -200
    noise = rng.normal(0, float(np.std(minuet)), len(minuet)).astype(np.float32)
    far = fidelity(minuet, noise)
    assert min(far.lsd_db) > 15 and far.convergence_db > -1


@pytest.mark.parametrize("gain_db", [1.0, 6.0])
def test_a_louder_copy_is_its_gain_away_at_every_window(minuet, gain_db):
    """Every bin is the gain away, except those at the silence floor, which both signals share."""
    louder = minuet * np.float32(10 ** (gain_db / 20))
    for window in WINDOWS:
        assert 0.85 * gain_db < log_spectral_distance(minuet, louder, window) <= gain_db + 1e-3


def test_the_long_term_spectrum_over_mel_bands_weighs_the_highs_as_the_ear_does(minuet, rng):
    """A change above 6 kHz (a quarter of the bins at 16 kHz, five of the 64 mel bands) moves the bins' distance
    far more than the bands'; a gain moves both by itself."""
    mel = mel_filterbank(BlockSpec(sample_rate=RATE, block_size=1024, overlap=True, representation="logmel", bands=64))
    halves = [minuet[: len(minuet) // 2]], [minuet[len(minuet) // 2:]]
    louder = [x * np.float32(2.0) for x in halves[0]]
    assert spectrum_distance_db(louder, halves[0], 1024) == pytest.approx(6.02, abs=0.05)
    assert spectrum_distance_db(louder, halves[0], 1024, mel) == pytest.approx(6.02, abs=0.05)
    spectrum = np.fft.rfft(rng.normal(0.0, 0.05, len(halves[0][0])))
    spectrum[np.fft.rfftfreq(len(halves[0][0]), 1 / RATE) < 6000] = 0
    hiss = [halves[0][0] + np.fft.irfft(spectrum, len(halves[0][0])).astype(np.float32)]
    bins, bands = spectrum_distance_db(hiss, halves[1], 1024), spectrum_distance_db(hiss, halves[1], 1024, mel)
    assert bins > 2 * bands and bins > spectrum_distance_db(halves[0], halves[1], 1024) + 5


@pytest.mark.parametrize("frame, hop", [(2048, 512), (1024, 256), (512, 128), (64, 32)])
def test_frames_overlap_add_back_to_the_signal(minuet, frame, hop):
    spec = frames.FrameSpec(sample_rate=RATE, frame=frame, hop=hop, bands=0)
    spectra = frames.stft(minuet, spec)
    assert spectra.shape == (frames.n_frames(len(minuet), spec), spec.bins)
    np.testing.assert_allclose(frames.istft(spectra, spec, len(minuet)), minuet, atol=2e-5)


@pytest.mark.parametrize("frame, hop", [(1000, 300), (1024, 1024)])
def test_a_frame_that_is_not_two_or_more_whole_hops_is_refused(frame, hop):
    with pytest.raises(ValueError, match="whole number"):
        frames.FrameSpec(frame=frame, hop=hop)


def test_fine_frames_come_back_closer_than_the_main_presets_blocks_and_more_bands_closer_still(minuet):
    """The ordering the decoder work rests on (docs/RESULTS.md, "The decoder's ceiling")."""
    rng = np.random.default_rng(0)
    block = BlockSpec(sample_rate=RATE, block_size=4000, overlap=True, representation="logmel", bands=64)
    main = fidelity(minuet, round_trip(minuet, block, rng))
    mel = {bands: fidelity(minuet, frames.resynthesize(minuet, frames.FrameSpec(RATE, 1024, 256, bands), rng=rng))
           for bands in (32, 128, 0)}
    assert mel[0].lsd_db[1] < mel[128].lsd_db[1] < mel[32].lsd_db[1]
    assert mel[128].lsd_db[0] < main.lsd_db[0] and mel[0].lsd_db[1] < main.lsd_db[1] - 3
    assert mel[0].convergence_db < -12  # Griffin-Lim from every bin's magnitude finds a consistent phase


def test_the_round_trip_of_gruvs_values_is_the_music_itself(minuet):
    block = BlockSpec(sample_rate=RATE, block_size=4000)
    rebuilt = round_trip(minuet, block, np.random.default_rng(0))
    np.testing.assert_allclose(rebuilt, minuet, atol=1e-4)


@pytest.mark.script
@pytest.mark.trains
def test_generate_resynthesize_writes_each_file_beside_the_last_and_measures_it(tmp_path):
    cfg = converted_minuet(tmp_path, store="logmag", overlap=True)
    from musicgen.train.loop import train

    model = ModelConfig(hidden=8, block=BlockSpec(representation="logmel", bands=24))
    weights = train(train_config(cfg.output_prefix, tmp_path / "w", n_iter=1, n_epochs=1), model, verbose=0).checkpoint
    songs = tmp_path / "songs"
    for _ in range(2):
        proc = run_script("generate.py", "--weights", weights, "--resynthesize", MUSIC / "ode_to_joy.mp3",
                          "--out-dir", songs, "--random-seed", 3)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "log-spectral distance" in proc.stdout
    first, second = songs / "ode_to_joy.resynthesized.wav", songs / "ode_to_joy.resynthesized-2.wav"
    assert first.is_file() and second.is_file() and not list(songs.glob("generated_song*"))
    samples, rate = read_audio(first)
    source = read_audio(MUSIC / "ode_to_joy.mp3", 8000, resample=True)[0]
    assert rate == 8000 and len(samples) == len(source)
    block = read_checkpoint(weights).model.block
    np.testing.assert_allclose(samples, round_trip(source, block, np.random.default_rng([3, 2])), atol=1e-4)
    shown = re.search(r"distance ([\d.]+) / ([\d.]+) / ([\d.]+) dB", proc.stdout).groups()
    assert [float(d) for d in shown] == pytest.approx(fidelity(source, samples).lsd_db, abs=0.06)
    missing = run_script("generate.py", "--weights", weights, "--resynthesize", tmp_path / "nothing.mp3",
                         "--out-dir", songs)
    assert missing.returncode == 1 and "nothing.mp3" in missing.stderr and "Traceback" not in missing.stderr

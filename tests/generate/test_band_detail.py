"""generate.py --detail nearest: a logmel song shaped within its bands like the nearest training block, and
--detail learned: by a linear map from its bands fitted on the training blocks; on real music."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from musicgen.audio.io import read_audio
from musicgen.audio.representation import band_bins, to_signal
from musicgen.audio.spectra import LOG_FLOOR
from musicgen.config import BlockSpec, ModelConfig
from musicgen.data.convert import convert_directory
from musicgen.data.training_data import feature_stats, load_training_data
from musicgen.evaluate.fidelity import fidelity
from musicgen.evaluate.measures import power_spectrogram, spectral_flatness, to_analysis_rate
from musicgen.generate.band_detail import band_detail, learned_detail
from musicgen.generate.resynthesis import round_trip
from musicgen.train.loop import train

from helpers import converted_minuet, music_excerpt, run_script, small_config, train_config

LOGMEL = dict(representation="logmel", bands=24)


@pytest.fixture(scope="module")
def minuet(tmp_path_factory):
    """9.2 s of the bundled minuet as overlapping blocks, stored compactly: its prefix and its bands' statistics."""
    root = tmp_path_factory.mktemp("detail")
    cfg = converted_minuet(root, store="logmag", overlap=True)
    data = load_training_data(cfg.output_prefix)
    block = dataclasses.replace(data.block, **LOGMEL)
    stats = feature_stats(data, block)
    return cfg.output_prefix, block, stats.mean.astype(np.float32), np.sqrt(stats.variance).astype(np.float32) + 1e-3


def test_the_musics_own_bands_get_back_its_own_bins(minuet):
    prefix, block, mean, std = minuet
    data = load_training_data(prefix)
    detail = band_detail(data, block, mean, std)
    assert detail.bands.shape == (data.clips * data.x.shape[1], block.bands)
    clip = 2
    truth = data.x.read([clip])[0].astype(np.float64)  # log magnitudes of every block of the clip
    song = detail.bands[clip * data.x.shape[1]: (clip + 1) * data.x.shape[1]]
    # Each block is lent itself (or its twin: a compact clip's last block is the next clip's first).
    np.testing.assert_allclose(detail.bands[detail.nearest_run(song)], song, atol=1e-5)
    smooth = band_bins(song * std + mean, block)
    shaped = smooth * np.exp(detail.lend(song * std + mean))
    heard = truth > np.log(100 * LOG_FLOOR)  # bins well above the floor
    # Within 3% where the smooth spread misses by over a third (the gaps between the minuet's partials).
    assert np.median(np.abs(np.log(shaped[heard]) - truth[heard])) < 0.03
    assert np.median(np.abs(np.log(smooth[heard] + LOG_FLOOR) - truth[heard])) > 0.3


def test_songs_with_the_detail_are_far_less_flat_than_the_smooth_spread(minuet):
    prefix, block, mean, std = minuet
    data = load_training_data(prefix)
    detail = band_detail(data, block, mean, std)
    song = detail.bands[: 3 * data.x.shape[1]] + np.random.default_rng(0).normal(0, 0.1, (3 * data.x.shape[1], 24))
    raw = (song * std + mean).astype(np.float32)

    def flatness(**kw):
        audio = to_signal(raw, block, rng=np.random.default_rng(0), **kw)
        return spectral_flatness(power_spectrogram(to_analysis_rate(audio, block.sample_rate)))

    smooth, shaped = flatness(), flatness(detail=detail.lend(raw))
    assert shaped < smooth / 2


def converted(root: Path, source: str, seconds: float, start: float):
    """`seconds` of a bundled piece from `start`, converted as the minuet is (overlapping blocks at 8 kHz, stored
    compactly); (its tensors, its samples)."""
    cfg = small_config(root, overlap=True)
    cfg = dataclasses.replace(cfg, audio=dataclasses.replace(cfg.audio, store="logmag"))
    cfg.input_dir.mkdir(parents=True)
    excerpt = music_excerpt(cfg.input_dir / "piece.mp3", seconds, start=start, source=source)
    convert_directory(cfg, progress=False)
    return load_training_data(cfg.output_prefix), read_audio(excerpt, cfg.audio.block.sample_rate, resample=True)[0]


def test_a_learned_detail_brings_another_pieces_round_trip_nearer_than_the_smooth_spread(tmp_path):
    """Fitted on 50 s of the minuet, it gives the canon back closer to itself at the longer windows, where the
    smooth spread fills the gaps between the partials."""
    minuet, _ = converted(tmp_path / "minuet", "minuet_in_g.mp3", 50.0, 0.0)
    _, canon = converted(tmp_path / "canon", "canon_in_d.mp3", 9.2, 20.0)
    block = dataclasses.replace(minuet.block, **LOGMEL)
    detail = learned_detail(minuet, block)
    assert detail.weights.shape == (block.bands + 1, block.bins) and np.isfinite(detail.weights).all()
    smooth = fidelity(canon, round_trip(canon, block, np.random.default_rng(0))).lsd_db
    learned = fidelity(canon, round_trip(canon, block, np.random.default_rng(0), lend=detail.lend)).lsd_db
    assert learned[1] < smooth[1] - 2.0 and learned[2] < smooth[2] - 2.0, (smooth, learned)


@pytest.mark.script
@pytest.mark.trains
def test_generate_records_the_detail_and_refuses_mismatched_data(minuet, tmp_path):
    prefix, block, *_ = minuet
    model = ModelConfig(cell="gru", hidden=16, output="mixture", components=2, block=BlockSpec(**LOGMEL))
    weights = train(train_config(prefix, tmp_path / "w", n_iter=1, n_epochs=1), model, verbose=0).checkpoint
    proc = run_script("generate.py", "--weights", weights, "--data", prefix, "--detail", "nearest", "--seconds", 3,
                      "--random-seed", 1, "--out-dir", tmp_path / "songs")
    assert proc.returncode == 0, proc.stderr
    sidecar = json.loads(next((tmp_path / "songs").glob("*.json")).read_text())
    assert sidecar["detail"] == "nearest" and sidecar["data"] == str(prefix)
    proc = run_script("generate.py", "--weights", weights, "--data", prefix, "--detail", "learned", "--seconds", 3,
                      "--random-seed", 1, "--out-dir", tmp_path / "learned")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "learned" / "generated_song1.json").read_text())["detail"] == "learned"
    other = small_config(tmp_path / "other")
    other.input_dir.mkdir(parents=True)
    music_excerpt(other.input_dir / "minuet.mp3", 4.0)
    convert_directory(other, progress=False)
    proc = run_script("generate.py", "--weights", weights, "--data", other.output_prefix, "--detail", "nearest",
                      "--prime", other.input_dir / "minuet.mp3", "--seconds", 3, "--out-dir", tmp_path / "songs")
    assert proc.returncode == 1 and proc.stderr.strip().count("\n") == 0 and "--data" in proc.stderr
    assert len(list((tmp_path / "songs").glob("*.wav"))) == 1
    assert Path(weights).is_file()

import dataclasses
import hashlib
import json
import wave
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from musicgen.data.convert import convert_directory
from musicgen.errors import DatasetError

from helpers import mp3_from, music_excerpt, run_script, small_config, temp_leftovers, tone


def load(prefix):
    return {k: np.load(f"{prefix}_{k}.npy") for k in ("x", "y", "mean", "var")}


@pytest.fixture
def library(tmp_path):
    """Two real music excerpts: 3.3 s mp3 and 2.2 s wav (8 kHz, 1 s clips -> 3 and 2 clips)."""
    src = tmp_path / "in"
    src.mkdir()
    music_excerpt(src / "minuet.mp3", 3.3)
    music_excerpt(src / "ode.wav", 2.2, source="ode_to_joy.mp3")
    return tmp_path


@pytest.mark.parametrize("block_size, clip_len", [(1000, 1.0), (500, 0.5), (2000, 1.0)])
def test_shapes_follow_block_size_and_clip_length(library, block_size, clip_len):
    cfg = small_config(library, block_size=block_size, clip_len=clip_len)
    summary = convert_directory(cfg, progress=False)
    t = load(cfg.output_prefix)
    blocks_per_clip = cfg.audio.clip_blocks
    # Every block of a clip and the one after it (its last target) lie in the file.
    expected = sum((f.frames - block_size) // (blocks_per_clip * block_size) for f in summary.used)
    assert t["x"].shape == (expected, blocks_per_clip, 2 * block_size)
    assert t["y"].shape == t["x"].shape
    assert t["x"].dtype == np.float32
    assert t["mean"].shape == t["var"].shape == (2 * block_size,)


@pytest.mark.parametrize("overlap", [False, True])
def test_no_block_is_padded_past_the_end_of_its_file(tmp_path, overlap):
    # Two clips' worth of music and 5 samples: GRUV's rule kept a second clip whose last target
    # was those 5 samples and 995 zeros, a block of silence after loud music.
    cfg = small_config(tmp_path, overlap=overlap)
    cfg.input_dir.mkdir()
    music_excerpt(cfg.input_dir / "minuet.wav", 2.0 + 5 / 8000)
    convert_directory(cfg, progress=False)
    t = load(cfg.output_prefix)
    assert len(t["x"]) == 1
    power = (t["y"] ** 2).sum(axis=-1)
    assert power.min() > 0.01 * np.median(power)


def test_y_is_x_shifted_by_one_block(library):
    cfg = small_config(library)
    convert_directory(cfg, progress=False)
    t = load(cfg.output_prefix)
    x, y = t["x"], t["y"]
    np.testing.assert_array_equal(y[:, :-1], x[:, 1:])
    # Clips of one file are consecutive: Y's last block is the next clip's first block.
    np.testing.assert_array_equal(y[0, -1], x[1, 0])
    assert not np.allclose(y[:, -1], 0)


def test_mean_and_variance_describe_x(library):
    cfg = small_config(library)
    convert_directory(cfg, progress=False)
    t = load(cfg.output_prefix)
    flat = t["x"].reshape(-1, t["x"].shape[-1]).astype(np.float64)
    np.testing.assert_allclose(t["mean"], flat.mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(t["var"], flat.var(0), rtol=1e-4, atol=1e-3)


def test_xmerged_plays_back_the_clips(library):
    cfg = small_config(library)
    summary = convert_directory(cfg, progress=False)
    rate, merged = wavfile.read(f"{cfg.output_prefix}_xmerged.wav")
    assert rate == 8000
    first = summary.used[0]
    _, source = wavfile.read(first.wav)
    n = first.clips * cfg.audio.clip_blocks * cfg.audio.block.block_size
    # Audio -> FFT -> float32 -> inverse FFT -> int16 loses at most a step or two.
    assert np.abs(merged[:n].astype(int) - source[:n].astype(int)).max() <= 2
    assert len(merged) == summary.clips * cfg.audio.clip_blocks * cfg.audio.block.block_size


def test_xmerged_spreads_its_merged_seconds_over_the_whole_library(library, monkeypatch):
    import musicgen.data.convert as convert
    from musicgen.audio.blocks import features_to_blocks
    from musicgen.audio.io import to_int16

    monkeypatch.setattr(convert, "MERGED_SECONDS", 2.0)  # 1 s clips: room for two of the five
    cfg = small_config(library)
    summary = convert_directory(cfg, progress=False)
    _, merged = wavfile.read(f"{cfg.output_prefix}_xmerged.wav")
    x = load(cfg.output_prefix)["x"]
    assert summary.clips == 5 and x.shape[0] == 5  # the tensors keep every clip
    n = cfg.audio.clip_blocks * cfg.audio.block.block_size
    assert len(merged) == 2 * n
    for k, clip in enumerate((0, 4)):  # the first clip and the last, not the first two
        expected = to_int16(features_to_blocks(x[clip]).reshape(-1)).astype(int)
        assert np.abs(merged[k * n:(k + 1) * n].astype(int) - expected).max() <= 1
    assert not list(cfg.output_prefix.parent.glob("*.pcm"))  # the scratch file is gone


def test_overlap_writes_windowed_half_hop_blocks_that_play_back_seamlessly(library):
    cfg = small_config(library, overlap=True)
    summary = convert_directory(cfg, progress=False)
    t = load(cfg.output_prefix)
    hop, block = cfg.audio.block.hop, cfg.audio.block.block_size
    assert hop == 500 and cfg.audio.clip_blocks == 16  # 1 s clips of blocks every 62.5 ms
    expected = sum((-(-f.frames // hop) - 1) // 16 for f in summary.used)
    assert t["x"].shape == (expected, 16, 2 * block)
    np.testing.assert_array_equal(t["y"][:, :-1], t["x"][:, 1:])
    np.testing.assert_array_equal(t["y"][0, -1], t["x"][1, 0])
    assert json.loads(Path(f"{cfg.output_prefix}_info.json").read_text())["overlap"] is True
    rate, merged = wavfile.read(f"{cfg.output_prefix}_xmerged.wav")
    first = summary.used[0]
    _, source = wavfile.read(first.wav)
    n = first.clips * 16 * hop
    # Past the first half block's fade-in, overlap-adding the windowed blocks gives the source
    # back, across clip boundaries too.
    assert np.abs(merged[hop:n].astype(int) - source[hop:n].astype(int)).max() <= 2
    assert np.abs(merged[:hop // 4].astype(int)).max() < np.abs(source[:hop // 4].astype(int)).max()


def test_stereo_48k_wav_and_flac_become_mono_at_the_target_rate(tmp_path):
    cfg = small_config(tmp_path)
    cfg.input_dir.mkdir()
    tone(cfg.input_dir / "stereo48k.wav", 2.5, rate=48000, channels=2, bits=24)
    tone(cfg.input_dir / "song.flac", 2.5, rate=22050, channels=2)
    summary = convert_directory(cfg, progress=False)
    assert len(summary.used) == 2 and not summary.skipped
    for f in summary.used:
        with wave.open(str(f.wav)) as w:
            assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (1, 8000, 2)
            assert w.getnframes() == pytest.approx(2.5 * 8000, abs=10)
    # A 440 Hz tone at 8 kHz in 1000-sample blocks puts its energy in FFT bin 55.
    x = np.load(f"{cfg.output_prefix}_x.npy")
    mag = np.hypot(x[0, 0, :1000], x[0, 0, 1000:])
    assert int(np.argmax(mag[:500])) == 55


def test_bad_inputs_are_skipped_with_reasons_and_counted(tmp_path):
    cfg = small_config(tmp_path)
    src = cfg.input_dir
    src.mkdir()
    good = music_excerpt(src / "good one.mp3", 2.5)
    (src / "empty.mp3").write_bytes(b"")
    (src / "notes.mp3").write_text("this is a text file, not an mp3\n" * 50)
    (src / "garbage.mp3").write_bytes(np.random.default_rng(0).bytes(20000))
    (src / "truncated.mp3").write_bytes(good.read_bytes()[:700])
    tone(tmp_path / "short.wav", 0.5)
    mp3_from(tmp_path / "short.wav", src / "short.mp3")
    (src / "readme.txt").write_text("not audio, not even considered")
    summary = convert_directory(cfg, progress=False)
    assert [f.path.name for f in summary.used] == ["good one.mp3"]
    reasons = dict(summary.skipped)
    assert set(reasons) == {"empty.mp3", "notes.mp3", "garbage.mp3", "truncated.mp3", "short.mp3"}
    assert reasons["empty.mp3"] == "empty file"
    assert "too short" in reasons["short.mp3"] and "too short" in reasons["truncated.mp3"] \
        or "failed" in reasons["truncated.mp3"]
    assert all("\n" not in r and r for r in reasons.values())
    text = "\n".join(summary.lines())
    assert "files converted: 1, skipped: 5" in text


@pytest.mark.parametrize("name", ["it's \"quoted\".mp3", "日本語 ünïcode.mp3", "$(touch pwned).mp3",
                                  "-starts-with-dash.mp3", "semi;colon & amp.mp3"])
def test_awkward_file_names_convert_and_run_no_shell(tmp_path, name):
    cfg = small_config(tmp_path)
    cfg.input_dir.mkdir()
    music_excerpt(cfg.input_dir / name, 2.5)
    summary = convert_directory(cfg, progress=False)
    assert [f.path.name for f in summary.used] == [name]
    assert not list(tmp_path.rglob("pwned")) and not (cfg.input_dir.parent.parent / "pwned").exists()


def test_sources_are_never_modified_and_rerunning_is_safe(library):
    cfg = small_config(library)
    digest = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in cfg.input_dir.iterdir()}
    convert_directory(cfg, progress=False)
    first = load(cfg.output_prefix)
    convert_directory(cfg, progress=False)
    second = load(cfg.output_prefix)
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
             for p in cfg.input_dir.iterdir() if p.is_file()}
    assert after == digest
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    assert not temp_leftovers(cfg.output_prefix.parent)


def test_max_files_takes_the_first_files_by_name(library):
    cfg = small_config(library)
    from dataclasses import replace

    summary = convert_directory(replace(cfg, max_files=1), progress=False)
    assert [f.path.name for f in summary.used] == ["minuet.mp3"]


@pytest.mark.parametrize("setup, message", [
    (lambda d: None, "does not exist"),
    (lambda d: d.mkdir(), "no audio files"),
    (lambda d: (d.mkdir(), (d / "x.mp3").write_text("nope")), "no usable audio"),
])
def test_nothing_usable_is_a_clear_error(tmp_path, setup, message):
    cfg = small_config(tmp_path)
    setup(cfg.input_dir)
    with pytest.raises(DatasetError, match=message):
        convert_directory(cfg, progress=False)


@pytest.mark.script
def test_cli_summary_and_one_line_errors(library, tmp_path):
    out = run_script("convert_directory.py", "--input", library / "in", "--output", tmp_path / "o" / "arr",
                     "--sample-rate", 8000, "--block-size", 1000, "--clip-len", 1, "--max-files", 5)
    assert out.returncode == 0, out.stderr
    assert "files converted: 2, skipped: 0" in out.stdout
    assert "tensor shape X = Y = (5, 8, 2000)" in out.stdout
    assert (tmp_path / "o" / "arr_x.npy").exists()

    bad = run_script("convert_directory.py", "--input", tmp_path / "nowhere")
    assert bad.returncode == 1
    assert bad.stderr.strip().count("\n") == 0 and "does not exist" in bad.stderr
    assert "Traceback" not in bad.stderr

    flag = run_script("convert_directory.py", "--block-size", "0")
    assert flag.returncode == 2 and "must be in 1..1048576, got 0" in flag.stderr


def test_default_dataset_is_two_to_four_minutes_of_licensed_mp3(tmp_path):
    from musicgen.audio.io import decode_to_wav, wav_frames

    from helpers import MUSIC

    mp3s = sorted(MUSIC.glob("*.mp3"))
    assert len(mp3s) >= 2
    assert sum(p.stat().st_size for p in mp3s) < 8_000_000
    seconds = 0.0
    for p in mp3s:
        decode_to_wav(p, tmp_path / "d.wav", sample_rate=8000)
        seconds += wav_frames(tmp_path / "d.wav") / 8000
    assert 120 <= seconds <= 240
    note = (MUSIC / "SOURCES.md").read_text()
    assert all(p.name in note for p in mp3s) and "MIT" in note


def test_shards_hold_the_same_clips_and_training_data_reads_them_as_one(library):
    from dataclasses import replace

    from musicgen.data.training_data import load_training_data

    whole = small_config(library)
    convert_directory(whole, progress=False)
    sharded = replace(whole, output_prefix=library / "sharded" / "np_array", shard_size=2)
    summary = convert_directory(sharded, progress=False)
    info = json.loads((library / "sharded" / "np_array_info.json").read_text())
    assert [s["clips"] for s in info["shards"]] == [2, 2, 1]
    names = sorted(p.name for p in (library / "sharded").glob("np_array_x-*.npy"))
    run = names[0].split("-")[1]  # every conversion writes its shards under a new run name
    assert names == [f"np_array_x-{run}-0000{k}.npy" for k in range(3)] == [s["x"] for s in info["shards"]]
    assert summary.x_shape == (5, 8, 2000)
    t = load(whole.output_prefix)
    data = load_training_data(sharded.output_prefix)
    assert data.x.shape == t["x"].shape
    order = np.array([4, 0, 3, 1, 2, 2])  # across shards, out of order, repeated
    np.testing.assert_array_equal(data.x[order], t["x"][order])
    np.testing.assert_array_equal(data.y[order], t["y"][order])
    np.testing.assert_array_equal(data.x[3], t["x"][3])
    np.testing.assert_allclose(data.mean, t["mean"], rtol=1e-6)
    # Converting again with bigger shards leaves no stale shard behind.
    convert_directory(replace(sharded, shard_size=4), progress=False)
    assert len(list((library / "sharded").glob("np_array_x-*.npy"))) == 2
    assert load_training_data(sharded.output_prefix).x.shape[0] == 5


def test_a_missing_shard_is_a_clear_error(library):
    from dataclasses import replace

    from musicgen.data.training_data import load_training_data

    cfg = replace(small_config(library), shard_size=2)
    convert_directory(cfg, progress=False)
    shard = json.loads(Path(f"{cfg.output_prefix}_info.json").read_text())["shards"][1]["y"]
    (cfg.output_prefix.parent / shard).unlink()
    with pytest.raises(DatasetError, match=f"{shard}.*run convert_directory.py first"):
        load_training_data(cfg.output_prefix)


def test_trim_silence_leaves_out_a_files_silent_ends_and_skips_a_silent_file(tmp_path):
    # 1.5 s of silence, 3.3 s of music, 2 s of silence: untrimmed, the silence makes clips of its own
    # (songs learn to open or fall silent); trimmed at -50 dBFS only the music's clips remain.
    src = tmp_path / "in"
    src.mkdir()
    music_excerpt(tmp_path / "music.wav", 3.3)
    rate, pcm = wavfile.read(tmp_path / "music.wav")
    pcm = pcm.reshape(len(pcm), -1)[:, 0]
    gap = np.zeros(int(1.5 * rate), np.int16)
    wavfile.write(src / "padded.wav", rate, np.concatenate([gap, pcm, gap, gap[:rate // 2]]))
    wavfile.write(src / "silent.wav", rate, np.zeros(4 * rate, np.int16))
    plain = convert_directory(small_config(tmp_path), progress=False)
    assert [f.path.name for f in plain.used] == ["padded.wav", "silent.wav"] and plain.clips == 6 + 3
    cfg = small_config(tmp_path)
    cfg = dataclasses.replace(cfg, output_prefix=tmp_path / "out" / "trimmed",
                              audio=dataclasses.replace(cfg.audio, trim_silence=-50.0))
    trimmed = convert_directory(cfg, progress=False)
    assert [f.path.name for f in trimmed.used] == ["padded.wav"] and trimmed.clips == 3
    assert trimmed.skipped == [("silent.wav", "silent (no stretch louder than -50 dBFS)")]
    assert abs(trimmed.used[0].frames / 8000 - 3.3) < 0.1  # the music kept whole, to within pydub's 10 ms steps
    x = np.load(f"{cfg.output_prefix}_x.npy")
    assert (np.abs(x).reshape(len(x), -1).max(axis=1) > 0.01).all()  # no clip of silence

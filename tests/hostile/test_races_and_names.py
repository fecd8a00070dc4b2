"""Two runs at once, killed runs' leftovers, and names a user or a planted file chooses."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from musicgen.atomic import check_writable, temp_path
from musicgen.config import ModelConfig
from musicgen.data.convert import convert_directory
from musicgen.data.training_data import load_training_data
from musicgen.errors import DatasetError, MusicGenError
from musicgen.liveness import lock_name, run_token
from musicgen.formats.weights import claim_weights_path, list_weight_files, read_checkpoint

from helpers import REPO, converted_minuet, music_excerpt, run_script, small_config, temp_leftovers, train_config
from hostile_checks import assert_one_line_failure, convert_command, music_library, snapshot, user_error


# ---------------------------------------------------------------- races and names


def test_two_trainings_claiming_one_name_get_two_names(tmp_path):
    names, barrier = [], threading.Barrier(8)

    def claim():
        barrier.wait()
        names.append(claim_weights_path(tmp_path, "LSTM", 4))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(names)) == 8 and names[0].parent == tmp_path


def test_a_dead_runs_empty_claim_is_reclaimed_but_a_fresh_one_is_not(tmp_path):
    stale = tmp_path / "LSTM_NP_Weights_Iter-3.weights.h5"
    stale.touch()
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    assert claim_weights_path(tmp_path, "LSTM", 3) == stale
    assert claim_weights_path(tmp_path, "LSTM", 3).name == "LSTM_NP_Weights_Iter-3_v2.weights.h5"
    assert list_weight_files(tmp_path) == []  # empty claims are never offered in the menu


@pytest.mark.script
def test_temporary_files_of_killed_runs_are_removed_and_live_ones_kept(tmp_path):
    killed = subprocess.run([sys.executable, "-c", "import os, sys; from pathlib import Path; "
                             "from musicgen.atomic import temp_path; "
                             "p = temp_path(Path(sys.argv[1]) / 'np_array_x.npy'); "
                             "p.write_bytes(b'x'); print(p.name, flush=True); os._exit(0)", str(tmp_path)],
                            capture_output=True, text=True, cwd=REPO, check=True)
    theirs = tmp_path / killed.stdout.strip()
    mine = temp_path(tmp_path / "np_array_x.npy")
    mine.write_bytes(b"x")
    dead = subprocess.Popen(["true"])
    dead.wait()
    legacy_old, legacy_new = (tmp_path / f".part-{dead.pid}-0123abc{k}-np_array_x.npy" for k in "de")
    for legacy in (legacy_old, legacy_new):
        legacy.write_bytes(b"x")
    os.utime(legacy_old, (time.time() - 2 * 86400,) * 2)
    assert theirs.exists() and len(list(tmp_path.glob(".part-*.lock"))) == 2  # os._exit skips the clean-up
    check_writable(tmp_path)
    assert not theirs.exists() and mine.exists()
    # Named by pid (an earlier version): a pid proves nothing across containers, so only a day-old one goes.
    assert not legacy_old.exists() and legacy_new.exists()
    assert [p.name for p in tmp_path.glob(".part-*.lock")] == [f".part-{mine.name.split('-')[1]}.lock"]
    long = temp_path(tmp_path / ("a" * 250 + ".weights.h5"))
    assert len(long.name.encode()) <= 255 and long.name.endswith(".weights.h5")


@pytest.mark.trains
def test_leftovers_of_a_killed_checkpoint_removal_are_cleaned_and_do_not_push_names(small_data, tmp_path):
    from musicgen.train.loop import train

    wdir = tmp_path / "w"
    wdir.mkdir()
    for suffix in (".json", ".loss.csv", ".png"):  # companions of Iter-1, whose weights were removed
        (wdir / f"LSTM_NP_Weights_Iter-1{suffix}").write_text("left behind")
    (wdir / "notes.json").write_text("mine")
    result = train(train_config(small_data, wdir, n_iter=1, n_epochs=1), ModelConfig(hidden=8), verbose=0)
    assert result.checkpoint.name == "LSTM_NP_Weights_Iter-1.weights.h5"
    assert read_checkpoint(result.checkpoint).iteration == 1
    assert sorted(p.name for p in wdir.iterdir() if p.is_file() and p.name != lock_name(run_token())) == [
        "LSTM_NP_Weights_Iter-1.json", "LSTM_NP_Weights_Iter-1.loss.csv", "LSTM_NP_Weights_Iter-1.png",
        "LSTM_NP_Weights_Iter-1.weights.h5", "index.html", "notes.json"]


def test_a_failing_pipe_blames_the_tool_that_failed(tmp_path):
    from musicgen.audio.tools import run_pipe
    from musicgen.errors import AudioDecodeError

    mp3 = music_excerpt(tmp_path / "a.mp3", 9.2)
    with pytest.raises(AudioDecodeError, match="sox failed"):
        run_pipe(["lame", "--decode", "--quiet", mp3, "-"],
                 ["sox", "-V1", "-t", "wav", "-", tmp_path / "no such folder" / "out.wav"], what="a.mp3")


@pytest.mark.script
def test_two_conversions_of_one_folder_at_once_give_each_its_own_right_data(tmp_path):
    inp = music_library(tmp_path / "in", seconds=(20.0, 20.0), starts=(0.0, 20.0))
    for trial in range(3):
        shutil.rmtree(inp / "wave", ignore_errors=True)
        procs = [subprocess.Popen(convert_command(inp, tmp_path / f"t{trial}" / f"r{rate}", rate),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for rate in (8000, 16000)]
        assert all(p.wait(timeout=120) == 0 for p in procs)
    for rate in (8000, 16000):  # the same conversion alone, in a fresh copy of the folder
        alone = tmp_path / f"alone{rate}"
        shutil.copytree(inp, alone, ignore=shutil.ignore_patterns("wave"))
        subprocess.run(convert_command(alone, tmp_path / "ref" / f"r{rate}", rate), check=True, capture_output=True)
        want = Path(tmp_path / "ref" / f"r{rate}_x.npy").read_bytes()
        for trial in range(3):
            assert Path(tmp_path / f"t{trial}" / f"r{rate}_x.npy").read_bytes() == want, (rate, trial)
    assert not temp_leftovers(tmp_path)


@pytest.mark.script
def test_a_source_replaced_by_an_older_file_is_decoded_again(tmp_path):
    inp = music_library(tmp_path / "in")
    subprocess.run(convert_command(inp, tmp_path / "a" / "np", 8000), check=True, capture_output=True)
    replacement = music_excerpt(tmp_path / "other.mp3", 9.2, start=30.0)
    os.utime(replacement, (1_000_000_000, 1_000_000_000))  # older than the cached WAV
    os.replace(replacement, inp / "piece0.mp3")
    subprocess.run(convert_command(inp, tmp_path / "b" / "np", 8000), check=True, capture_output=True)
    fresh = music_library(tmp_path / "fresh", starts=(30.0,))
    subprocess.run(convert_command(fresh, tmp_path / "c" / "np", 8000), check=True, capture_output=True)
    new = Path(tmp_path / "b" / "np_x.npy").read_bytes()
    assert new != Path(tmp_path / "a" / "np_x.npy").read_bytes()
    assert new == Path(tmp_path / "c" / "np_x.npy").read_bytes()


@pytest.mark.script
def test_a_255_byte_file_name_converts(tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    music_excerpt(tmp_path / "short.mp3", 9.2).rename(inp / ("a" * 251 + ".mp3"))
    out = subprocess.run(convert_command(inp, tmp_path / "np", 8000), capture_output=True, text=True)
    assert out.returncode == 0 and "files converted: 1, skipped: 0" in out.stdout, out.stderr
    assert not temp_leftovers(tmp_path)


@pytest.mark.parametrize("taken", ["x", "y", "mean", "var"])
@pytest.mark.script
def test_a_dataset_mixed_from_two_conversions_is_refused(tmp_path, taken):
    """What a kill between two of the final renames leaves: one file of the new dataset among the old."""
    for name, start in (("old", 5.0), ("new", 30.0)):
        inp = music_library(tmp_path / f"in_{name}", starts=(start,))
        subprocess.run(convert_command(inp, tmp_path / name / "np", 8000), check=True, capture_output=True)
    shutil.copy(tmp_path / "new" / f"np_{taken}.npy", tmp_path / "old" / f"np_{taken}.npy")
    user_error(lambda: load_training_data(tmp_path / "old" / "np"), f"np_{taken}.npy", "killed", kind=DatasetError)

# ---------------------------------------------------------------- round two: names


@pytest.mark.parametrize("occupant", ["dangling link", "link to a file", "folder", "FIFO"])
def test_anything_at_the_next_checkpoints_name_is_stepped_over(tmp_path, occupant):
    name = tmp_path / "LSTM_NP_Weights_Iter-1.weights.h5"
    if occupant == "dangling link":
        name.symlink_to(tmp_path / "nowhere")
    elif occupant == "link to a file":
        (tmp_path / "target").write_bytes(b"")
        name.symlink_to(tmp_path / "target")
        old = time.time() - 10**6
        os.utime(tmp_path / "target", (old, old))  # empty and old, as a killed run's claim looks
    elif occupant == "folder":
        name.mkdir()
    else:
        os.mkfifo(name)
    started = time.monotonic()
    claimed = claim_weights_path(tmp_path, "LSTM", 1)
    assert claimed.name == "LSTM_NP_Weights_Iter-1_v2.weights.h5" and time.monotonic() - started < 5
    assert os.path.lexists(name)  # what was there is left alone


@pytest.mark.script
def test_a_file_name_that_is_not_utf8_converts_and_prints(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    odd = os.fsdecode(b"caf\xe9 \xff.mp3")
    music_excerpt(tmp_path / "x.mp3", 9.2)
    os.rename(tmp_path / "x.mp3", folder / odd)
    (folder / os.fsdecode(b"bad \xff.mp3")).write_text("not audio\n" * 100)  # skipped: its name is printed
    proc = run_script("convert_directory.py", "--input", folder, "--output", tmp_path / "out" / "np",
                      "--sample-rate", "8000", "--block-size", "1000", "--clip-len", "1")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    info = json.loads((tmp_path / "out" / "np_info.json").read_text())
    assert info["sources"] == [odd]
    assert re.search(r"bad \\(udcff|xff)\.mp3", proc.stdout + proc.stderr), proc.stdout + proc.stderr


@pytest.mark.parametrize("length", [243, 244, 250])
def test_an_output_name_too_long_for_any_of_its_files_is_refused_before_any_work(small_data, tmp_path, length):
    from dataclasses import replace

    folder = small_data.parent
    before = snapshot(folder)
    prefix = folder / ("n" * length)
    cfg = replace(small_config(folder.parent), output_prefix=prefix)
    if length + len("_xmerged.wav") <= 255:  # the longest name fits: it converts, and loads
        convert_directory(cfg, progress=False)
        assert load_training_data(prefix).x.shape == load_training_data(small_data).x.shape
        for path in folder.glob("n" * length + "_*"):
            path.unlink()
    else:
        user_error(lambda: convert_directory(cfg, progress=False), "too long", "256" if length == 244 else "bytes",
                   kind=MusicGenError)
    assert snapshot(folder) == before and not temp_leftovers(folder)


@pytest.mark.script
def test_a_full_stdout_is_named_and_the_outputs_are_still_written(tmp_path):
    cfg = small_config(tmp_path)
    cfg.input_dir.mkdir()
    music_excerpt(cfg.input_dir / "minuet.mp3", 9.2)
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, str(REPO / "convert_directory.py"), "--input", str(cfg.input_dir),
                               "--output", str(cfg.output_prefix), "--sample-rate", "8000", "--block-size", "1000",
                               "--clip-len", "1", "-q"], cwd=REPO, stdout=full, stderr=subprocess.PIPE, text=True,
                              stdin=subprocess.DEVNULL, timeout=300)
    assert_one_line_failure(proc, "standard output", "No space left on device")
    assert load_training_data(cfg.output_prefix).x.shape[0] > 0


@pytest.mark.script
def test_a_fifo_in_place_of_a_cached_wav_is_decoded_again_not_waited_on(tmp_path):
    cfg = converted_minuet(tmp_path)
    before = np.load(f"{cfg.output_prefix}_x.npy")
    wav = next((cfg.input_dir / "wave").glob("*.wav"))
    wav.unlink()
    os.mkfifo(wav)  # the key beside it still matches
    proc = run_script("convert_directory.py", "--input", cfg.input_dir, "--output", cfg.output_prefix, "-q",
                      "--sample-rate", "8000", "--block-size", "1000", "--clip-len", str(cfg.audio.clip_len),
                      timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert np.array_equal(np.load(f"{cfg.output_prefix}_x.npy"), before) and wav.is_file()

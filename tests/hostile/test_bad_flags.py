"""Absurd flags and presets: one-line usage errors, and sizes that cannot fit refused before allocating."""

from __future__ import annotations

import time

import pytest

from musicgen.formats.weights import list_weight_files

from helpers import run_script
from hostile_checks import assert_one_line_failure


# ---------------------------------------------------------------- flags


FLAG_CASES = [
    ("generate.py", ["--seconds", "1e6"], "--seconds"),
    ("generate.py", ["--seconds", "1e300"], "--seconds"),
    ("generate.py", ["--seconds", "nan"], "--seconds"),
    ("generate.py", ["--count", "100000000000000000000"], "--count"),
    ("generate.py", ["--count", "1e20"], "--count"),
    ("generate.py", ["--random-seed", "-1"], "--random-seed"),
    ("generate.py", ["--temperature", "inf"], "--temperature"),
    ("train.py", ["--seed", "-1"], "--seed"),
    ("train.py", ["-b", "100000000000000000000"], "--n_batch"),
    ("train.py", ["--layers", "100000"], "--layers"),
    ("train.py", ["--hidden", "40000"], "--hidden"),
    ("train.py", ["-n", "1e9"], "--n_iter"),
    ("train.py", ["--lr", "1e300"], "--lr"),
    ("convert_directory.py", ["--clip-len", "1e305"], "--clip-len"),
    ("convert_directory.py", ["--block-size", "1000000000"], "--block-size"),
    ("convert_directory.py", ["--sample-rate", str(2**32)], "--sample-rate"),
    ("convert_directory.py", ["--sample-rate", "0"], "--sample-rate"),
    ("evaluate.py", ["song.wav", "--plot", "out"], "--plot"),
    ("evaluate.py", ["song.wav", "--plot", "out.txt"], "--plot"),
    ("evaluate.py", ["song.wav", "--hop-seconds", "1e9"], "--hop-seconds"),
    ("export.py", ["--seeds", "1e9"], "--seeds"),
    ("export.py", ["--format", "pdf"], "--format"),
    ("export.py", ["--detail", "nearest"], "--detail"),
]


@pytest.mark.parametrize("script, args, flag", FLAG_CASES, ids=[" ".join(c[1]) for c in FLAG_CASES])
@pytest.mark.script
def test_absurd_flag_values_are_one_line_usage_errors(tmp_path, script, args, flag):
    out = run_script(script, *args, cwd=tmp_path, timeout=60)
    assert_one_line_failure(out, flag, codes=(2,))
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("preset", ["weights_dir = {a = 1}", "n_iter = [1, 2]", "hidden = true",
                                    "n_iter = 1e400", "\udcff", 'weights_dir = "w\\u0000evil"'])
@pytest.mark.script
@pytest.mark.script
def test_a_preset_with_a_value_no_flag_takes_is_one_line(tmp_path, preset):
    path = tmp_path / "p.toml"
    path.write_text(preset, errors="surrogateescape")
    out = run_script("train.py", "--config", path, cwd=tmp_path, timeout=60)
    assert_one_line_failure(out, codes=(2,))


@pytest.mark.script
@pytest.mark.trains
def test_sizes_that_do_not_fit_memory_are_refused_before_allocating(weights, small_data, tmp_path):
    started = time.monotonic()
    train = run_script("train.py", "--data", small_data, "--hidden", "16384", "--layers", "8", "-n", "1",
                       "--weights-dir", tmp_path / "w", "--img-dir", tmp_path / "img", timeout=120)
    assert_one_line_failure(train, "GiB of memory", "--hidden", codes=(1,))
    song = run_script("generate.py", "--weights", weights, "--data", small_data, "--seconds", "3600",
                      "--count", "256", "--out-dir", tmp_path / "s", timeout=120)
    assert_one_line_failure(song, "GiB of memory", "--seconds", codes=(1,))
    short = run_script("generate.py", "--weights", weights, "--data", small_data, "--seconds", "0.05",
                       "--out-dir", tmp_path / "s", timeout=120)
    assert_one_line_failure(short, "shorter than one block", codes=(1,))
    assert time.monotonic() - started < 100 and not list(tmp_path.rglob("*.wav"))
    assert not list_weight_files(tmp_path / "w")

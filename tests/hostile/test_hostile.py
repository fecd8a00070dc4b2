"""Hostile and careless input: damaged tensors, info and weight files, absurd flags, full and
read-only disks, races and kills. Each must end in exit code 1 or 2 with one line naming the
file or flag, no traceback, no core dump, no stray temporary file, and every earlier output
byte-identical."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from musicgen.atomic import check_writable, temp_path
from musicgen.config import ModelConfig
from musicgen.data.clip_store import ClipArray
from musicgen.data.convert import convert_directory
from musicgen.data.training_data import load_training_data
from musicgen.errors import DatasetError, MusicGenError, WeightsError
from musicgen.liveness import lock_name, run_token
from musicgen.formats.weights import claim_weights_path, describe, list_weight_files, read_checkpoint

from helpers import (REPO, converted_minuet, music_excerpt, run_script, small_config, temp_leftovers,
                     train_config)

MUSIC = REPO / "datasets" / "training_data"


# ---------------------------------------------------------------- helpers


def snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder` by relative path, temporary files aside."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.startswith(".part-")}


# TensorFlow's own start-up lines (absl, oneDNN, CUDA stubs) come before any of ours; they are
# silenced without --verbose, not a sign of the error handling under test here.
TF_STARTUP = re.compile(r"^(WARNING: All log messages before absl|[IWE]\d{4} \d\d:\d\d:\d\d)")


def assert_one_line_failure(proc, *names: str, codes=(1, 2)) -> str:
    """The run failed as a user error: exit 1 or 2, one stderr line naming each of `names`."""
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not TF_STARTUP.match(line)]
    assert proc.returncode in codes, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr and len(lines) == 1, proc.stderr[-2000:]
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


def user_error(call, *names: str, kind=MusicGenError) -> str:
    """`call()` raises `kind` with a one-line message naming each of `names`."""
    with pytest.raises(kind) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    for name in names:
        assert name in message, (name, message)
    return message


def copy_dataset(prefix: Path, folder: Path) -> Path:
    """Copy every file of the converted dataset at `prefix` into `folder`; return the new prefix."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in prefix.parent.glob(prefix.name + "_*"):
        shutil.copy(path, folder / path.name)
    return folder / prefix.name


def run_limited(script: str, *args, file_bytes: int, timeout: float = 300):
    """Run a script with every file it writes limited to `file_bytes`: a disk that fills up."""
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, str(REPO / script), *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          preexec_fn=limit)


@pytest.fixture(scope="module")
def sharded(small_data, tmp_path_factory) -> Path:
    """The small dataset again, in shards of 3 clips."""
    from dataclasses import replace

    root = tmp_path_factory.mktemp("sharded")
    cfg = replace(small_config(small_data.parent.parent), output_prefix=root / "np_array", shard_size=3)
    convert_directory(cfg, progress=False)
    return cfg.output_prefix


@pytest.fixture(scope="module")
def weights(small_data, tmp_path_factory) -> Path:
    """A tiny trained LSTM."""
    from musicgen.train.loop import train

    wdir = tmp_path_factory.mktemp("hostile_weights")
    return train(train_config(small_data, wdir, n_iter=1, n_epochs=1), ModelConfig(hidden=16), verbose=0).checkpoint


@pytest.fixture
def read_only(tmp_path):
    """A folder this process cannot write: a read-only mount as root, else a folder without write permission."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    if os.geteuid() == 0:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
                                 capture_output=True).returncode == 0
        if not mounted:
            pytest.skip("root without mount: no way to make a folder read-only")
        yield folder
        subprocess.run(["umount", str(folder)], check=False)
    else:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)


# ---------------------------------------------------------------- tensors (.npy)


def _rewrite_npy(path: Path, *, descr=None, fortran=False, shape=None, data=None) -> None:
    with open(path, "rb") as handle:
        np.lib.format.read_magic(handle)
        old_shape, _, old_dtype = np.lib.format.read_array_header_1_0(handle)
        body = handle.read()
    header = {"descr": descr or np.lib.format.dtype_to_descr(old_dtype), "fortran_order": fortran,
              "shape": old_shape if shape is None else shape}
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        handle.write(body if data is None else data(body))


NPY_DAMAGE = {
    "object dtype": dict(descr="|O"),
    "float64": dict(descr="<f8"),
    "big-endian": dict(descr=">f4"),
    "int16": dict(descr="<i2"),
    "Fortran order": dict(fortran=True),
    "rank 2": dict(shape=(8, 16000)),
    "rank 4": dict(shape=(8, 8, 2000, 1)),
    "truncated": dict(data=lambda b: b[:-100]),
    "padded": dict(data=lambda b: b + b"\0" * 64),
    "huge shape": dict(shape=(10**12, 8, 2000)),
    "empty data": dict(data=lambda b: b""),
}


@pytest.mark.parametrize("damage", sorted(NPY_DAMAGE))
@pytest.mark.parametrize("which", ["x", "y"])
def test_a_damaged_tensor_is_refused_before_a_byte_is_trusted(small_data, tmp_path, damage, which):
    prefix = copy_dataset(small_data, tmp_path)
    _rewrite_npy(Path(f"{prefix}_{which}.npy"), **NPY_DAMAGE[damage])
    user_error(lambda: load_training_data(prefix), f"np_array_{which}.npy", kind=DatasetError)


@pytest.mark.parametrize("content", [b"", b"garbage", b"\x93NUMPY\x01\x00\xff\xff{'descr'", b"\x93NUMPY\x09\x00"])
def test_a_file_that_is_not_npy_at_all_is_refused(small_data, tmp_path, content):
    prefix = copy_dataset(small_data, tmp_path)
    Path(f"{prefix}_x.npy").write_bytes(content)
    user_error(lambda: load_training_data(prefix), "np_array_x.npy", kind=DatasetError)


@pytest.mark.parametrize("stats", ["mean", "var"])
@pytest.mark.parametrize("values", [np.zeros(3, np.float32), np.array([np.nan] * 2000, np.float32),
                                    np.array(["a"] * 2000), np.zeros((2000, 1), np.float32)])
def test_damaged_statistics_are_refused(small_data, tmp_path, stats, values):
    prefix = copy_dataset(small_data, tmp_path)
    np.save(f"{prefix}_{stats}.npy", values)
    user_error(lambda: load_training_data(prefix), "np_array", kind=DatasetError)


def test_an_object_array_of_statistics_is_not_unpickled(small_data, tmp_path):
    prefix = copy_dataset(small_data, tmp_path)
    np.save(f"{prefix}_mean.npy", np.array([{"a": 1}] * 2000, dtype=object), allow_pickle=True)
    user_error(lambda: load_training_data(prefix), "np_array_mean.npy", kind=DatasetError)


def test_a_tensor_cut_short_while_in_use_is_an_error_not_uninitialised_memory(small_data, tmp_path):
    prefix = copy_dataset(small_data, tmp_path)
    x = ClipArray([Path(f"{prefix}_x.npy")])
    os.truncate(f"{prefix}_x.npy", os.path.getsize(f"{prefix}_x.npy") - 1000)
    assert x.read([0]).shape == (1, 8, 2000)
    user_error(lambda: x.read([len(x) - 1]), "ended early", kind=DatasetError)


@pytest.mark.slow
def test_train_script_on_an_object_dtype_tensor_exits_1_without_a_crash(small_data, tmp_path):
    prefix = copy_dataset(small_data, tmp_path / "data")
    _rewrite_npy(Path(f"{prefix}_x.npy"), descr="|O")
    before = snapshot(tmp_path)
    out = run_script("train.py", "--data", prefix, "--weights-dir", tmp_path / "w", "--img-dir", tmp_path / "img",
                     "-n", "1", "-e", "1", "--hidden", "8")
    assert_one_line_failure(out, "np_array_x.npy", codes=(1,))
    assert {k: v for k, v in snapshot(tmp_path).items() if k in before} == before
    assert not list_weight_files(tmp_path / "w") and not temp_leftovers(tmp_path)


# ---------------------------------------------------------------- info files


INFO_DAMAGE = {
    "a list": "[]",
    "a string": '"abc"',
    "null": "null",
    "not JSON": "{",
    "binary": "\udcff\udcfe",
    "rate as text": {"sample_rate": "abc"},
    "rate null": {"sample_rate": None},
    "rate infinite": "1e400",
    "rate zero": {"sample_rate": 0},
    "rate huge": {"sample_rate": 2**32},
    "overlap as text": {"overlap": "false"},
    "clips wrong": {"clips": 999},
    "block size wrong": {"block_size": 500},
    "shards not a list": {"shards": {"x": "a"}},
    "shard up a folder": {"shards": [{"x": "../np_array_x.npy", "y": "np_array_y.npy", "clips": 8}]},
    "shard absolute": {"shards": [{"x": "/etc/hostname", "y": "np_array_y.npy", "clips": 8}]},
    "shard clips wrong": "shard_clips",
    "fingerprint of another file": {"fingerprints": {"np_array_x.npy": "0" * 64}},
    "fingerprint not hex": {"fingerprints": {"np_array_x.npy": "xyz"}},
    "fingerprint of a path": {"fingerprints": {"../np_array_x.npy": "0" * 64}},
}


@pytest.mark.parametrize("damage", sorted(INFO_DAMAGE))
def test_a_damaged_info_file_is_refused_naming_it(small_data, sharded, tmp_path, damage):
    edit = INFO_DAMAGE[damage]
    prefix = copy_dataset(sharded if damage == "shard clips wrong" else small_data, tmp_path)
    for shard in (sharded.parent.glob("np_array_?-*.npy") if damage == "shard clips wrong" else []):
        shutil.copy(shard, tmp_path / shard.name)
    info_path = Path(f"{prefix}_info.json")
    info = json.loads(info_path.read_text())
    if isinstance(edit, dict):
        info_path.write_text(json.dumps({**info, **edit}))
    elif edit == "1e400":
        info_path.write_text(json.dumps(info).replace('"sample_rate": 8000', '"sample_rate": 1e400'))
    elif edit == "shard_clips":
        info["shards"][0]["clips"] = 2
        info_path.write_text(json.dumps(info))
    else:
        info_path.write_text(edit, errors="surrogateescape")
    message = user_error(lambda: load_training_data(prefix), "np_array", kind=DatasetError)
    assert "info" in message


def test_a_shard_pointing_outside_is_never_opened_or_echoed(small_data, tmp_path):
    secret = tmp_path / "secret.npy"
    secret.write_bytes(b"\x93NUMPY\x01\x00SECRET-CONTENT")
    prefix = copy_dataset(small_data, tmp_path / "data")
    info = json.loads(Path(f"{prefix}_info.json").read_text())
    info["shards"] = [{"x": str(secret), "y": "np_array_y.npy", "clips": 8}]
    Path(f"{prefix}_info.json").write_text(json.dumps(info))
    message = user_error(lambda: load_training_data(prefix), "shards[0].x", kind=DatasetError)
    assert "SECRET" not in message


# ---------------------------------------------------------------- weight sidecars


def _sidecar(weights: Path) -> Path:
    return weights.with_name(weights.name.replace(".weights.h5", ".json"))


SIDECAR_DAMAGE = {
    "cell foo": ("model", "cell", "foo"),
    "hidden as text": ("model", "hidden", "16"),
    "hidden negative": ("model", "hidden", -1),
    "hidden huge": ("model", "hidden", 10**9),
    "layers zero": ("model", "layers", 0),
    "layers huge": ("model", "layers", 100000),
    "sample rate zero": ("model", "sample_rate", 0),
    "overlap as text": ("model", "overlap", "false"),
    "unknown model key": ("model", "wings", 2),
    "prenet dropout 5": ("model", "prenet_dropout", 5),
    "mean too short": ("normalisation", "mean", [0.0] * 3),
    "std zero": ("normalisation", "std", [0.0] * 2000),
    "mean as text": ("normalisation", "mean", "0"),
    "iteration infinite": (None, "iteration", "INF"),
    "iteration negative": (None, "iteration", -3),
    "history a list": (None, "history", [1, 2]),
    "history of text": (None, "history", {"loss": ["a"]}),
    "format missing": (None, "format", None),
    "model missing": (None, "model", None),
    "digest not hex": (None, "digest", "xyz"),
    "top level list": "[]",
    "truncated": "TRUNCATE",
}


def _damage_sidecar(path: Path, damage) -> None:
    meta = json.loads(path.read_text())
    if damage == "[]":
        path.write_text("[]")
        return
    if damage == "TRUNCATE":
        path.write_text(path.read_text()[:100])
        return
    section, key, value = damage
    target = meta if section is None else meta[section]
    if value is None:
        del target[key]
    else:
        target[key] = value
    text = json.dumps(meta)
    path.write_text(text.replace('"INF"', "1e400"))


@pytest.mark.slow
@pytest.mark.parametrize("damage", sorted(SIDECAR_DAMAGE))
def test_a_damaged_sidecar_is_refused_and_the_menu_lists_it_as_unreadable(weights, tmp_path, damage):
    copy = tmp_path / weights.name
    shutil.copy(weights, copy)
    shutil.copy(_sidecar(weights), _sidecar(copy))
    good = tmp_path / weights.name.replace("Iter-1", "Iter-2")
    shutil.copy(weights, good)
    shutil.copy(_sidecar(weights), _sidecar(good))
    _damage_sidecar(_sidecar(copy), SIDECAR_DAMAGE[damage])
    user_error(lambda: read_checkpoint(copy), _sidecar(copy).name, kind=WeightsError)
    lines = [describe(p) for p in list_weight_files(tmp_path)]
    assert len(lines) == 2 and "unreadable" in lines[0] and "unreadable" not in lines[1]


@pytest.mark.slow
def test_generate_and_re_train_refuse_a_damaged_sidecar_in_one_line(weights, small_data, tmp_path):
    copy = tmp_path / "w" / weights.name
    copy.parent.mkdir()
    shutil.copy(weights, copy)
    _sidecar(copy).write_text(json.dumps({**json.loads(_sidecar(weights).read_text()), "model": {"cell": "lstm",
                              "hidden": 16, "layers": 100000, "block_size": 1000, "sample_rate": 8000,
                              "clip_blocks": 8}}))
    for script in ("generate.py", "re_train.py"):
        out = run_script(script, "--weights", copy, "--data", small_data, "--out-dir", tmp_path / "songs",
                         timeout=120) if script == "generate.py" else \
            run_script(script, "--weights", copy, "--data", small_data, "--weights-dir", tmp_path / "w", timeout=120)
        assert_one_line_failure(out, _sidecar(copy).name, "layers", codes=(1,))
    assert not (tmp_path / "songs").exists()


@pytest.mark.slow
def test_a_changed_weight_file_is_refused_by_its_digest(weights, small_data, tmp_path):
    from musicgen.config import GenerateConfig
    from musicgen.generate.generation import generate

    copy = tmp_path / weights.name
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    copy.write_bytes(bytes(data))
    shutil.copy(_sidecar(weights), _sidecar(copy))
    user_error(lambda: generate(copy, GenerateConfig(data_prefix=small_data, out_dir=tmp_path / "s")),
               weights.name, "sha256", kind=WeightsError)
    assert not list((tmp_path / "s").glob("*.wav"))


@pytest.mark.slow
def test_a_network_refuses_data_at_another_sample_rate(weights, small_data, tmp_path):
    from musicgen.config import GenerateConfig
    from musicgen.generate.generation import generate

    prefix = copy_dataset(small_data, tmp_path / "data")
    info = json.loads(Path(f"{prefix}_info.json").read_text())
    Path(f"{prefix}_info.json").write_text(json.dumps({**info, "sample_rate": 16000}))
    user_error(lambda: generate(weights, GenerateConfig(data_prefix=prefix, out_dir=tmp_path / "s")),
               "at 8000 Hz", "at 16000 Hz", kind=WeightsError)


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
    ("evaluate.py", ["song.wav", "--block-seconds", "1e9"], "--block-seconds"),
]


@pytest.mark.slow
@pytest.mark.parametrize("script, args, flag", FLAG_CASES, ids=[" ".join(c[1]) for c in FLAG_CASES])
def test_absurd_flag_values_are_one_line_usage_errors(tmp_path, script, args, flag):
    out = run_script(script, *args, cwd=tmp_path, timeout=60)
    assert_one_line_failure(out, flag, codes=(2,))
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["weights_dir = {a = 1}", "n_iter = [1, 2]", "hidden = true",
                                    "n_iter = 1e400", "\udcff", 'weights_dir = "w\\u0000evil"'])
def test_a_preset_with_a_value_no_flag_takes_is_one_line(tmp_path, preset):
    path = tmp_path / "p.toml"
    path.write_text(preset, errors="surrogateescape")
    out = run_script("train.py", "--config", path, cwd=tmp_path, timeout=60)
    assert_one_line_failure(out, codes=(2,))


@pytest.mark.slow
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


# ---------------------------------------------------------------- full and read-only disks


@pytest.mark.slow
def test_a_full_disk_during_conversion_keeps_the_old_dataset(small_data, tmp_path):
    prefix = copy_dataset(small_data, tmp_path / "data")
    before = snapshot(tmp_path / "data")
    inp = small_data.parent.parent / "in"
    out = run_limited("convert_directory.py", "--input", inp, "--output", prefix, "--sample-rate", "8000",
                      "--block-size", "1000", "--clip-len", "1", "-q", file_bytes=100_000)
    assert_one_line_failure(out, str(tmp_path / "data"), codes=(1,))
    assert snapshot(tmp_path / "data") == before and not temp_leftovers(tmp_path, inp)


@pytest.mark.slow
def test_a_full_disk_during_training_keeps_the_last_checkpoint_and_leaves_nothing_half(small_data, tmp_path):
    out = run_limited("train.py", "--data", small_data, "--weights-dir", tmp_path / "w", "--img-dir",
                      tmp_path / "img", "-n", "2", "-e", "1", "-b", "4", "--hidden", "16", file_bytes=50_000)
    assert_one_line_failure(out, "LSTM_NP_Weights_Iter-1.weights.h5", codes=(1,))
    assert not list((tmp_path / "w").iterdir())  # no claim, sidecar or temporary file is left


@pytest.mark.slow
def test_a_full_disk_while_generating_writes_no_half_song(weights, small_data, tmp_path):
    songs = tmp_path / "songs"
    songs.mkdir()
    (songs / "generated_song1.wav").write_bytes(b"mine")
    out = run_limited("generate.py", "--weights", weights, "--data", small_data, "--out-dir", songs,
                      "--seconds", "20", file_bytes=100_000)
    assert_one_line_failure(out, str(songs), codes=(1,))
    assert sorted(p.name for p in songs.iterdir()) == ["generated_song1.wav"]
    assert (songs / "generated_song1.wav").read_bytes() == b"mine"


@pytest.mark.slow
@pytest.mark.parametrize("script", ["train.py", "generate.py", "convert_directory.py", "evaluate.py"])
def test_a_read_only_output_folder_is_reported_before_any_work(weights, small_data, read_only, tmp_path, script):
    args = {
        "train.py": ["--data", small_data, "--weights-dir", read_only, "-n", "50", "--hidden", "16"],
        "generate.py": ["--weights", weights, "--data", small_data, "--out-dir", read_only],
        "convert_directory.py": ["--input", small_data.parent.parent / "in", "--output", read_only / "np"],
        "evaluate.py": [weights.parent / "x.wav", "--plot", read_only / "p.png"],
    }[script]
    if script == "evaluate.py":
        from helpers import tone
        tone(args[0], 1.0, rate=8000)
        args += ["--reference", args[0]]
    started = time.monotonic()
    out = run_script(script, *args, timeout=120)
    assert_one_line_failure(out, str(read_only), codes=(1,))
    assert "iteration" not in out.stdout and time.monotonic() - started < 60


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


@pytest.mark.slow
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


@pytest.mark.slow
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
        "LSTM_NP_Weights_Iter-1.weights.h5", "notes.json"]


def test_a_failing_pipe_blames_the_tool_that_failed(tmp_path):
    from musicgen.audio.tools import run_pipe
    from musicgen.errors import AudioDecodeError

    mp3 = music_excerpt(tmp_path / "a.mp3", 9.2)
    with pytest.raises(AudioDecodeError, match="sox failed"):
        run_pipe(["lame", "--decode", "--quiet", mp3, "-"],
                 ["sox", "-V1", "-t", "wav", "-", tmp_path / "no such folder" / "out.wav"], what="a.mp3")


def _library(folder: Path, seconds=(9.2,), starts=(5.0,)) -> Path:
    folder.mkdir(parents=True)
    for k, (length, start) in enumerate(zip(seconds, starts)):
        music_excerpt(folder / f"piece{k}.mp3", length, start=start)
    return folder


def _convert_cmd(inp: Path, out: Path, rate: int, *extra) -> list[str]:
    return [sys.executable, str(REPO / "convert_directory.py"), "--input", str(inp), "--output", str(out),
            "--sample-rate", str(rate), "--block-size", str(rate // 8), "--clip-len", "1", "-q", *map(str, extra)]


@pytest.mark.slow
def test_two_conversions_of_one_folder_at_once_give_each_its_own_right_data(tmp_path):
    inp = _library(tmp_path / "in", seconds=(20.0, 20.0), starts=(0.0, 20.0))
    for trial in range(3):
        shutil.rmtree(inp / "wave", ignore_errors=True)
        procs = [subprocess.Popen(_convert_cmd(inp, tmp_path / f"t{trial}" / f"r{rate}", rate),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for rate in (8000, 16000)]
        assert all(p.wait(timeout=120) == 0 for p in procs)
    for rate in (8000, 16000):  # the same conversion alone, in a fresh copy of the folder
        alone = tmp_path / f"alone{rate}"
        shutil.copytree(inp, alone, ignore=shutil.ignore_patterns("wave"))
        subprocess.run(_convert_cmd(alone, tmp_path / "ref" / f"r{rate}", rate), check=True, capture_output=True)
        want = Path(tmp_path / "ref" / f"r{rate}_x.npy").read_bytes()
        for trial in range(3):
            assert Path(tmp_path / f"t{trial}" / f"r{rate}_x.npy").read_bytes() == want, (rate, trial)
    assert not temp_leftovers(tmp_path)


@pytest.mark.slow
def test_a_source_replaced_by_an_older_file_is_decoded_again(tmp_path):
    inp = _library(tmp_path / "in")
    subprocess.run(_convert_cmd(inp, tmp_path / "a" / "np", 8000), check=True, capture_output=True)
    replacement = music_excerpt(tmp_path / "other.mp3", 9.2, start=30.0)
    os.utime(replacement, (1_000_000_000, 1_000_000_000))  # older than the cached WAV
    os.replace(replacement, inp / "piece0.mp3")
    subprocess.run(_convert_cmd(inp, tmp_path / "b" / "np", 8000), check=True, capture_output=True)
    fresh = _library(tmp_path / "fresh", starts=(30.0,))
    subprocess.run(_convert_cmd(fresh, tmp_path / "c" / "np", 8000), check=True, capture_output=True)
    new = Path(tmp_path / "b" / "np_x.npy").read_bytes()
    assert new != Path(tmp_path / "a" / "np_x.npy").read_bytes()
    assert new == Path(tmp_path / "c" / "np_x.npy").read_bytes()


@pytest.mark.slow
def test_a_255_byte_file_name_converts(tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    music_excerpt(tmp_path / "short.mp3", 9.2).rename(inp / ("a" * 251 + ".mp3"))
    out = subprocess.run(_convert_cmd(inp, tmp_path / "np", 8000), capture_output=True, text=True)
    assert out.returncode == 0 and "files converted: 1, skipped: 0" in out.stdout, out.stderr
    assert not temp_leftovers(tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("taken", ["x", "y", "mean", "var"])
def test_a_dataset_mixed_from_two_conversions_is_refused(tmp_path, taken):
    """What a kill between two of the final renames leaves: one file of the new dataset among the old."""
    for name, start in (("old", 5.0), ("new", 30.0)):
        inp = _library(tmp_path / f"in_{name}", starts=(start,))
        subprocess.run(_convert_cmd(inp, tmp_path / name / "np", 8000), check=True, capture_output=True)
    shutil.copy(tmp_path / "new" / f"np_{taken}.npy", tmp_path / "old" / f"np_{taken}.npy")
    user_error(lambda: load_training_data(tmp_path / "old" / "np"), f"np_{taken}.npy", "killed", kind=DatasetError)


# ---------------------------------------------------------------- kills during conversion


@pytest.fixture(scope="module")
def kill_library(tmp_path_factory) -> Path:
    """The bundled music eight times over (links): about 2 s to convert at 8 kHz, so kills land in it."""
    inp = tmp_path_factory.mktemp("kill") / "in"
    inp.mkdir()
    for k in range(8):
        for mp3 in sorted(MUSIC.glob("*.mp3")):
            (inp / f"{k}_{mp3.name}").symlink_to(mp3)
    return inp


def wait_until_the_script_runs(proc: subprocess.Popen, timeout: float = 60) -> None:
    """Return once the script's first line has run (it catches SIGTERM from then on): before that,
    a signal lands in the Python interpreter's own start, which no script can handle."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{proc.pid}/status").read_text()
            caught = int(re.search(r"^SigCgt:\s*([0-9a-f]+)", status, re.M).group(1), 16)
            if caught & (1 << (signal.SIGTERM - 1)):
                return
        time.sleep(0.001)


@pytest.mark.slow
@pytest.mark.parametrize("script, args", [("train.py", ["--data", "nowhere/np_array"]),
                                          ("convert_directory.py", ["--input", "nowhere"])])
def test_a_signal_at_any_moment_of_a_scripts_start_ends_in_interrupted(script, args):
    interrupted = 0
    for delay in (0.0, 0.002, 0.01, 0.03, 0.1, 0.3):
        for sig in (signal.SIGINT, signal.SIGTERM):
            proc = subprocess.Popen([sys.executable, str(REPO / script), *args], cwd=REPO, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True,
                                    preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
            wait_until_the_script_runs(proc)
            time.sleep(delay)
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=120)
            if proc.returncode == 1:  # it got to the end first: its own one-line error
                assert_one_line_failure(subprocess.CompletedProcess(proc.args, 1, "", err), "nowhere")
                continue
            assert proc.returncode == 130 and err.strip().endswith("interrupted"), (delay, sig, proc.returncode, err)
            assert "Traceback" not in err
            interrupted += 1
    assert interrupted >= 6  # most signals landed while the script was starting, or this proves little


def test_an_interrupt_that_an_import_turned_into_an_import_error_still_ends_in_interrupted():
    # A Ctrl-C landing inside a C extension's import comes out as an ImportError chained to the
    # KeyboardInterrupt (seen as 'PyCapsule_Import could not import module "datetime"').
    code = ("import sys\n"
            "from musicgen.cli.args import run_script\n"
            "def main(argv):\n"
            "    try:\n"
            "        raise KeyboardInterrupt\n"
            "    except KeyboardInterrupt:\n"
            "        raise ImportError('PyCapsule_Import could not import module \"datetime\"')\n"
            "sys.exit(run_script(main, []))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 130 and proc.stderr.strip().endswith("interrupted"), proc.stderr
    assert "Traceback" not in proc.stderr
    plain = subprocess.run([sys.executable, "-c", code.replace("KeyboardInterrupt", "ValueError")],
                           cwd=REPO, capture_output=True, text=True, timeout=120)
    assert plain.returncode == 1 and "ImportError" in plain.stderr  # a real ImportError is not hidden


@pytest.mark.slow
@pytest.mark.parametrize("shards", [0, 20])
def test_kills_during_conversion_leave_the_old_dataset_or_the_whole_new_one(kill_library, small_data, tmp_path,
                                                                            shards):
    rng = np.random.default_rng(shards)
    prefix = copy_dataset(small_data, tmp_path / "data")
    old = snapshot(tmp_path / "data")
    cut_short = 0
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL, signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        shutil.rmtree(kill_library / "wave", ignore_errors=True)
        before = set(temp_leftovers(tmp_path / "data", kill_library))
        proc = subprocess.Popen(_convert_cmd(kill_library, prefix, 8000, "--shard-size", shards),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        wait_until_the_script_runs(proc)
        time.sleep(rng.uniform(0.2, 2.0))
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        now = snapshot(tmp_path / "data")
        if now == old:
            cut_short += 1
        else:  # the run finished before the signal: the new dataset, whole
            data = load_training_data(prefix)
            info = json.loads(Path(f"{prefix}_info.json").read_text())
            assert data.x.shape[0] == info["clips"] and len(info["sources"]) == 24
            old = now
        if sig != signal.SIGKILL:
            assert proc.returncode in (0, 130) and "Traceback" not in err, err
            # Its own temporary files are gone (a SIGKILLed run's wait for the next run to get going).
            mine = set(temp_leftovers(tmp_path / "data", kill_library)) - before
            assert not mine, (sig, proc.returncode, err)
        load_training_data(prefix)
    assert cut_short >= 3  # most signals landed mid-conversion, or this test proves little
    done = subprocess.run(_convert_cmd(kill_library, prefix, 8000, "--shard-size", shards), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert not temp_leftovers(tmp_path / "data", kill_library)
    info = json.loads(Path(f"{prefix}_info.json").read_text())
    listed = {s[k] for s in info.get("shards", []) for k in ("x", "y")}
    assert {p.name for p in (tmp_path / "data").glob("np_array_?-*.npy")} == listed


# ---------------------------------------------------------------- evaluate.py


@pytest.mark.slow
def test_evaluate_refuses_a_broken_wav_and_plots_short_songs(tmp_path):
    from musicgen.plots import plot_song

    from helpers import tone

    ref = tone(tmp_path / "ref.wav", 2.0, rate=8000)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + b"\x00" * 8)
    out = run_script("evaluate.py", broken, "--reference", ref, timeout=120)
    assert_one_line_failure(out, "broken.wav", codes=(1,))
    assert plot_song(np.zeros(500, np.float32), 8000, tmp_path / "short.png", "t").stat().st_size > 0
    assert plot_song(np.zeros(3, np.float32), 8000, tmp_path / "tiny.png", "t").stat().st_size > 0
    song = tone(tmp_path / "song.wav", 1.0, rate=8000)
    song.with_suffix(".json").write_text(json.dumps({"echo_seconds": "soon"}))
    out = run_script("evaluate.py", song, "--reference", ref, "--plot", tmp_path / "new" / "p.png", timeout=120)
    assert_one_line_failure(out, "song.json", "echo_seconds", codes=(1,))
    song.with_suffix(".json").unlink()
    out = run_script("evaluate.py", song, "--reference", ref, "--plot", tmp_path / "new" / "p.png", timeout=120)
    assert out.returncode == 0 and (tmp_path / "new" / "p.png").is_file(), out.stderr
    assert not temp_leftovers(tmp_path)


# ---------------------------------------------------------------- fuzzing


FUZZ = r'''
import json, shutil, sys
from pathlib import Path
import numpy as np
from musicgen.formats.weights import read_checkpoint, describe
from musicgen.errors import MusicGenError
from musicgen.data.training_data import load_training_data


HOSTILE_NUMBERS = [1e300, -1e300, 1e-300, 3.5e38, -1e20, float("nan"), float("inf")]
HOSTILE = HOSTILE_NUMBERS + [0, -1, 2**63, "x", "", [], {}, None, True, [[[1]]], "__BIG__", "__DEEP__"]
data, weights, work, seed = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(seed)
sidecar = weights.with_name(weights.name.replace(".weights.h5", ".json"))
targets = [data.with_name(data.name + s) for s in ("_x.npy", "_y.npy", "_info.json", "_mean.npy")] + [sidecar]
outcomes = {"ok": 0, "refused": 0}
for trial in range(int(sys.argv[5])):
    case = work / f"case{trial}"
    case.mkdir()
    for f in targets[:4]:
        shutil.copy(f, case / f.name)
    shutil.copy(weights, case / weights.name)
    shutil.copy(sidecar, case / sidecar.name)
    victim = case / targets[rng.integers(len(targets))].name
    raw = bytearray(victim.read_bytes())
    if victim.suffix == ".json" and rng.random() < 0.5:
        # A value of the right file, replaced by one that parses and breaks something else.
        doc = json.loads(raw)
        spots = []
        def walk(node):
            for key in (range(len(node)) if isinstance(node, list) else list(node)):
                spots.append((node, key))
                if isinstance(node[key], (dict, list)):
                    walk(node[key])
        walk(doc)
        node, key = spots[rng.integers(len(spots))]
        node[key] = HOSTILE[rng.integers(len(HOSTILE))]
        raw = json.dumps(doc).replace('"__BIG__"', "9" * 5000).replace('"__DEEP__"', "[" * 100000 + "]" * 100000)
        raw = bytearray(raw.encode())
    elif victim.name.endswith("_mean.npy") and rng.random() < 0.5:
        vector = np.load(victim).astype(np.float64)
        vector[rng.integers(len(vector))] = HOSTILE_NUMBERS[rng.integers(len(HOSTILE_NUMBERS))]
        np.save(victim, vector)
        raw = bytearray(victim.read_bytes())
    elif rng.random() < 0.3:
        raw = raw[: rng.integers(len(raw))]
    else:
        span = min(len(raw), 400) if victim.suffix == ".npy" else len(raw)
        for _ in range(rng.integers(1, 6)):
            raw[rng.integers(span)] = rng.integers(256)
    victim.write_bytes(bytes(raw))
    try:
        d = load_training_data(case / data.name)
        d.x.read_finite(np.arange(len(d.x)))
        d.y.read_finite(np.arange(len(d.y)))
        ckpt = read_checkpoint(case / weights.name)
        describe(case / weights.name)
        outcomes["ok"] += 1
    except MusicGenError as exc:
        assert "\n" not in str(exc), str(exc)
        outcomes["refused"] += 1
    shutil.rmtree(case)
print(json.dumps(outcomes))
'''


@pytest.mark.slow
def test_fuzzed_tensors_info_and_sidecars_are_read_or_refused_never_crash(small_data, weights, tmp_path):
    out = subprocess.run([sys.executable, "-c", FUZZ, str(small_data), str(weights), str(tmp_path), "2026", "150"],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]  # a segfault would be -11, any other exception 1
    outcomes = json.loads(out.stdout.strip().splitlines()[-1])
    assert outcomes["refused"] >= 30 and sum(outcomes.values()) == 150


# ---------------------------------------------------------------- round two: what is parsed


def _deep(path: Path):
    path.write_text("[" * 200_000 + "]" * 200_000)


def _huge(path: Path):
    with open(path, "wb") as handle:  # sparse: 80 MB of zero bytes that take no disk
        handle.truncate(80 * 2**20)


def _fifo(path: Path):
    os.mkfifo(path)


def _long_number(path: Path):
    path.write_text('{"iteration": ' + "9" * 5000 + "}")


DOC_DAMAGE = {"nested 200000 deep": _deep, "80 MB": _huge, "a FIFO": _fifo, "a 5000-digit number": _long_number}


@pytest.mark.slow
@pytest.mark.parametrize("damage", DOC_DAMAGE, ids=list(DOC_DAMAGE))
def test_every_json_reader_refuses_deep_huge_special_and_overlong_documents(weights, small_data, tmp_path, damage):
    from musicgen.formats.songs import UnreadableSidecar, read_song_info

    # A weight file's sidecar, a dataset's info file: refused by name, within seconds.
    sidecar = copy_weights(weights, tmp_path / "w").with_suffix("").with_suffix(".json")
    sidecar.unlink()
    DOC_DAMAGE[damage](sidecar)
    started = time.monotonic()
    user_error(lambda: read_checkpoint(sidecar.with_suffix(".weights.h5")), sidecar.name, kind=WeightsError)
    prefix = copy_dataset(small_data, tmp_path / "d")
    info = Path(f"{prefix}_info.json")
    info.unlink()
    DOC_DAMAGE[damage](info)
    user_error(lambda: load_training_data(prefix), info.name, kind=DatasetError)
    # A song's sidecar is optional: a damaged one is one exception that evaluate.py notes and ignores.
    song = tmp_path / "generated_song1.wav"
    song.write_bytes(b"")
    DOC_DAMAGE[damage](song.with_suffix(".json"))
    with pytest.raises(UnreadableSidecar):
        read_song_info(song)
    assert time.monotonic() - started < 30  # nothing waited on the FIFO


@pytest.mark.parametrize("damage", DOC_DAMAGE, ids=list(DOC_DAMAGE))
def test_a_damaged_wav_cache_key_is_decoded_again(tmp_path, damage):
    cfg = converted_minuet(tmp_path)
    before = np.load(f"{cfg.output_prefix}_x.npy")
    key = next((cfg.input_dir / "wave").glob("*.key"))
    key.unlink()
    DOC_DAMAGE[damage](key)
    convert_directory(cfg, progress=False)
    assert np.array_equal(np.load(f"{cfg.output_prefix}_x.npy"), before)


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["nested 200000 deep", "80 MB", "a FIFO"])
def test_a_damaged_preset_is_one_line_naming_it(tmp_path, damage):
    preset = tmp_path / "preset.toml"
    {"nested 200000 deep": lambda p: p.write_text("a = " + "[" * 200_000 + "]" * 200_000),
     "80 MB": _huge, "a FIFO": _fifo}[damage](preset)
    proc = run_script("convert_directory.py", "--config", preset, "--input", tmp_path / "none", timeout=60)
    assert_one_line_failure(proc, "preset.toml", codes=(2,))


def test_a_preset_list_flag_takes_one_value_or_refuses_an_empty_list(tmp_path):
    from musicgen.cli.args import parse_with_preset

    preset = tmp_path / "eval.toml"
    preset.write_text('reference = "datasets/training_data/wave"\n')
    args = parse_with_preset(script_parser_for("evaluate"), ["--config", str(preset), "song.wav"])
    assert [str(p) for p in args.reference] == ["datasets/training_data/wave"]
    preset.write_text("reference = []\n")
    with pytest.raises(SystemExit):
        parse_with_preset(script_parser_for("evaluate"), ["--config", str(preset), "song.wav"])


def script_parser_for(name: str):
    from helpers import script_parser

    return script_parser(name)


def copy_weights(weights: Path, folder: Path) -> Path:
    """Copy a weight file and its companions into `folder`; return the new weight file."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = weights.name.removesuffix(".weights.h5")
    for path in weights.parent.glob(stem + ".*"):
        shutil.copy(path, folder / path.name)
    return folder / weights.name


# ---------------------------------------------------------------- round two: numbers


@pytest.mark.slow
@pytest.mark.parametrize("key, value", [("mean", 1e300), ("mean", -1e20), ("std", 1e-300), ("std", 1e300),
                                        ("std", 0.0)])
def test_sidecar_statistics_that_overflow_float32_are_refused(weights, tmp_path, key, value):
    path = copy_weights(weights, tmp_path)
    sidecar = path.with_suffix("").with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    meta["normalisation"][key][3] = value
    sidecar.write_text(json.dumps(meta))
    user_error(lambda: read_checkpoint(path), sidecar.name, f"normalisation.{key}", kind=WeightsError)


@pytest.mark.parametrize("stats, values", [("mean", np.float64(1e300)), ("mean", np.float64(-1e20)),
                                           ("var", np.float64(-1.0)), ("var", np.float64(1e300))])
def test_dataset_statistics_that_overflow_float32_or_are_negative_are_refused(small_data, tmp_path, stats, values):
    prefix = copy_dataset(small_data, tmp_path)
    path = Path(f"{prefix}_{stats}.npy")
    vector = np.load(path).astype(np.float64)
    vector[: len(vector) if stats == "var" else 5] = values
    np.save(path, vector)
    user_error(lambda: load_training_data(prefix), path.name, kind=DatasetError)


def test_a_header_whose_byte_count_wraps_around_is_refused(small_data, tmp_path):
    prefix = copy_dataset(small_data, tmp_path)
    x = Path(f"{prefix}_x.npy")
    header = {"descr": "<f4", "fortran_order": False, "shape": (2**61, 4, 2)}
    with open(x, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
    user_error(lambda: ClipArray([x]), x.name, "header promises", kind=DatasetError)
    stats = Path(f"{copy_dataset(small_data, tmp_path / 'stats')}_mean.npy")
    with open(stats, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "<f8", "fortran_order": False, "shape": (2**62,)})
    user_error(lambda: load_training_data(stats.parent / prefix.name), stats.name, kind=DatasetError)


@pytest.mark.slow
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_values_inside_the_tensors_stop_training_and_generation_naming_the_file(small_data, tmp_path,
                                                                                          value):
    from musicgen.train.loop import train

    prefix = copy_dataset(small_data, tmp_path / "d")
    x = np.load(f"{prefix}_x.npy", mmap_mode="r+")
    x[:, 3, 17] = value  # every clip, so the first batch and any seed clip meet it
    x.flush()
    del x
    info = Path(f"{prefix}_info.json")  # a damaged middle of a large file passes the fingerprints
    meta = json.loads(info.read_text())
    meta.pop("fingerprints", None)
    info.write_text(json.dumps(meta))
    wdir = tmp_path / "w"
    user_error(lambda: train(train_config(prefix, wdir, n_iter=1, n_epochs=1), ModelConfig(hidden=8), verbose=0),
               "np_array_x.npy", "NaN or infinite", kind=DatasetError)
    assert not list(wdir.glob("*.weights.h5"))
    if np.isnan(value):  # the script too: TensorFlow's wrapping of the error stays off the terminal
        proc = run_script("train.py", "--data", prefix, "--weights-dir", wdir, "--img-dir", tmp_path / "img",
                          "-n", "1", "-e", "1", "--hidden", "8")
        assert_one_line_failure(proc, "np_array_x.npy", "NaN or infinite")
        proc = run_script("generate.py", "--data", prefix, "--weights", first_weights(small_data, tmp_path),
                          "--out-dir", tmp_path / "songs")
        assert_one_line_failure(proc, "np_array_x.npy", "NaN or infinite")


def first_weights(prefix: Path, tmp_path: Path) -> Path:
    """A tiny network trained on the dataset at `prefix`."""
    from musicgen.train.loop import train

    return train(train_config(prefix, tmp_path / "good", n_iter=1, n_epochs=1), ModelConfig(hidden=8),
                 verbose=0).checkpoint


@pytest.mark.slow
def test_a_diverging_loss_stops_training_and_keeps_the_last_good_checkpoint(small_data, tmp_path):
    from musicgen.errors import TrainingError
    from musicgen.train.loop import train

    wdir = tmp_path / "w"
    first = train(train_config(small_data, wdir, n_iter=1, n_epochs=1), ModelConfig(hidden=8), verbose=0).checkpoint
    before = snapshot(wdir)
    # A learning rate of 1e38 overflows the weights (re-training takes this run's --lr, not the file's).
    message = user_error(lambda: train(train_config(small_data, wdir, n_iter=2, n_epochs=2, lr=1e38),
                                       ModelConfig(hidden=8), resume=first, verbose=0),
                         "NaN or infinite", first.name, kind=TrainingError)
    assert "--lr" in message
    assert snapshot(wdir) == before and not temp_leftovers(wdir)


@pytest.mark.slow
def test_re_training_past_the_last_iteration_a_weight_file_records_is_refused_before_any_work(weights, small_data,
                                                                                           tmp_path):
    from musicgen.config import MAX_ITERATION
    from musicgen.train.loop import train

    path = copy_weights(weights, tmp_path / "w")
    sidecar = path.with_suffix("").with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    meta["iteration"] = MAX_ITERATION
    sidecar.write_text(json.dumps(meta))
    before = snapshot(path.parent)
    user_error(lambda: train(train_config(small_data, path.parent, n_iter=1, n_epochs=1), ModelConfig(hidden=16),
                             resume=path, verbose=0), str(MAX_ITERATION), "-n", kind=WeightsError)
    assert snapshot(path.parent) == before


# ---------------------------------------------------------------- round two: a really full disk


@pytest.fixture
def nearly_full(tmp_path):
    """make(megabytes) -> a fresh file system of that size with 100 KB left free (root: tmpfs)."""
    mounts = []

    def make(megabytes: int, *, keep: tuple[Path, ...] = ()) -> Path:
        folder = tmp_path / f"disk{len(mounts)}"
        folder.mkdir()
        if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs",
                                                str(folder)], capture_output=True).returncode != 0:
            pytest.skip("needs root and mount for a real full disk (the file-size limit tests cover the rest)")
        mounts.append(folder)
        for path in keep:
            shutil.copy(path, folder / path.name)
        free = shutil.disk_usage(folder).free
        with open(folder / ".fill", "wb") as handle:
            handle.write(b"\0" * max(free - 100_000, 0))
        return folder

    yield make
    for folder in mounts:
        subprocess.run(["umount", str(folder)], check=False)


@pytest.mark.slow
def test_training_onto_a_full_disk_ends_in_one_line_not_a_crash(small_data, tmp_path, nearly_full):
    disk = nearly_full(1)
    proc = run_script("train.py", "--data", small_data, "--weights-dir", disk / "w", "--img-dir", tmp_path / "img",
                      "-n", "1", "-e", "1", "--hidden", "64")
    assert proc.returncode != -signal.SIGSEGV
    assert_one_line_failure(proc, "No space left on device", "the previous checkpoint is kept")
    assert not list((disk / "w").glob("*")) and not temp_leftovers(disk)


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["1", "0"])
def test_a_full_disk_under_the_wav_cache_fails_the_conversion_never_skips_a_file(tmp_path, nearly_full, jobs):
    sources = [tmp_path / "src" / name for name in ("a.mp3", "b.mp3")]
    sources[0].parent.mkdir()
    for k, path in enumerate(sources):
        music_excerpt(path, 9.2, start=k * 10.0)
    disk = nearly_full(2, keep=tuple(sources))
    proc = run_script("convert_directory.py", "--input", disk, "--output", tmp_path / "out" / "np", "-q",
                      "--jobs", jobs)
    assert_one_line_failure(proc, "No space left on device", str(disk / "wave"))
    assert ".part-" not in proc.stderr
    assert not list((disk / "wave").glob("*.wav")) and not (tmp_path / "out" / "np_x.npy").exists()


@pytest.mark.slow
def test_a_full_image_folder_keeps_the_earlier_model_diagram_whole(small_data, tmp_path, nearly_full):
    disk = nearly_full(1)
    earlier = REPO / "img" / "lstm_model_plot.png"
    if earlier.is_file():
        shutil.copy(earlier, disk / earlier.name)
    else:
        (disk / earlier.name).write_bytes(b"\x89PNG earlier")
    before = (disk / earlier.name).read_bytes()
    free = shutil.disk_usage(disk).free
    with open(disk / ".fill2", "wb") as handle:  # room for nothing, the earlier diagram kept
        handle.write(b"\0" * max(free - 4096, 0))
    proc = run_script("train.py", "--data", small_data, "--weights-dir", tmp_path / "w", "--img-dir", disk,
                      "-n", "1", "-e", "1", "--hidden", "8")
    assert_one_line_failure(proc, "lstm_model_plot.png", "No space left on device")
    assert (disk / earlier.name).read_bytes() == before and not temp_leftovers(disk)


@pytest.mark.slow
@pytest.mark.parametrize("song_format", ["mp3", "ogg"])
def test_an_encoder_that_exits_0_without_writing_leaves_no_numbered_file(weights, small_data, tmp_path, song_format):
    # The encoders of a disk that fails silently: lame and sox that exit 0 and write nothing.
    tools = tmp_path / "bin"
    tools.mkdir()
    real_sox = shutil.which("sox")
    (tools / "lame").write_text("#!/bin/sh\nexit 0\n")
    # sox still decodes (the seed, the WAV cache); only writing an ogg is made to do nothing.
    (tools / "sox").write_text(f'#!/bin/sh\ncase "$*" in *.ogg) exit 0;; esac\nexec {real_sox} "$@"\n')
    for tool in tools.iterdir():
        tool.chmod(0o755)
    out = tmp_path / "songs"
    proc = run_script("generate.py", "--weights", weights, "--data", small_data, "--out-dir", out,
                      "--format", song_format, env={"PATH": f"{tools}:{os.environ['PATH']}"})
    assert_one_line_failure(proc, "wrote nothing", "no song was written")
    assert not [p for p in out.glob("*") if not p.name.startswith(".")] and not temp_leftovers(out)


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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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

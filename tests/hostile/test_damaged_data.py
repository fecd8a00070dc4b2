"""Damaged tensors, info files and statistics: refused before a byte is trusted, naming the file."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from musicgen.config import ModelConfig
from musicgen.data.clip_store import ClipArray
from musicgen.data.training_data import load_training_data
from musicgen.errors import DatasetError, WeightsError
from musicgen.formats.weights import list_weight_files, read_checkpoint

from helpers import run_script, temp_leftovers, train_config
from hostile_checks import assert_one_line_failure, copy_dataset, copy_weights, snapshot, user_error


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


@pytest.mark.script
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

# ---------------------------------------------------------------- round two: numbers


@pytest.mark.parametrize("key, value", [("mean", 1e300), ("mean", -1e20), ("std", 1e-300), ("std", 1e300),
                                        ("std", 0.0)])
@pytest.mark.trains
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


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.script
@pytest.mark.trains
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


@pytest.mark.trains
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

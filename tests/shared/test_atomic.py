"""atomic: outputs appear whole or not at all, under names no two runs share."""

from __future__ import annotations

import itertools
import os
import threading

import pytest

from musicgen.atomic import claim_first_free, temp_path, write_atomic
from musicgen.liveness import run_token


def test_a_write_that_fails_leaves_the_file_as_it_was_and_no_temporary(tmp_path):
    path = tmp_path / "weights.json"
    path.write_text("old")

    def fail(part):
        part.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        write_atomic(path, fail)
    assert path.read_text() == "old"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".part-") and not p.name.endswith(".lock")]
    write_atomic(path, lambda part: part.write_text("new"))
    assert path.read_text() == "new"


def test_temporary_names_are_hidden_beside_the_file_and_keep_its_ending(tmp_path):
    part = temp_path(tmp_path / "LSTM_NP_Weights_Iter-1.weights.h5")
    assert part.parent == tmp_path and part.name.startswith(f".part-{run_token()}-")
    assert part.name.endswith(".weights.h5")
    long = temp_path(tmp_path / ("x" * 250 + ".npy"))
    assert len(os.fsencode(long.name)) <= 255 and long.name.endswith(".npy")


def test_runs_claiming_names_at_once_never_share_one(tmp_path):
    def take(path):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))

    claimed, threads = [], []
    for _ in range(16):
        names = (tmp_path / f"song{n}.wav" for n in itertools.count(1))
        threads.append(threading.Thread(target=lambda names=names: claimed.append(claim_first_free(names, take))))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(p.name for p in claimed) == sorted(f"song{n}.wav" for n in range(1, 17))

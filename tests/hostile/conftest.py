"""Fixtures of the hostile tests: a tiny trained network, the small dataset in shards, a read-only folder."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from musicgen.config import ModelConfig
from musicgen.data.convert import convert_directory

from helpers import small_config, train_config


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

"""Shared fixtures: the seeded generator and a small real dataset (helpers.py has the functions)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import music_excerpt, small_config


@pytest.fixture
def rng():
    """Seeded random generator."""
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def small_data(tmp_path_factory):
    """Tensors from 9 s of real music at 8 kHz: 8 clips of 8 blocks of 1000 samples."""
    from musicgen.data.convert import convert_directory

    root = tmp_path_factory.mktemp("data")
    cfg = small_config(root)
    cfg.input_dir.mkdir()
    music_excerpt(cfg.input_dir / "minuet.mp3", 9.2)
    convert_directory(cfg, progress=False)
    return cfg.output_prefix

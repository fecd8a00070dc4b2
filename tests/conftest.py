"""Shared fixtures: the seeded generator and a small real dataset (helpers.py has the functions)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import converted_minuet, decoded


@pytest.fixture
def rng():
    """Seeded random generator."""
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def small_data(tmp_path_factory):
    """Tensors from 9 s of real music at 8 kHz: 8 clips of 8 blocks of 1000 samples."""
    root = tmp_path_factory.mktemp("data")
    return converted_minuet(root).output_prefix


@pytest.fixture(scope="session")
def unseen(tmp_path_factory):
    """20 s at 22.05 kHz of the bundled canon, which the still-music tests' reference leaves out."""
    return decoded(tmp_path_factory.mktemp("unseen"), "canon_in_d.mp3", 30.0, 20.0)

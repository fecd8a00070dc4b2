"""Shared fixtures (the seeded generator and small real datasets; helpers.py has the functions), and the cost
markers: a test that starts a Python process or trains a network says so, checked as it runs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from helpers import STREAM_RATE, converted_minuet, decoded

# What a test may cost, by marker: each implies `slow`, which `make test-fast` leaves out. A test carries the
# marker when it or a fixture it uses does this (a fixture shared by several tests runs for the first of them).
COSTS = {"script": "starts a Python process (one of the toolkit's scripts, or code that loads TensorFlow)",
         "trains": "trains a network"}
_spent: set[str] = set()


def pytest_configure(config):
    _watch_processes()


def pytest_collection_modifyitems(items):
    for item in items:
        if any(item.get_closest_marker(cost) for cost in COSTS):
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item):
    _spent.clear()  # before any fixture of the test is set up, so what its fixtures spend counts too
    _watch_training()
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    unmarked = sorted(cost for cost in _spent if not item.get_closest_marker(cost))
    if call.when == "teardown" and report.passed and unmarked:
        report.outcome = "failed"
        report.longrepr = (f"{item.nodeid} {' and '.join(COSTS[c] for c in unmarked)}, but is not marked so: add "
                           + " ".join(f"@pytest.mark.{c}" for c in unmarked))
    return report


def _watch_processes() -> None:
    start = subprocess.Popen.__init__
    if getattr(start, "watched", False):
        return

    def watched(self, args, *rest, **kwargs):
        if isinstance(args, (list, tuple)) and sys.executable in map(str, args):
            _spent.add("script")
        start(self, args, *rest, **kwargs)

    watched.watched = True
    subprocess.Popen.__init__ = watched


def _watch_training() -> None:
    keras = sys.modules.get("keras")  # never imported here: a test that needs no Keras must not wait for it
    if keras is None or getattr(keras.Model.fit, "watched", False):
        return
    fit = keras.Model.fit

    def watched(self, *args, **kwargs):
        _spent.add("trains")
        return fit(self, *args, **kwargs)

    watched.watched = True
    keras.Model.fit = watched


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


@pytest.fixture(scope="session")
def canon_8k(tmp_path_factory):
    """12 s of the bundled canon at 8 kHz, for the decoders that work a run of blocks at a time."""
    return decoded(tmp_path_factory.mktemp("canon_8k"), "canon_in_d.mp3", 30.0, 12.0, rate=STREAM_RATE)

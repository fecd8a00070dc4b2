"""Signals at any moment: a script's start ends in 'interrupted', a killed conversion leaves the old dataset
or the whole new one."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from musicgen.data.training_data import load_training_data

from helpers import REPO, ctrl_c_as_from_a_terminal, temp_leftovers
from hostile_checks import MUSIC, assert_one_line_failure, convert_command, copy_dataset, snapshot


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


@pytest.mark.parametrize("script, args", [("train.py", ["--data", "nowhere/np_array"]),
                                          ("convert_directory.py", ["--input", "nowhere"])])
@pytest.mark.script
def test_a_signal_at_any_moment_of_a_scripts_start_ends_in_interrupted(script, args):
    interrupted = 0
    for delay in (0.0, 0.002, 0.01, 0.03, 0.1, 0.3):
        for sig in (signal.SIGINT, signal.SIGTERM):
            proc = subprocess.Popen([sys.executable, str(REPO / script), *args], cwd=REPO, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True,
                                    preexec_fn=ctrl_c_as_from_a_terminal)
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


@pytest.mark.script
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


@pytest.mark.parametrize("shards", [0, 20])
@pytest.mark.script
def test_kills_during_conversion_leave_the_old_dataset_or_the_whole_new_one(kill_library, small_data, tmp_path,
                                                                            shards):
    rng = np.random.default_rng(shards)
    prefix = copy_dataset(small_data, tmp_path / "data")
    old = snapshot(tmp_path / "data")
    cut_short = 0
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL, signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        shutil.rmtree(kill_library / "wave", ignore_errors=True)
        before = set(temp_leftovers(tmp_path / "data", kill_library))
        proc = subprocess.Popen(convert_command(kill_library, prefix, 8000, "--shard-size", shards),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=ctrl_c_as_from_a_terminal)
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
    done = subprocess.run(convert_command(kill_library, prefix, 8000, "--shard-size", shards), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert not temp_leftovers(tmp_path / "data", kill_library)
    info = json.loads(Path(f"{prefix}_info.json").read_text())
    listed = {s[k] for s in info.get("shards", []) for k in ("x", "y")}
    assert {p.name for p in (tmp_path / "data").glob("np_array_?-*.npy")} == listed

"""What every benchmark shares: the repository's folders, a child process per measurement, the results
folder, and the machine's own ceilings measured in the same run. musicgen itself is installed in the
virtualenv (`make setup`: pip install -e .)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


def run_child(script: str, *args) -> dict:
    """Run `script --child ARGS` in a fresh process (its own peak memory, no warm caches of ours) and
    return the JSON object it prints last; its stderr ends the bench if it fails."""
    proc = subprocess.run([sys.executable, script, "--child", *map(str, args)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def newest_weights() -> Path:
    """The newest weight file in weights/ (what `make demo` leaves); SystemExit where there is none."""
    files = sorted((REPO / "weights").glob("*.weights.h5"), key=lambda p: p.stat().st_mtime)
    if not files:
        raise SystemExit("no weight file in weights/: run `make demo` first, or pass --weights")
    return files[-1]


def write_results(name: str, data) -> Path:
    """bench/results/NAME.json."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=1))
    return path


def numpy_matmul_gflops() -> float:
    """Best of 3: a float32 2048x2048 matmul through numpy's BLAS (what generation runs on), GFLOP/s."""
    import numpy as np

    a = np.ones((2048, 2048), np.float32)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - start)
    return 2 * 2048**3 / best / 1e9


def tf_matmul_gflops() -> float:
    """Sustained float32 2048x2048 tf.matmul rate (what training runs on), GFLOP/s."""
    import tensorflow as tf

    a, b = tf.random.normal((2048, 2048)), tf.random.normal((2048, 2048))
    f = tf.function(lambda: tf.matmul(a, b))
    f().numpy()
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(10):
            r = f()
        r.numpy()
        best = max(best, 10 * 2 * 2048**3 / (time.perf_counter() - start) / 1e9)
    return best

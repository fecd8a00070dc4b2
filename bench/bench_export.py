#!/usr/bin/env python3
"""export.py and the example player: how long each format takes to write and how large it is, and how fast
examples/onnx_player.py makes a song in its own environment (numpy, scipy, onnxruntime), beside generate.py
making the same length of song from the same weight file (the baseline, in the same run).

Each run is a script in its own process: wall time from its start to its exit, peak memory its maximum
resident set (wait4); real time = seconds of song / wall time. The network is the weight file given
(default: the newest in weights/, which `make demo` leaves); the player runs in .venv-player (`make test`
makes it) unless --player-python says otherwise.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, newest_weights, write_results

FORMATS = ("onnx", "savedmodel", "tflite")


def timed(args: list[str]) -> tuple[float, float]:
    """(wall seconds, peak MB) of one process; SystemExit with its error if it fails."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{err.decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", type=Path, help="the network (default: the newest file in weights/)")
    p.add_argument("--minutes", type=float, nargs="+", default=[1, 10], help="song lengths to make")
    p.add_argument("--player-python", type=Path, default=REPO / ".venv-player" / "bin" / "python")
    args = p.parse_args()
    weights = args.weights or newest_weights()
    print(f"{weights.name}, {os.cpu_count()} cores")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for export_format in FORMATS:
            out = tmp / export_format
            wall, peak = timed([sys.executable, str(REPO / "export.py"), "--weights", str(weights), "--format",
                                export_format, "--output", str(out)])
            network = next(q for q in out.iterdir() if q.name.startswith(("step", "saved_model")))
            rows.append({"run": f"export {export_format}", "wall_s": wall, "peak_mb": peak,
                         "network_mb": size_mb(network), "folder_mb": size_mb(out)})
            print(f"export.py --format {export_format}: {wall:.1f} s, peak {peak:.0f} MB, {network.name} "
                  f"{size_mb(network):.1f} MB, the folder {size_mb(out):.1f} MB")
        for minutes in args.minutes:
            seconds = minutes * 60
            wall, peak = timed([str(args.player_python), str(REPO / "examples" / "onnx_player.py"), str(tmp / "onnx"),
                                "--seconds", str(seconds), "--random-seed", "1", "--output",
                                str(tmp / f"player{minutes:g}.wav")])
            base_wall, base_peak = timed([sys.executable, str(REPO / "generate.py"), "--weights", str(weights),
                                          "--seconds", str(seconds), "--no-echo", "--random-seed", "1",
                                          "--out-dir", str(tmp / f"songs{minutes:g}")])
            rows.append({"run": f"player {minutes:g} min", "wall_s": wall, "peak_mb": peak,
                         "real_time": seconds / wall})
            rows.append({"run": f"generate.py {minutes:g} min (baseline)", "wall_s": base_wall, "peak_mb": base_peak,
                         "real_time": seconds / base_wall})
            print(f"{minutes:g} min of song: the player {wall:.1f} s ({seconds / wall:.0f}x real time), peak "
                  f"{peak:.0f} MB; generate.py {base_wall:.1f} s ({seconds / base_wall:.0f}x), peak "
                  f"{base_peak:.0f} MB: the player {base_wall / wall:.1f}x as fast in {peak / base_peak:.2f}x the "
                  "memory")
    print(f"wrote {write_results('export', {'weights': weights.name, 'runs': rows})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""generate.py --stream as a listener meets it: time to the first audio, real-time factor, peak memory, for
1, 10 and 60 minutes of song, beside the whole-song generate.py (the baseline, in the same run).

Each run is the real script in its own process, its standard output read here as a player reads it:
  start-up          process start -> the WAV header (Python, TensorFlow, the weight file, the seed)
  first audio       the header -> the first samples (the network's first steps and the first decoder run)
  real time         seconds of song / seconds from the header to the last sample (the song's picture and
                    keeping it come after, in "in all")
  peak memory       the process's maximum resident set (wait4)
The network is the weight file given (default: the newest in weights/, which `make demo` leaves).
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


def run(weights: Path, seconds: float, out_dir: Path, *, stream: bool) -> dict:
    """One generate.py run; for --stream its output read as it comes."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    args = [sys.executable, str(REPO / "generate.py"), "--weights", str(weights), "--seconds", str(seconds),
            "--random-seed", "1", "--out-dir", str(out_dir)] + (["--stream"] if stream else [])
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    header = first = last = None
    received = 0
    while chunk := proc.stdout.read1(1 << 16):
        now = last = time.perf_counter()
        received += len(chunk)
        if header is None:
            header = now
        if first is None and received > 44:
            first = now
    end = time.perf_counter()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"generate.py failed ({status}): {' '.join(args)}")
    result = {"seconds": seconds, "wall_s": end - start, "peak_mb": usage.ru_maxrss / 1024}
    if stream:
        result.update(startup_s=header - start, first_audio_s=first - header,
                      real_time=seconds / (last - header), audio_seconds=(received - 44) / 2 / rate_of(weights))
    return result


def rate_of(weights: Path) -> int:
    from musicgen.formats.weights import read_checkpoint

    return read_checkpoint(weights).model.block.sample_rate


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", type=Path, help="the network (default: the newest file in weights/)")
    p.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 60], help="song lengths to stream")
    args = p.parse_args()
    weights = args.weights or newest_weights()
    print(f"{weights.name}, {os.cpu_count()} cores")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.minutes:
            r = run(weights, minutes * 60, Path(tmp) / f"s{minutes}", stream=True)
            rows.append({"mode": "stream", **r})
            print(f"--stream {minutes:g} min: start-up {r['startup_s']:.1f} s, first audio {r['first_audio_s']:.2f} s "
                  f"after it, {r['real_time']:.0f}x real time, {r['wall_s']:.1f} s in all, peak {r['peak_mb']:.0f} MB")
        for minutes in [m for m in args.minutes if m <= 10]:
            r = run(weights, minutes * 60, Path(tmp) / f"w{minutes}", stream=False)
            rows.append({"mode": "whole", **r})
            print(f"whole song {minutes:g} min (the baseline): {r['wall_s']:.1f} s in all, peak {r['peak_mb']:.0f} MB")
    print(f"wrote {write_results('stream', {'weights': weights.name, 'runs': rows})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

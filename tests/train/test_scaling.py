"""Scaling up: data larger than a memory bound, MirroredStrategy and two workers with TF_CONFIG."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from musicgen.data.npy_stream import NpyAppender

from helpers import REPO, run_script

COMMON = ["--hidden", "32", "-n", "1", "-e", "5", "-b", "2", "--lr", "0.01", "--seed", "7"]


def history(weights_dir):
    (meta,) = [json.loads(p.read_text()) for p in weights_dir.glob("*_Iter-*.json")]
    return meta["history"]["loss"]


def first_clips(prefix, n: int, dst):
    """A copy of a converted dataset holding only its first n clips."""
    for kind in ("x", "y"):
        np.save(f"{dst}_{kind}.npy", np.load(f"{prefix}_{kind}.npy")[:n])
    for stat in ("mean", "var"):
        np.save(f"{dst}_{stat}.npy", np.load(f"{prefix}_{stat}.npy"))
    info = json.loads((prefix.parent / f"{prefix.name}_info.json").read_text())
    info.pop("fingerprints")  # these are other files
    (dst.parent / f"{dst.name}_info.json").write_text(json.dumps({**info, "clips": min(n, info["clips"])}))
    return dst


@pytest.mark.script
def test_mirrored_over_two_cpu_devices_follows_the_default_loss(small_data, tmp_path):
    # 8 clips in 4 full batches of 2: one clip per replica and step, as the default strategy sees them.
    data = first_clips(small_data, 8, tmp_path / "eight")
    runs = {}
    for strategy in ("default", "mirrored"):
        out = run_script("train.py", *COMMON, "--data", data, "--strategy", strategy,
                         "--weights-dir", tmp_path / strategy, "--img-dir", tmp_path / "img")
        assert out.returncode == 0, out.stderr
        runs[strategy] = (history(tmp_path / strategy), out.stdout)
    assert "2 replicas" in runs["mirrored"][1]
    default, mirrored = runs["default"][0], runs["mirrored"][0]
    # Same batches, same initial weights, gradients summed over the replicas: the same steps up to
    # float rounding (the default strategy also runs XLA-fused kernels, which round differently).
    np.testing.assert_allclose(mirrored, default, rtol=5e-3)
    assert default[-1] < 0.97 * default[0]


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.script
def test_two_workers_train_together_and_the_chief_writes_one_checkpoint(small_data, tmp_path):
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    procs = []
    for index in range(2):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
               "TF_CONFIG": json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})}
        procs.append(subprocess.Popen(
            [sys.executable, str(REPO / "train.py"), *COMMON, "--data", str(small_data), "--strategy", "multiworker",
             "--weights-dir", str(tmp_path / "w"), "--img-dir", str(tmp_path / "img")],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL))
    outputs = [p.communicate(timeout=400) for p in procs]
    for p, (_, stderr) in zip(procs, outputs):
        assert p.returncode == 0, stderr[-3000:]
    assert "2 replicas" in outputs[0][0]
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == [
        "LSTM_NP_Weights_Iter-1.json", "LSTM_NP_Weights_Iter-1.loss.csv", "LSTM_NP_Weights_Iter-1.png",
        "LSTM_NP_Weights_Iter-1.weights.h5", "index.html"]
    assert "saved by the chief worker" in outputs[1][0]
    loss = history(tmp_path / "w")
    assert len(loss) == 5 and np.isfinite(loss).all()
    # What a cluster wrote generates like any other weight file.
    out = run_script("generate.py", "--weights", tmp_path / "w" / "LSTM_NP_Weights_Iter-1.weights.h5",
                     "--data", small_data, "--out-dir", tmp_path / "songs", "--seconds", "2")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "songs" / "generated_song1.wav").stat().st_size > 0


@pytest.mark.script
def test_multiworker_without_tf_config_is_a_one_line_error(small_data, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    out = subprocess.run([sys.executable, str(REPO / "train.py"), "--strategy", "multiworker", "--data",
                          str(small_data), "--weights-dir", str(tmp_path)], env=env, capture_output=True, text=True,
                         cwd=REPO, stdin=subprocess.DEVNULL)
    assert out.returncode == 1 and "TF_CONFIG" in out.stderr and "Traceback" not in out.stderr


PEAK_RSS = """
import resource, runpy, sys

sys.argv = ["train.py"] + sys.argv[1:]
try:
    runpy.run_path("train.py", run_name="__main__")
except SystemExit as exc:
    assert not exc.code, exc.code
print("PEAK_RSS_MB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def peak_rss_mb(prefix, weights_dir) -> float:
    out = subprocess.run([sys.executable, "-c", PEAK_RSS, "--hidden", "16", "-n", "1", "-e", "1", "-b", "8",
                          "--data", str(prefix), "--weights-dir", str(weights_dir), "--img-dir", str(weights_dir)],
                         cwd=REPO, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return float(out.stdout.split("PEAK_RSS_MB")[-1])


def repeated_dataset(source, copies_per_shard: int, dst, shards: int = 4):
    """`source`'s clips repeated, in shards, as convert_directory.py --shard-size writes them."""
    x, y = np.load(f"{source}_x.npy"), np.load(f"{source}_y.npy")
    entries = []
    for k in range(shards):
        names = {kind: f"{dst.name}_{kind}-{k:05d}.npy" for kind in ("x", "y")}
        for kind, clips in (("x", x), ("y", y)):
            writer = NpyAppender(dst.parent / names[kind], clips.shape[1:])
            for _ in range(copies_per_shard):
                writer.append(clips)
            writer.commit()
        entries.append({**names, "clips": copies_per_shard * len(x)})
    for stat in ("mean", "var"):
        np.save(f"{dst}_{stat}.npy", np.load(f"{source}_{stat}.npy"))
    info = json.loads((source.parent / f"{source.name}_info.json").read_text())
    info.pop("fingerprints")  # these are other files
    clips = sum(e["clips"] for e in entries)
    (dst.parent / f"{dst.name}_info.json").write_text(json.dumps({**info, "shards": entries, "clips": clips}))
    return sum((dst.parent / e[kind]).stat().st_size for e in entries for kind in ("x", "y")) / 2**20


@pytest.mark.script
def test_training_memory_stays_flat_when_the_data_is_much_larger(small_data, tmp_path):
    """600 MB of tensors, 75x the baseline set, must not raise peak memory by even 1/6 of that."""
    small_mb = repeated_dataset(small_data, 2, tmp_path / "small")
    big_mb = repeated_dataset(small_data, 150, tmp_path / "big")
    assert big_mb > 500
    small = peak_rss_mb(tmp_path / "small", tmp_path / "w_small")
    big = peak_rss_mb(tmp_path / "big", tmp_path / "w_big")
    assert big - small < (big_mb - small_mb) / 6, (small, big, big_mb)

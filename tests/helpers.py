"""Helpers the tests share: real audio files made with sox and lame, small configs, running scripts."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from musicgen.cli.args import add_preset_flag
from musicgen.cli.train_args import build_parser as train_parser
from musicgen.config import AudioConfig, BlockSpec, ConvertConfig
from musicgen.liveness import lock_name, run_token

REPO = Path(__file__).resolve().parents[1]
MUSIC = REPO / "datasets" / "training_data"

# Every magnitude block format, at 8 kHz, that the decoders working a run of blocks at a time are checked on
# (generate.py --stream's and the example player's).
STREAM_RATE = 8000
MAGNITUDE_BLOCKS = {
    "logmel, overlapping (the main preset's)": BlockSpec(sample_rate=STREAM_RATE, block_size=1000, overlap=True,
                                                         representation="logmel", bands=32),
    "logmag, overlapping": BlockSpec(sample_rate=STREAM_RATE, block_size=1000, overlap=True, representation="logmag"),
    "fine frames (the fine preset's)": BlockSpec(sample_rate=STREAM_RATE, block_size=1024, representation="frames",
                                                 frame=512, bands=64),
}
FFT_BLOCKS = {"hard-edged": BlockSpec(sample_rate=STREAM_RATE, block_size=1000),
              "overlapping": BlockSpec(sample_rate=STREAM_RATE, block_size=1000, overlap=True)}

# Small blocks keep tensors tiny: 0.125 s blocks, 8 blocks (1 s) per clip at 8 kHz.
SMALL_AUDIO = AudioConfig(block=BlockSpec(sample_rate=8000, block_size=1000), clip_len=1.0)


def representation_values(music: np.ndarray, block: BlockSpec) -> np.ndarray:
    """Every whole block of `music` as the values of `block`'s representation (a "frames" block's frames' bands)."""
    from musicgen.audio.frames import block_frame_values
    from musicgen.audio.representation import from_fft_features

    if block.representation == "frames":
        return block_frame_values(music, 0, len(music) // block.block_size, block)
    return from_fft_features(fft_values(music, block), block)


def fft_values(music: np.ndarray, block: BlockSpec) -> np.ndarray:
    """Every whole block of `music` as GRUV's FFT values."""
    from musicgen.audio.blocks import blocks_to_features, frame

    return blocks_to_features(frame(music, (len(music) - block.block_size) // block.hop + 1, block))


def sox(*args) -> None:
    """Run sox with an argument list; fail the test with its stderr."""
    subprocess.run(["sox", *map(str, args)], check=True, capture_output=True)


def tone(path: Path, seconds: float, *, rate: int = 44100, channels: int = 1, freq: float = 440.0,
         bits: int = 16) -> Path:
    """A sine tone file in whatever format `path`'s suffix names."""
    sox("-n", "-r", rate, "-c", channels, "-b", bits, path, "synth", seconds, "sine", freq, "vol", 0.5)
    return path


def mp3_from(wav: Path, mp3: Path) -> Path:
    """Encode a WAV with lame."""
    subprocess.run(["lame", "--quiet", "-b", "64", str(wav), str(mp3)], check=True)
    return mp3


def music_excerpt(dst: Path, seconds: float, *, start: float = 5.0, source: str = "minuet_in_g.mp3") -> Path:
    """A slice of the bundled real music, written in the format dst's suffix names."""
    decoded = dst.with_name(dst.stem + ".src.wav")
    subprocess.run(["lame", "--decode", "--quiet", str(MUSIC / source), str(decoded)], check=True)
    if dst.suffix == ".mp3":
        cut = dst.with_name(dst.stem + ".cut.wav")
        sox(decoded, cut, "trim", start, seconds)
        mp3_from(cut, dst)
        cut.unlink()
    else:
        sox(decoded, dst, "trim", start, seconds)
    decoded.unlink()
    return dst


def small_config(tmp: Path, *, clip_len: float = SMALL_AUDIO.clip_len, **block) -> ConvertConfig:
    """A conversion config that reads tmp/in and writes tmp/out/np_array*; `block` overrides SMALL_AUDIO's blocks."""
    a = AudioConfig(block=dataclasses.replace(SMALL_AUDIO.block, **block), clip_len=clip_len)
    return ConvertConfig(input_dir=tmp / "in", output_prefix=tmp / "out" / "np_array", audio=a)


def convert_minuet(cfg: ConvertConfig) -> ConvertConfig:
    """Convert 9.2 s of the bundled minuet, put in cfg's (new) input folder, as cfg says; cfg back."""
    from musicgen.data.convert import convert_directory

    cfg.input_dir.mkdir()
    music_excerpt(cfg.input_dir / "minuet.mp3", 9.2)
    convert_directory(cfg, progress=False)
    return cfg


def converted_minuet(tmp: Path, *, store: str | None = None, **block) -> ConvertConfig:
    """small_config(tmp, **block) (stored as `store`, if given) with 9.2 s of the bundled minuet, converted."""
    cfg = small_config(tmp, **block)
    if store is not None:
        cfg = dataclasses.replace(cfg, audio=dataclasses.replace(cfg.audio, store=store))
    return convert_minuet(cfg)


def ctrl_c_as_from_a_terminal() -> None:
    """A Popen preexec_fn: SIGINT with its default action, as a terminal's Ctrl-C reaches a foreground program. A
    shell's background job (a suite started with `&`) starts with SIGINT ignored, and Python keeps it so."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_script(script: str, *args, cwd: Path = REPO, env: dict | None = None, timeout: float = 600):
    """Run one of the top-level scripts as a user would."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run(
        [sys.executable, str(REPO / script), *map(str, args)], cwd=cwd, env=full_env,
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )


def train_config(prefix, weights_dir, **kw):
    """A TrainConfig sized for tests."""
    from musicgen.config import TrainConfig

    base = dict(n_iter=2, n_epochs=2, n_batch=2, lr=0.01, data_prefix=prefix, weights_dir=weights_dir,
                img_dir=weights_dir / "img", seed=7)
    return TrainConfig(**{**base, **kw})


def run_in_pty(script: str, *args, keys: list[str], wait_for: str, timeout: float = 300):
    """Run a script on a pseudo-terminal, type `keys` once `wait_for` shows; return (code, screen text)."""
    import fcntl
    import pty
    import select
    import struct
    import termios
    import time

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 160, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen([sys.executable, str(REPO / script), *map(str, args)], cwd=REPO, env=env,
                            stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    seen, sent, deadline = b"", False, time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        if not sent and wait_for.encode() in seen:
            time.sleep(0.5)
            for key in keys:
                os.write(master, key.encode())
                time.sleep(0.3)
            sent = True
        if proc.poll() is not None and not ready:
            break
    proc.wait(timeout=30)
    os.close(master)
    return proc.returncode, seen.decode(errors="replace")


DOWN, ENTER = "\x1b[B", "\r"


def script_parser(name: str) -> argparse.ArgumentParser:
    """The parser a script runs with, --config included."""
    if name == "train":
        parser = train_parser("lstm", resume=False)
    else:
        spec = importlib.util.spec_from_file_location(name, REPO / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        parser = module.build_parser()
    add_preset_flag(parser)
    return parser


def temp_leftovers(*folders: Path) -> list[Path]:
    """Temporary files (atomic.temp_path names) and lock files in `folders` and below, but this process's
    own lock files: a live run holds one in each folder it wrote to, and removes them when it exits."""
    own = lock_name(run_token())
    return [p for f in folders if Path(f).exists() for p in Path(f).rglob(".part-*") if p.name != own]


def decoded(tmp: Path, name: str, start: float, seconds: float, rate: int = 22050) -> np.ndarray:
    """Mono float samples at `rate` of `seconds` of a bundled piece from `start`."""
    from musicgen.audio.io import read_audio

    wav, raw = tmp / f"{name}.wav", tmp / f"{name}.raw.wav"
    subprocess.run(["lame", "--decode", "--quiet", str(MUSIC / name), str(raw)], check=True)
    sox(raw, "-r", rate, "-c", 1, wav, "trim", start, seconds)
    return read_audio(wav)[0]

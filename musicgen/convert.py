"""convert_directory: a folder of music -> mono WAVs -> FFT block tensors.

Outputs, for prefix P (default datasets/np_array):
  P_x.npy, P_y.npy        float32 (clips, clip_blocks, 2*block_size); Y is X one block later
  P_mean.npy, P_var.npy   per-feature mean and variance of X (float32)
  P_xmerged.wav           X turned back into audio, to hear what the network sees
  P_info.json             sample rate, block size, overlap and the files the clips came from

With a shard size, X and Y go to P_x-00000.npy, P_y-00000.npy, ... of at most
that many clips each (P_info.json lists them), so no single file grows with the
library; P_xmerged.wav then holds the first shard only.

One pass over the files: the next file decodes (lame | sox) in a worker thread
while this one is cut into clips and streamed to disk, so memory stays flat in
library size and the two cores are both busy.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import write_atomic
from .audio_io import WavWriter, decode_to_wav, read_wav, wav_frames
from .config import AUDIO_SUFFIXES, AudioConfig, ConvertConfig
from .errors import AudioDecodeError, DatasetError
from .fft_blocks import OverlapAdd, blocks_to_features, features_to_blocks, frame
from .npy_stream import NpyAppender, RunningStats, save_atomic
from .progress import Progress


@dataclass
class SourceFile:
    """One input file, its cached mono WAV and how many clips it gives."""

    path: Path
    wav: Path
    frames: int = 0
    clips: int = 0


@dataclass
class ConversionSummary:
    """What a conversion used, skipped and wrote."""

    used: list[SourceFile] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    decoded_seconds: float = 0.0
    seconds: float = 0.0
    clips: int = 0
    x_shape: tuple[int, ...] = ()
    outputs: list[Path] = field(default_factory=list)
    wall_seconds: float = 0.0

    def lines(self) -> list[str]:
        """Human-readable closing summary."""
        out = [
            f"files converted: {len(self.used)}, skipped: {len(self.skipped)}",
            f"audio decoded: {self.decoded_seconds:.1f} s; used: {self.seconds:.1f} s in {self.clips} clips",
            f"tensor shape X = Y = {self.x_shape} (float32)",
        ]
        out += [f"  skipped {name}: {reason}" for name, reason in self.skipped]
        out += [f"wrote {p}" for p in self.outputs]
        out.append(f"took {self.wall_seconds:.1f} s")
        return out


def find_audio_files(input_dir: Path, max_files: int) -> list[Path]:
    """Audio files directly inside `input_dir`, sorted by name, at most `max_files`."""
    if not input_dir.is_dir():
        raise DatasetError(f"input folder '{input_dir}' does not exist")
    files = sorted(
        p for p in input_dir.iterdir()
        if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES and not p.name.startswith(".")
    )
    return files[:max_files]


def _wav_names(files: list[Path]) -> dict[Path, str]:
    """Cache names in wave/: the stem as in the original, the full name if two stems clash."""
    stems = [p.stem for p in files]
    return {p: (p.stem if stems.count(p.stem) == 1 else p.name) + ".wav" for p in files}


def _is_cached(src: Path, wav: Path, sample_rate: int) -> bool:
    if not wav.exists() or wav.stat().st_mtime < src.stat().st_mtime:
        return False
    try:
        rate, _ = read_wav(wav)
    except AudioDecodeError:
        return False
    return rate == sample_rate


def decode_source(src: Path, wav: Path, audio: AudioConfig) -> SourceFile | str:
    """Decode one file into the WAV cache; return it, or the one-line reason to skip it."""
    try:
        if not _is_cached(src, wav, audio.sample_rate):
            decode_to_wav(src, wav, sample_rate=audio.sample_rate)
        frames = wav_frames(wav)
    except AudioDecodeError as exc:
        return str(exc).split(": ", 1)[-1] if ": " in str(exc) else str(exc)
    except (EOFError, OSError) as exc:
        return f"unreadable ({exc})"
    n_blocks = -(-frames // audio.hop)
    clips = (n_blocks - 1) // audio.clip_blocks
    if clips <= 0:
        need = (audio.clip_blocks * audio.hop + 1) / audio.sample_rate
        return f"too short: {frames / audio.sample_rate:.2f} s, one clip needs {need:.2f} s"
    return SourceFile(src, wav, frames, clips)


def clip_features(samples: np.ndarray, clip: int, audio: AudioConfig) -> np.ndarray:
    """FFT features (clip_blocks + 1, 2*block_size) of the blocks that clip `clip` spans."""
    start = clip * audio.clip_blocks * audio.hop
    segment = np.asarray(samples[start:start + audio.clip_blocks * audio.hop + audio.block_size],
                         dtype=np.float32) / 32767.0
    return blocks_to_features(frame(segment, audio.clip_blocks + 1, audio.block_size, audio.overlap))


class _TensorWriter:
    """The outputs of a conversion, written as clips arrive (X and Y in shards if asked)."""

    def __init__(self, prefix: Path, audio: AudioConfig, shard_size: int = 0):
        prefix.parent.mkdir(parents=True, exist_ok=True)
        self.row = (audio.clip_blocks, audio.feature_dim)
        self.prefix, self.shard_size = prefix, shard_size
        self.shards: list[dict] = []
        self.done: list[Path] = []
        self.clips = 0
        self._open_shard()
        self.merged_path = Path(f"{prefix}_xmerged.wav")
        self.merged_part = self.merged_path.with_name(self.merged_path.name + ".part")
        self.merged = WavWriter(self.merged_part, audio.sample_rate)
        self.merged_blocks = OverlapAdd(audio.block_size, audio.overlap)
        self.stats = RunningStats(audio.feature_dim)

    def _name(self, kind: str) -> Path:
        suffix = f"-{len(self.shards):05d}" if self.shard_size else ""
        return Path(f"{self.prefix}_{kind}{suffix}.npy")

    def _open_shard(self) -> None:
        self.x = NpyAppender(self._name("x"), self.row)
        self.y = NpyAppender(self._name("y"), self.row)

    def _close_shard(self) -> None:
        self.done += [self.x.commit(), self.y.commit()]
        self.shards.append({"x": self.x.path.name, "y": self.y.path.name, "clips": self.x.rows})

    def add(self, feats: np.ndarray) -> None:
        """Store one clip's clip_blocks + 1 feature rows as an X and a Y row."""
        if self.shard_size and self.x.rows == self.shard_size:
            self._close_shard()
            self._open_shard()
        self.x.append(feats[None, :-1])
        self.y.append(feats[None, 1:])
        self.stats.update(feats[:-1])
        self.clips += 1
        if not self.shards:
            self.merged.write(self.merged_blocks.push(features_to_blocks(feats[:-1])))

    def commit(self, info: dict) -> list[Path]:
        """Move every output into place; shards of an earlier, longer conversion are removed."""
        self.merged.write(self.merged_blocks.flush())
        self.merged.close()
        self._close_shard()
        if self.shard_size:
            info = {**info, "shards": self.shards}
            for kind in ("x", "y"):
                for stale in self.prefix.parent.glob(f"{self.prefix.name}_{kind}-*.npy"):
                    if stale.name not in {s[kind] for s in self.shards}:
                        stale.unlink()
        return self.done + [
            save_atomic(Path(f"{self.prefix}_mean.npy"), self.stats.mean.astype(np.float32)),
            save_atomic(Path(f"{self.prefix}_var.npy"), self.stats.variance.astype(np.float32)),
            self.merged_part.replace(self.merged_path),
            write_atomic(Path(f"{self.prefix}_info.json"), lambda p: p.write_text(json.dumps(info, indent=1))),
        ]

    def abort(self) -> None:
        """Delete every partial output (shards already complete stay, unlisted, until the next run)."""
        self.merged.close()
        self.x.abort()
        self.y.abort()
        self.merged_part.unlink(missing_ok=True)


def convert_directory(cfg: ConvertConfig, *, progress: bool = True) -> ConversionSummary:
    """Convert every audio file in cfg.input_dir; raise DatasetError if none is usable."""
    start = time.monotonic()
    audio = cfg.audio
    if audio.overlap and audio.block_size < 2:
        raise DatasetError("overlapping blocks need a block size of at least 2 samples")
    files = find_audio_files(cfg.input_dir, cfg.max_files)
    if not files:
        raise DatasetError(f"no audio files ({' '.join(AUDIO_SUFFIXES)}) in '{cfg.input_dir}'")
    names = _wav_names(files)
    summary = ConversionSummary()
    writer = _TensorWriter(cfg.output_prefix, audio, cfg.shard_size)
    bar = Progress(len(files), "converting", enabled=progress)
    pool = ThreadPoolExecutor(max_workers=2)
    try:
        decoded = pool.map(lambda p: decode_source(p, cfg.wave_dir / names[p], audio), files)
        for src, result in zip(files, decoded):
            if isinstance(result, str):
                summary.skipped.append((src.name, result))
            else:
                summary.used.append(result)
                _, samples = read_wav(result.wav)
                for clip in range(result.clips):
                    writer.add(clip_features(samples, clip, audio))
                del samples
            bar.update(src.name)
        if not summary.used:
            reasons = "; ".join(f"{n}: {r}" for n, r in summary.skipped[:3])
            raise DatasetError(f"no usable audio in '{cfg.input_dir}' ({reasons})")
    except BaseException:
        pool.shutdown(cancel_futures=True)
        writer.abort()
        raise
    pool.shutdown()
    summary.x_shape = (writer.clips, *writer.row)
    summary.outputs = writer.commit({
        "sample_rate": audio.sample_rate, "block_size": audio.block_size, "clip_blocks": audio.clip_blocks,
        "overlap": audio.overlap, "clips": summary.x_shape[0], "sources": [f.path.name for f in summary.used],
    })
    summary.clips = summary.x_shape[0]
    summary.decoded_seconds = sum(f.frames for f in summary.used) / audio.sample_rate
    summary.seconds = summary.clips * audio.clip_blocks * audio.hop / audio.sample_rate
    summary.wall_seconds = time.monotonic() - start
    return summary

"""convert_directory: a folder of music -> mono WAVs -> FFT block tensors.

Outputs, for prefix P (default datasets/np_array):
  P_x.npy, P_y.npy        float32 (clips, clip_blocks, 2*block_size); Y is X one block later
  P_mean.npy, P_var.npy   per-feature mean and variance of X (float32)
  P_xmerged.wav           X turned back into audio, to hear what the network sees (at most
                          MERGED_SECONDS of clips spread evenly over the library: a fixed size)
  P_info.json             sample rate, block size, overlap, store and the files the clips came from

With --store logmag there is no P_y.npy: P_x.npy holds float16 log magnitudes (clips,
clip_blocks + 1, block_size/2 + 1), and readers take X and Y from it (TrainingData.pairs);
the statistics are those of the log magnitudes.

With a shard size, X and Y go to P_x-RUN-00000.npy, P_y-RUN-00000.npy, ... of at most
that many clips each (P_info.json lists them), so no single file grows with the
library. RUN is new for every
conversion, so the shards of the dataset in use are never touched while a new one
is written: it takes over when its info file is renamed into place, at the very end.

Decoded WAVs are cached in the input folder's wave/ (wav_cache.py).

One pass over the files: the next files decode (lame | sox) in worker threads
while this one is cut into clips by `jobs` threads and streamed to disk in order, so
memory stays flat in library size, every core is busy, and the tensors are the same
for any number of jobs.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import os
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from musicgen.atomic import NAME_MAX, check_writable, raise_if_disk_full, temp_path
from musicgen.audio.blocks import OverlapAdd, blocks_to_features, features_to_blocks, frame
from musicgen.audio.io import WavWriter, from_int16, to_int16
from musicgen.audio.frames import block_frame_values
from musicgen.audio.representation import log_magnitudes
from musicgen.audio.silence import audible_span
from musicgen.progress import Progress
from musicgen.config import AUDIO_SUFFIXES, MAX_CLIP_BLOCKS, AudioConfig, BlockSpec, ConvertConfig
from musicgen.data.clip_store import STORE_DTYPES
from musicgen.data.npy_stream import NpyAppender, RunningStats
from musicgen.data.training_data import fingerprint
from musicgen.data.wav_cache import cache_names, cached_samples
from musicgen.errors import AudioDecodeError, DatasetError, OutputError
from musicgen.formats.dataset import (OUTPUT_SUFFIXES, DatasetInfo, Shard, check_frames, info_path, is_merged_audio,
                                      merged_audio_path, npy_path, shard_path, shard_pattern, write_dataset_info)
from musicgen.signals import signals_deferred


@dataclass
class SourceFile:
    """One input file, its cached mono WAV and how many clips it gives."""

    path: Path
    wav: Path
    frames: int = 0
    clips: int = 0
    samples: np.ndarray | None = field(default=None, repr=False)  # memory-mapped int16


@dataclass
class ConversionSummary:
    """What a conversion used, skipped and wrote."""

    used: list[SourceFile] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    decoded_seconds: float = 0.0
    seconds: float = 0.0
    clips: int = 0
    x_shape: tuple[int, ...] = ()
    store: str = "fft"
    outputs: list[Path] = field(default_factory=list)
    wall_seconds: float = 0.0
    sample_rate: int = 0

    def lines(self) -> list[str]:
        """Human-readable closing summary."""
        out = [
            f"files converted: {len(self.used)}, skipped: {len(self.skipped)}",
            f"audio decoded: {self.decoded_seconds:.1f} s; used: {self.seconds:.1f} s in {self.clips} clips",
            f"tensor shape X = Y = {self.x_shape} (float32)" if self.store == "fft" else
            f"tensor shape {self.x_shape} (float16 log "
            f"{'magnitudes' if self.store == 'logmag' else 'mel bands of fine frames'}; "
            "X and Y are read from it)",
        ]
        out += [f"  skipped {name}: {reason}" for name, reason in self.skipped]
        out += [f"wrote {p}" for p in self.outputs]
        out.append(f"took {self.wall_seconds:.1f} s")
        return out

    def as_dict(self) -> dict:
        """JSON-ready: the files used (with their cached WAVs and clips) and skipped, the sizes and the outputs."""
        return {
            "used": [{"source": str(f.path), "wav": str(f.wav), "seconds": f.frames / max(self.sample_rate, 1),
                      "clips": f.clips} for f in self.used],
            "skipped": [{"source": name, "reason": reason} for name, reason in self.skipped],
            "decoded_seconds": self.decoded_seconds, "seconds": self.seconds, "clips": self.clips,
            "shape": list(self.x_shape), "store": self.store, "outputs": [str(p) for p in self.outputs],
            "wall_seconds": self.wall_seconds,
        }


def find_audio_files(input_dir: Path, max_files: int) -> list[Path]:
    """Audio files directly inside `input_dir`, sorted by name, at most `max_files`."""
    if not input_dir.is_dir():
        raise DatasetError(f"input folder '{input_dir}' does not exist")
    files = sorted(
        p for p in input_dir.iterdir()
        if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES and not p.name.startswith(".") and not is_merged_audio(p)
    )
    return files[:max_files]


def decode_source(src: Path, wav: Path, audio: AudioConfig) -> SourceFile | str:
    """Decode one file into the WAV cache and map it; return it, or the one-line reason to skip it."""
    try:
        samples = cached_samples(src, wav, audio.block.sample_rate)
    except AudioDecodeError as exc:
        return str(exc).split(": ", 1)[-1] if ": " in str(exc) else str(exc)
    except OSError as exc:
        raise_if_disk_full(exc, wav.parent)  # the cache's disk: every file would fail alike
        return f"unreadable ({exc.strerror or exc})"
    if audio.trim_silence:
        first, end = audible_span(samples, audio.block.sample_rate, audio.trim_silence)
        if end == 0:
            return f"silent (no stretch louder than {audio.trim_silence:g} dBFS)"
        samples = samples[first:end]  # still the cache file's memory map
    frames = len(samples)
    # A clip is kept when every sample of its blocks, the one after it (its last target) included,
    # lies in the file: a block padded with zeros past the file's end taught the network that loud
    # music may drop to silence at once, and songs fell quiet (docs/RESULTS.md).
    span = audio.clip_blocks * audio.block.hop
    clips = max(0, frames - audio.block.block_size) // span
    if clips <= 0:
        need = (span + audio.block.block_size) / audio.block.sample_rate
        return f"too short: {frames / audio.block.sample_rate:.2f} s, one clip needs {need:.2f} s"
    return SourceFile(src, wav, frames, clips, samples)


def clip_features(samples: np.ndarray, clip: int, audio: AudioConfig) -> np.ndarray:
    """FFT features (clip_blocks + 1, 2*block_size) of the blocks that clip `clip` spans."""
    start = clip * audio.clip_blocks * audio.block.hop
    segment = from_int16(samples[start:start + audio.clip_blocks * audio.block.hop + audio.block.block_size])
    return blocks_to_features(frame(segment, audio.clip_blocks + 1, audio.block))


def clip_rows(samples: np.ndarray, clip: int, audio: AudioConfig) -> tuple[np.ndarray, np.ndarray | None]:
    """clip_features, and for --store frames the log mel bands of the fine frames of the same blocks (which
    reach back into the music before the clip)."""
    feats = clip_features(samples, clip, audio)
    if audio.store != "frames":
        return feats, None
    block = audio.block
    start = clip * audio.clip_blocks * block.hop
    first = max(0, start - (block.frame - block.frame_hop))
    segment = from_int16(samples[first:start + (audio.clip_blocks + 1) * block.block_size])
    return feats, block_frame_values(segment, start - first, audio.clip_blocks + 1, block)


# Ten minutes of clips are enough to hear what the network sees and to judge previews against; an
# hour library's whole audio would add 0.32 GB to the 0.31 GB of its compact tensors.
MERGED_SECONDS = 600.0


class _MergedClips:
    """The audio of PREFIX_xmerged.wav: every clip while they fit in `capacity`, then every stride-th
    clip, the stride doubling (and every other kept clip dropped) whenever they would not. So its
    length stays fixed and it holds the whole library's music, not only its first folder's: previews
    are judged against it. The kept audio waits in a scratch file, so memory stays flat too."""

    def __init__(self, path: Path, audio: AudioConfig):
        self.capacity = max(1, int(MERGED_SECONDS // audio.clip_len))
        self.rate, self.stride, self.seen = audio.block.sample_rate, 1, 0
        self.kept: list[tuple[int, int, int]] = []  # (clip index, byte offset, bytes) in the scratch file
        self.blocks = OverlapAdd(audio.block)
        self.scratch_path = temp_path(path.with_name(path.name + ".pcm"))
        self.scratch = open(self.scratch_path, "w+b")

    def add(self, feats: np.ndarray) -> None:
        """Offer one clip's feature rows (the clip's blocks and the next one)."""
        index, self.seen = self.seen, self.seen + 1
        if index % self.stride:
            return
        # Consecutive kept clips join by overlap-add, as the blocks of one file do.
        pcm = to_int16(self.blocks.push(features_to_blocks(feats[:-1]))).astype("<i2").tobytes()
        self.kept.append((index, self.scratch.seek(0, os.SEEK_END), len(pcm)))
        self.scratch.write(pcm)
        if len(self.kept) > self.capacity:
            self.stride *= 2
            self.kept = [k for k in self.kept if k[0] % self.stride == 0]

    def write(self, part: Path) -> None:
        """The kept clips in their order, then the last block's fading end, as a 16-bit WAV."""
        with WavWriter(part, self.rate) as wav:
            for _, offset, size in self.kept:
                self.scratch.seek(offset)
                wav.write_pcm(self.scratch.read(size))
            wav.write(self.blocks.flush())
        self.close()

    def close(self) -> None:
        """Remove the scratch file (also when closing it fails, as it may on a full disk)."""
        try:
            self.scratch.close()
        finally:
            self.scratch_path.unlink(missing_ok=True)


class _TensorWriter:
    """The outputs of a conversion, written as clips arrive (X and Y in shards if asked).

    Everything is written under temporary or new names; `commit` renames it all into
    place at once, with the info file last, so readers see the old dataset or the new one.
    """

    def __init__(self, prefix: Path, audio: AudioConfig, shard_size: int = 0):
        self.store = audio.store
        # Log magnitudes and fine frames keep the clip's last block too: it is the last block of Y.
        self.row = {"fft": (audio.clip_blocks, audio.block.fft_dim),
                    "logmag": (audio.clip_blocks + 1, audio.block.bins),
                    "frames": (audio.clip_blocks + 1, audio.block.frame_values)}[self.store]
        self.prefix, self.shard_size = prefix, shard_size
        self.run = secrets.token_hex(4)
        self.started = time.time()
        self.closed: list[list[NpyAppender]] = []
        self.clips = 0
        self.merged_path = merged_audio_path(prefix)
        self.merged_part = temp_path(self.merged_path)
        self._open_shard()
        self.merged = _MergedClips(self.merged_path, audio)
        self.stats = RunningStats(self.row[1])

    @property
    def fft(self) -> bool:
        """GRUV's layout: an X and a Y file of float32 FFT values."""
        return self.store == "fft"

    def _name(self, kind: str) -> Path:
        if self.shard_size:
            return shard_path(self.prefix, kind, self.run, len(self.closed))
        return npy_path(self.prefix, kind)

    def _open_shard(self) -> None:
        # A Ctrl-C or SIGTERM waits until the shard's files are listed in self.files, where abort() finds
        # them: one landing between creating a file and listing it left that file behind.
        dtype = STORE_DTYPES[self.store]
        with signals_deferred():
            kinds = ("x", "y") if self.fft else ("x",)
            self.files = [NpyAppender(self._name(kind), self.row, dtype) for kind in kinds]

    def _close_shard(self) -> None:
        with signals_deferred():
            for appender in self.files:
                appender.finish()
            self.closed.append(self.files)

    def add(self, feats: np.ndarray, frames: np.ndarray | None = None) -> None:
        """Store one clip's clip_blocks + 1 feature rows as an X and a Y row (or one row of log magnitudes,
        or of its blocks' fine `frames`)."""
        if self.shard_size and self.files[0].rows == self.shard_size:
            self._close_shard()
            self._open_shard()
        if self.fft:
            self.files[0].append(feats[None, :-1])
            self.files[1].append(feats[None, 1:])
            self.stats.update(feats[:-1])
        else:
            stored = (frames if self.store == "frames" else log_magnitudes(feats)).astype(STORE_DTYPES[self.store])
            self.files[0].append(stored[None])
            self.stats.update(stored[:-1].astype(np.float32))  # the values as stored, float16 rounding and all
        self.merged.add(feats)
        self.clips += 1

    def commit(self, info: DatasetInfo) -> list[Path]:
        """Move every output into place, the info file last; then remove the shards it replaced."""
        self.merged.write(self.merged_part)
        self._close_shard()
        if self.shard_size:
            info = replace(info, shards=tuple(
                Shard(x=files[0].path.name, y=files[1].path.name if self.fft else None, clips=files[0].rows)
                for files in self.closed))
        stats = [(npy_path(self.prefix, "mean"), self.stats.mean),
                 (npy_path(self.prefix, "var"), self.stats.variance)]
        staged = [temp_path(path) for path, _ in stats]
        try:
            for part, (_, values) in zip(staged, stats):
                np.save(part, values.astype(np.float32))
            # The fixed names (PREFIX_x.npy, PREFIX_mean.npy, ...) are replaced one by one; the info file,
            # renamed last, says which contents belong together, so a kill between two renames is caught.
            pieces = [(f.path, f.part) for files in self.closed for f in files if not self.shard_size]
            pieces += [(path, part) for part, (path, _) in zip(staged, stats)]
            info = replace(info, fingerprints={path.name: fingerprint(part) for path, part in pieces})
            info_part = temp_path(info_path(self.prefix))
            staged.append(info_part)
            write_dataset_info(info_part, info)
            # Renames only from here on: a Ctrl-C or SIGTERM waits until the dataset is whole.
            with signals_deferred():
                done = [f.commit() for files in self.closed for f in files]
                for part, (path, _) in zip(staged, stats):
                    part.replace(path)
                    done.append(path)
                done.append(self.merged_part.replace(self.merged_path))
                done.append(info_part.replace(info_path(self.prefix)))
        finally:
            for part in staged:
                part.unlink(missing_ok=True)
        self._remove_replaced_shards(info)
        return done

    def _remove_replaced_shards(self, info: DatasetInfo) -> None:
        """Delete shards the new info file does not list: an earlier conversion's (or a killed one's), and
        the Y file of a GRUV dataset that a "logmag" one replaced. Files newer than this run are left
        alone: they belong to a conversion running beside it."""
        listed = {name for s in info.shards for name in (s.x, s.y) if name is not None}
        if not self.fft:  # the Y file of the GRUV dataset this one replaced
            stale_y = npy_path(self.prefix, "y")
            with contextlib.suppress(OSError):
                if stale_y.stat().st_mtime < self.started:
                    stale_y.unlink()
        # The folder is listed and names matched exactly: --output is the user's text, never a pattern.
        shard = shard_pattern(self.prefix)
        try:
            entries = list(self.prefix.parent.iterdir())
        except OSError:
            return
        for stale in entries:
            if not shard.fullmatch(stale.name) or stale.name in listed:
                continue
            with contextlib.suppress(OSError):
                if stale.lstat().st_mtime < self.started:
                    stale.unlink()

    def abort(self) -> None:
        """Delete every partial output; the dataset already in place stays as it was.

        Closing may fail the way the writing did (a full disk): the files go regardless.
        """
        with contextlib.suppress(OSError):
            self.merged.close()
        for files in [*self.closed, self.files]:
            for appender in files:
                appender.abort()
        self.merged_part.unlink(missing_ok=True)


FRAME_BATCH = 8  # clips per worker handed out at once: enough to keep the workers busy, little memory


def _decoded_in_order(pool: ThreadPoolExecutor, files: list[Path], decode, *, ahead: int):
    """(file, decode(file)) in the files' order, with at most `ahead` decodes started but not yet taken."""
    pending: collections.deque = collections.deque()
    remaining = iter(files)
    for src in itertools.islice(remaining, ahead):
        pending.append((src, pool.submit(decode, src)))
    while pending:
        src, future = pending.popleft()
        result = future.result()
        for nxt in itertools.islice(remaining, 1):
            pending.append((nxt, pool.submit(decode, nxt)))
        yield src, result


# The longest name a conversion writes beside --output's (a shard of Y: _y-RUN-NNNNN.npy).
SHARD_SUFFIX = "_y-01234567-00000.npy"


def _check_output_names(prefix: Path, shard_size: int) -> None:
    """OutputError before any work if a name this conversion writes would not fit the file system's
    limit: found half-way, it would leave some files renamed into place and others not."""
    suffixes = OUTPUT_SUFFIXES + ((SHARD_SUFFIX,) if shard_size else ())
    longest = max(len(os.fsencode(prefix.name + s)) for s in suffixes)
    if longest > NAME_MAX:
        raise OutputError(f"--output name '{prefix.name}' is too long: the files it names would have "
                          f"{longest} bytes, {NAME_MAX} at most")


def convert_directory(cfg: ConvertConfig, *, progress: bool = True) -> ConversionSummary:
    """Convert every audio file in cfg.input_dir; raise DatasetError if none is usable."""
    start = time.monotonic()
    audio = cfg.audio
    if audio.block.overlap and audio.block.block_size < 2:
        raise DatasetError("overlapping blocks need a block size of at least 2 samples")
    if audio.store == "frames":
        check_frames(audio.block)
    else:  # only fine frames use them: recorded as the defaults, so networks of any --bands match the data
        audio = replace(audio, block=replace(audio.block, bands=BlockSpec.bands, frame=BlockSpec.frame))
    if audio.clip_blocks > MAX_CLIP_BLOCKS:  # the most an info file or weight file may record
        raise DatasetError(f"--clip-len {audio.clip_len:g} makes clips of {audio.clip_blocks} blocks of "
                           f"{audio.block.block_size} samples, {MAX_CLIP_BLOCKS} at most; lower --clip-len or "
                           "raise --block-size")
    files = find_audio_files(cfg.input_dir, cfg.max_files)
    if not files:
        raise DatasetError(f"no audio files ({' '.join(AUDIO_SUFFIXES)}) in '{cfg.input_dir}'")
    names = cache_names(files)
    _check_output_names(cfg.output_prefix, cfg.shard_size)
    check_writable(cfg.output_prefix.parent)
    check_writable(cfg.wave_dir)
    summary = ConversionSummary()
    writer = None
    bar = Progress(len(files), "converting", enabled=progress)
    jobs = cfg.jobs or os.cpu_count() or 1
    decoder, framer = ThreadPoolExecutor(max_workers=jobs), ThreadPoolExecutor(max_workers=jobs)
    try:
        with signals_deferred():  # its files are opened by the time a signal can land: abort() removes them
            writer = _TensorWriter(cfg.output_prefix, audio, cfg.shard_size)
        # Files decode `jobs` at a time, a few ahead of the one being framed (lame and sox run as
        # their own processes); a file's clips are framed `jobs` at a time (the FFT runs without the
        # GIL); every clip is written in file and clip order, so the tensors do not depend on `jobs`.
        for src, result in _decoded_in_order(decoder, files, lambda p: decode_source(p, cfg.wave_dir / names[p], audio),
                                             ahead=jobs + 1):
            if isinstance(result, str):
                summary.skipped.append((src.name, result))
            else:
                summary.used.append(result)
                for first in range(0, result.clips, FRAME_BATCH * jobs):
                    clips = range(first, min(first + FRAME_BATCH * jobs, result.clips))
                    for feats, frames in framer.map(lambda c: clip_rows(result.samples, c, audio), clips):
                        writer.add(feats, frames)
                result.samples = None  # unmap it
            bar.update(src.name)
        if not summary.used:
            reasons = "; ".join(f"{n}: {r}" for n, r in summary.skipped[:3])
            raise DatasetError(f"no usable audio in '{cfg.input_dir}' ({reasons})")
        decoder.shutdown()
        framer.shutdown()
        summary.x_shape, summary.store = (writer.clips, *writer.row), audio.store
        summary.outputs = writer.commit(DatasetInfo(
            block=audio.block, store=audio.store, block_size=audio.block.block_size, clip_blocks=audio.clip_blocks,
            clips=summary.x_shape[0], sources=tuple(f.path.name for f in summary.used)))
    except BaseException as exc:
        decoder.shutdown(cancel_futures=True)
        framer.shutdown(cancel_futures=True)
        if writer is not None:
            writer.abort()
        raise_if_disk_full(exc, cfg.output_prefix.parent, "the dataset already there is unchanged")
        raise
    summary.clips = summary.x_shape[0]
    summary.sample_rate = audio.block.sample_rate
    summary.decoded_seconds = sum(f.frames for f in summary.used) / audio.block.sample_rate
    summary.seconds = summary.clips * audio.clip_blocks * audio.block.hop_seconds
    summary.wall_seconds = time.monotonic() - start
    return summary

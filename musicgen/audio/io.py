"""All audio reading and writing: any input decoded to mono 16-bit WAV (lame, sox); one reader of any audio
file as float samples (read_audio) beside the WAV cache's memory-mapped one (read_pcm_wav); one WAV writer
(WavWriter, streamed or whole) and songs encoded from its WAV (lame, sox); a WAV sent to a player as it is made."""

from __future__ import annotations

import errno
import os
import struct
import tempfile
import warnings
import wave
from pathlib import Path
from typing import BinaryIO

import numpy as np
from scipy.io import wavfile

from musicgen.atomic import hit_size_limit, require_space, temp_path, write_atomic
from musicgen.audio.tools import ReaderStoppedError, run_pipe, run_tool
from musicgen.errors import AudioDecodeError


def decode_to_wav(src: Path, dst: Path, *, sample_rate: int) -> None:
    """Write `src` (mp3 via lame, other formats via sox) as mono 16-bit WAV at `sample_rate`.

    `dst` appears only when decoding succeeded, so a cache hit is always complete.
    """
    # Absolute paths start with '/', so no file name can be read as an option. abspath, not resolve():
    # a link at `dst` is replaced by the decoded file, never written through to what it points at.
    src, dst = Path(os.path.abspath(src)), Path(os.path.abspath(dst))
    if src.stat().st_size == 0:
        raise AudioDecodeError("empty file")
    dst.parent.mkdir(parents=True, exist_ok=True)
    part = temp_path(dst)
    # sox -V1: lame streams a WAV header without a length, which sox would warn about. -R seeds
    # sox's dither with a fixed number, so decoding a file twice gives the same samples.
    to_mono = ["-r", sample_rate, "-c", 1, "-b", 16, "-e", "signed-integer", part]
    try:
        if src.suffix.lower() == ".mp3":
            # lame decodes and sox downmixes/resamples at the same time, through a pipe.
            try:
                run_pipe(["lame", "--decode", "--quiet", src, "-"],
                         ["sox", "-V1", "-R", "-t", "wav", "-", *to_mono], what=src.name)
            except ReaderStoppedError:
                require_space(dst)
                raise
        else:
            run_tool(["sox", "-V1", "-R", src, *to_mono], what=src.name)
        _check_complete(part, dst)
        os.replace(part, dst)
    except AudioDecodeError:
        if hit_size_limit(part):  # ulimit -f: the limit, not the file, is at fault; every file would fail alike
            raise OSError(errno.EFBIG, os.strerror(errno.EFBIG), str(dst)) from None
        raise
    finally:
        part.unlink(missing_ok=True)


def _check_complete(path: Path, name: Path) -> None:
    """Refuse a WAV that lacks bytes its header counts: sox exits 0 when a full disk cuts its output
    short, and the conversion must fail then (OSError), not skip the file."""
    try:
        with wave.open(str(path), "rb") as handle:
            needed = handle.getnframes() * handle.getsampwidth() * handle.getnchannels()
    except (wave.Error, EOFError):
        needed = None
    size = os.path.getsize(path)
    if needed is not None and size >= needed + 44:  # 44: the smallest WAV header
        if needed == 0:  # no audio (a source that decodes to nothing) or no room to write any
            require_space(name)
        return
    require_space(name)
    raise AudioDecodeError(f"sox wrote an incomplete WAV ({size} bytes)")


def wav_frames(path: Path) -> int:
    """Number of sample frames in a PCM WAV, read from its header only."""
    with wave.open(str(path), "rb") as handle:
        return handle.getnframes()


def read_pcm_wav(path: Path) -> tuple[np.ndarray, int]:
    """A cached mono 16-bit WAV as (memory-mapped int16 samples, rate): what conversion frames an hour of music
    from without reading it into memory."""
    try:
        rate, data = wavfile.read(path, mmap=True)
    except Exception as exc:  # scipy reports some broken headers as UnboundLocalError or struct.error
        raise AudioDecodeError(f"{Path(path).name}: not a readable WAV ({exc})") from None
    if data.ndim != 1 or data.dtype != np.int16:
        raise AudioDecodeError(f"{path.name}: expected mono 16-bit WAV, got {data.dtype} {data.shape}")
    return data, rate


class WavWriter:
    """Append float blocks to a mono 16-bit WAV without holding the whole song."""

    def __init__(self, path: Path, sample_rate: int):
        self._handle = wave.open(str(path), "wb")
        self._handle.setnchannels(1)
        self._handle.setsampwidth(2)
        self._handle.setframerate(sample_rate)

    def write(self, samples: np.ndarray) -> None:
        """Append float samples in [-1, 1]; values beyond are clipped."""
        self._handle.writeframes(to_int16(samples).astype("<i2").tobytes())

    def write_pcm(self, pcm: bytes) -> None:
        """Append samples already 16-bit little-endian."""
        self._handle.writeframes(pcm)

    def close(self) -> None:
        """Finish the header and close the file."""
        self._handle.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    """Float samples as a whole mono 16-bit WAV, written under a private name and then renamed."""
    def write(part: Path) -> None:
        with WavWriter(part, sample_rate) as writer:
            writer.write(samples)

    write_atomic(path, write)


def encode_wav(wav: Path, target: Path, song_format: str) -> None:
    """Encode the WAV `wav` to `target` in `song_format` (lame for mp3, sox for flac and ogg); a "wav" song is
    `wav` itself."""
    if song_format == "mp3":
        run_tool(["lame", "--quiet", "-q", 2, wav, target], what=target.name)
    elif song_format in ("flac", "ogg"):
        run_tool(["sox", "-V1", wav, target], what=target.name)


class WavStream:
    """Float blocks as a mono 16-bit WAV on a stream that may not seek (a pipe to a player): the header gives
    the largest length, which players read as "until the stream ends"; one that seeks (stdout sent to a file)
    gets the true length when closed."""

    UNKNOWN = 0xFFFFFFFF

    def __init__(self, stream: BinaryIO, sample_rate: int):
        self.stream, self.frames = stream, 0
        self.stream.write(self._header(sample_rate, self.UNKNOWN))
        self.stream.flush()
        self.rate = sample_rate

    @staticmethod
    def _header(sample_rate: int, data_bytes: int) -> bytes:
        riff = min(data_bytes + 36, WavStream.UNKNOWN)
        return (b"RIFF" + struct.pack("<I", riff) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate,
                2 * sample_rate, 2, 16) + b"data" + struct.pack("<I", data_bytes))

    def write(self, samples: np.ndarray) -> None:
        """Send float samples in [-1, 1] (clipped beyond) at once: the player hears them now."""
        self.stream.write(to_int16(samples).astype("<i2").tobytes())
        self.stream.flush()
        self.frames += len(samples)

    def close(self) -> None:
        """Give the header the true length where the stream can seek back to it."""
        try:
            seekable = self.stream.seekable()
        except (OSError, ValueError):
            seekable = False
        if seekable and 2 * self.frames <= self.UNKNOWN - 36:
            self.stream.seek(0)
            self.stream.write(self._header(self.rate, 2 * self.frames))
            self.stream.seek(0, os.SEEK_END)
        self.stream.flush()


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Any WAV (int or float, mono or multi-channel) -> (mono float samples in [-1, 1], rate)."""
    try:
        with warnings.catch_warnings():
            # A header that promises more than the file holds: scipy reads what is there and warns.
            warnings.simplefilter("ignore", wavfile.WavFileWarning)
            rate, data = wavfile.read(path)
    except Exception as exc:  # scipy reports some broken headers as UnboundLocalError or struct.error
        raise AudioDecodeError(f"{Path(path).name}: not a readable WAV ({exc})") from None
    if not 0 < rate <= 10**6 or data.ndim not in (1, 2) or data.size == 0:
        raise AudioDecodeError(f"{Path(path).name}: not usable audio (rate {rate} Hz, shape {data.shape})")
    if not np.issubdtype(data.dtype, np.number):
        raise AudioDecodeError(f"{Path(path).name}: not usable audio ({data.dtype} samples)")
    if data.dtype == np.int16:
        data = from_int16(data)
    elif np.issubdtype(data.dtype, np.integer):
        scale = float(np.iinfo(data.dtype).max) + 1.0
        if data.dtype == np.uint8:
            data = data.astype(np.float32) - 128.0
            scale = 128.0
        data = data.astype(np.float32) / scale
    data = data.astype(np.float32)
    if not np.isfinite(data).all():  # float WAVs can hold them; every measure would come out NaN
        raise AudioDecodeError(f"{Path(path).name}: holds NaN or infinite samples")
    if data.ndim == 2:
        data = data.mean(axis=1)
    return data, int(rate)


def read_audio(path: Path, sample_rate: int | None = None, *, resample: bool = False) -> tuple[np.ndarray, int]:
    """Mono float32 samples in [-1, 1] and their rate, of any audio file: a WAV as it is, other formats (and a
    WAV too, with `resample`) decoded by lame/sox at `sample_rate`."""
    path = Path(path)
    if path.suffix.lower() == ".wav" and not resample:
        return _read_wav(path)
    if sample_rate is None:
        raise ValueError("decoding needs a sample rate")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "decoded.wav"
        decode_to_wav(path, wav, sample_rate=sample_rate)
        return from_int16(read_pcm_wav(wav)[0]), sample_rate


# GRUV's scale, both ways: training tensors hold int16 samples / 32767 and songs are written back
# at * 32767, so a sample survives the round trip exactly.
PCM_SCALE = 32767.0


def from_int16(pcm: np.ndarray) -> np.ndarray:
    """int16 samples -> float32 audio in [-1, 1]."""
    return np.asarray(pcm, dtype=np.float32) / np.float32(PCM_SCALE)


def to_int16(samples: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] -> int16, clipped at full scale instead of wrapping."""
    cleaned = np.nan_to_num(np.asarray(samples, dtype=np.float64), nan=0.0, posinf=1.0, neginf=-1.0)
    return np.clip(np.round(cleaned * PCM_SCALE), -32768, 32767).astype(np.int16)

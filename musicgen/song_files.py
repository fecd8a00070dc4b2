"""Writing songs under auto-incremented names that never overwrite anything."""

from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from .atomic import DISK_ERRNOS, describe_write_error, temp_path, write_atomic
from .errors import OutputError
from .fft_blocks import to_int16

SONG_RE = re.compile(r"^generated_song(\d+)\.wav$")


def next_song_number(folder: Path) -> int:
    """One more than the highest generated_songN.wav in `folder`."""
    numbers = [int(m.group(1)) for p in folder.glob("generated_song*.wav") if (m := SONG_RE.match(p.name))]
    return max(numbers, default=0) + 1


def write_song(folder: Path, samples: np.ndarray, sample_rate: int, *, info: dict | None = None,
               draw: Callable[[Path], object] | None = None) -> Path:
    """Write float samples as 16-bit mono FOLDER/generated_songN.wav with a fresh N, its sidecar
    `info` (generated_songN.json) and the picture `draw(path)` makes (generated_songN.png).

    Everything is written under private names first and the WAV is then hard-linked to its
    final name: link() fails if that name exists, so two runs finishing together can never
    take the same number or overwrite a song, and a full disk leaves no half of a song behind.
    """
    with warnings.catch_warnings():
        # pydub looks for ffmpeg at import; WAV export does not need it.
        warnings.simplefilter("ignore", RuntimeWarning)
        from pydub import AudioSegment

    folder.mkdir(parents=True, exist_ok=True)
    pcm = to_int16(samples)
    part = temp_path(folder / "generated_song.wav")
    picture = temp_path(folder / "generated_song.png")
    try:
        AudioSegment(data=pcm.astype("<i2").tobytes(), sample_width=2, frame_rate=sample_rate,
                     channels=1).export(part, format="wav")
        if draw is not None:
            draw(picture)
        number = next_song_number(folder)
        while True:
            target = folder / f"generated_song{number}.wav"
            try:
                os.link(part, target)
                break
            except FileExistsError:
                number += 1
        if draw is not None:
            os.replace(picture, target.with_suffix(".png"))
        if info is not None:
            write_song_info(target, info)
        return target
    except OSError as exc:
        if exc.errno in DISK_ERRNOS:
            raise OutputError(describe_write_error(exc, folder) + "; no song was written") from None
        raise
    finally:
        part.unlink(missing_ok=True)
        picture.unlink(missing_ok=True)


def song_info_path(song: Path) -> Path:
    """generated_songN.wav -> generated_songN.json, the song's sidecar."""
    return Path(song).with_suffix(".json")


def write_song_info(song: Path, info: dict) -> Path:
    """Write the song's sidecar atomically: where it came from and where its seed's echo ends."""
    return write_atomic(song_info_path(song), lambda p: p.write_text(json.dumps(info, indent=1) + "\n"))


def read_song_info(song: Path) -> dict:
    """The song's sidecar, or {} for a song without one (older songs, other audio)."""
    try:
        info = json.loads(song_info_path(song).read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}

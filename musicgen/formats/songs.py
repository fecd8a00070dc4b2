"""Writing songs under auto-incremented names that never overwrite anything."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Callable

import numpy as np

from musicgen.atomic import raise_if_disk_full, temp_path
from musicgen.audio.io import encode_audio, to_int16
from musicgen.errors import OutputError
from musicgen.schema import SchemaError, load_json

SONG_RE = re.compile(r"^generated_song(\d+)\.(wav|flac|mp3|ogg|json|png)$")


def next_song_number(folder: Path) -> int:
    """One more than the highest generated_songN.* (any format, sidecar or picture) in `folder`."""
    numbers = [int(m.group(1)) for p in folder.glob("generated_song*") if (m := SONG_RE.match(p.name))]
    return max(numbers, default=0) + 1


def write_song(folder: Path, samples: np.ndarray, sample_rate: int, *, info: dict | None = None,
               draw: Callable[[Path], object] | None = None, song_format: str = "wav") -> Path:
    """Write float samples as 16-bit mono FOLDER/generated_songN.<format> with a fresh N, its sidecar
    `info` (generated_songN.json) and the picture `draw(path)` makes (generated_songN.png).

    Everything is written under private names and checked first; then N is claimed by
    hard-linking the sidecar (or the song, without one) to its final name: link() fails if that
    name exists, so two runs finishing together, in any formats, never take the same number or
    overwrite anything, and a full disk leaves no half of a song behind.
    """
    folder.mkdir(parents=True, exist_ok=True)
    remove_orphan_sidecars(folder)
    pcm = to_int16(samples)
    wav = temp_path(folder / "generated_song.wav")
    audio = temp_path(folder / f"generated_song.{song_format}") if song_format != "wav" else wav
    picture = temp_path(folder / "generated_song.png")
    sidecar = temp_path(folder / "generated_song.json")
    parts = {wav, audio, picture, sidecar}
    try:
        encode_audio(pcm, sample_rate, wav, audio, song_format)
        if draw is not None:
            draw(picture)
        if info is not None:
            sidecar.write_text(json.dumps(info, indent=1) + "\n")
        if not os.path.isfile(audio) or os.path.getsize(audio) == 0:
            raise OutputError(f"the {song_format} encoder wrote nothing (a full disk?); no song was written")
        claim, claim_suffix = (sidecar, ".json") if info is not None else (audio, f".{song_format}")
        number = next_song_number(folder)
        while True:
            stem = folder / f"generated_song{number}"
            try:
                if any(SONG_RE.match(p.name) for p in folder.glob(f"generated_song{number}.*")):
                    raise FileExistsError  # taken by a song of another format
                os.link(claim, stem.with_suffix(claim_suffix))
                break
            except FileExistsError:
                number += 1
        target = stem.with_suffix(f".{song_format}")
        if claim is not audio:
            try:
                os.link(audio, target)
            except OSError:
                stem.with_suffix(claim_suffix).unlink(missing_ok=True)  # no sidecar without its song
                raise
        if draw is not None:
            os.replace(picture, stem.with_suffix(".png"))
        return target
    except OSError as exc:
        raise_if_disk_full(exc, folder, "no song was written")
        raise
    finally:
        for part in parts:
            part.unlink(missing_ok=True)


ORPHAN_SECONDS = 60.0  # a run links its song right after its sidecar: one alone this long was left by a kill
AUDIO_FORMATS = ("wav", "flac", "mp3", "ogg")


def remove_orphan_sidecars(folder: Path) -> list[Path]:
    """Delete generated_songN.json (and .png) left without any generated_songN audio by a run killed between
    linking the two; a fresh one may be a live run's and is left alone. The removed files are returned."""
    removed = []
    for path in sorted(folder.iterdir()):
        match = SONG_RE.match(path.name)
        if not match or match.group(2) != "json":
            continue
        stem = folder / f"generated_song{match.group(1)}"
        try:
            fresh = time.time() - path.lstat().st_mtime < ORPHAN_SECONDS
        except OSError:
            continue
        if fresh or any(os.path.lexists(stem.with_suffix(f".{ext}")) for ext in AUDIO_FORMATS):
            continue
        for orphan in (path, stem.with_suffix(".png")):
            if os.path.lexists(orphan):
                orphan.unlink(missing_ok=True)
                removed.append(orphan)
    return removed


def song_info_path(song: Path) -> Path:
    """generated_songN.wav -> generated_songN.json, the song's sidecar."""
    return Path(song).with_suffix(".json")


def read_song_info(song: Path) -> dict:
    """The song's sidecar, or {} for a song without one (older songs, other audio)."""
    try:
        info = load_json(song_info_path(song))
    except (OSError, SchemaError):
        return {}
    return info if isinstance(info, dict) else {}

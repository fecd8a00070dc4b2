"""Songs: generated_songN.<format> under auto-incremented names that never overwrite anything, with the
picture generated_songN.png and the sidecar generated_songN.json (a SongInfo) beside each."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from musicgen import schema
from musicgen.atomic import claim_first_free, raise_if_disk_full, temp_path
from musicgen.audio.io import WavWriter, encode_wav
from musicgen.config import BlockSpec
from musicgen.errors import OutputError
from musicgen.schema import SchemaError, load_json


@dataclass(frozen=True)
class SongInfo:
    """A song's sidecar: where the song came from and where the echo of its seed ends. Sidecars of earlier
    versions lack keys; those read as the defaults here."""

    echo_seconds: float = 0.0  # the network's predictions over the seed end here; the new music follows
    block: BlockSpec | None = None  # the blocks it was made of; None in sidecars from before it was recorded
    hop_seconds: float = 0.25  # seconds a block, as sidecars from before the block format said it
    weights: str | None = None  # the weight file, as typed
    iteration: int | None = None
    cell: str | None = None
    output: str | None = None
    prenet_dropout: float | None = None
    seed_clip: int | None = None  # the training clip it was seeded from (None: a --prime file)
    data: str | None = None  # the tensors it was seeded from (None: none were read)
    prime: str | None = None
    prime_start: float = 0.0
    seconds: float | None = None
    temperature: float | None = None
    tail_noise: float | None = None  # a frames network's code detail noise, a fraction of the temperature
    noise_memory: float | None = None  # how much of the last block's noise a frames network's code detail carries
    bound: float | None = None
    detail: str | None = None
    detail_contrast: float | None = None  # a learnt detail's shape within bands, scaled from its fit
    random_seed: int | None = None
    format: str | None = None
    music_seconds: float | None = None  # of the judged seconds, how many evaluate.py's timeline calls music
    judged_seconds: float | None = None  # after the echo (a long streamed song: its last minute); None: not judged

    @property
    def step_seconds(self) -> float:
        """Seconds of audio one network step added to the song (its blocks' hop)."""
        return self.hop_seconds if self.block is None else self.block.hop_seconds

    def to_doc(self) -> dict:
        """The sidecar's JSON: every field, the block format's keys among them (as every file records it)."""
        doc = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name not in ("block", "hop_seconds")}
        return {**doc, **(self.block.to_doc() if self.block is not None else {"hop_seconds": self.hop_seconds})}


class UnreadableSidecar(SchemaError):
    """A song's sidecar is there but is not a JSON object."""


# Where each optional field's value must be of a kind: a value of another kind is ignored (read as None),
# since nothing but the echo and the blocks changes how a song is measured.
_KINDS = {"weights": str, "iteration": int, "cell": str, "output": str, "prenet_dropout": float, "seed_clip": int,
          "data": str, "prime": str, "seconds": float, "temperature": float, "tail_noise": float,
          "noise_memory": float, "bound": float, "detail": str, "detail_contrast": float, "random_seed": int,
          "format": str, "music_seconds": float, "judged_seconds": float}


def song_info_from_doc(doc: dict) -> SongInfo:
    """A sidecar's JSON as a SongInfo; SchemaError naming the key when the echo or the blocks are damaged."""
    known = {}
    for key, kind in _KINDS.items():
        value = doc.get(key)
        numeric = kind is float and isinstance(value, int) and not isinstance(value, bool)
        if isinstance(value, kind) and not isinstance(value, bool) or numeric:
            known[key] = float(value) if numeric else value
    block = schema.get_block(doc) if "block_size" in doc else None
    return SongInfo(echo_seconds=schema.get_float(doc, "echo_seconds", 0.0, 1e7, 0.0), block=block,
                    hop_seconds=schema.get_float(doc, "hop_seconds", 1e-4, 60.0, 0.25),
                    prime_start=schema.get_float(doc, "prime_start", 0.0, 1e7, 0.0), **known)


def read_song_info(song: Path) -> SongInfo | None:
    """The sidecar of `song`; None for a song without one (older songs, other audio). UnreadableSidecar when
    it is not a JSON object; SchemaError when its echo or blocks are damaged."""
    path = song_info_path(song)
    if not os.path.lexists(path):
        return None
    try:
        doc = load_json(path)
    except (OSError, SchemaError) as exc:
        raise UnreadableSidecar(str(exc)) from None
    if not isinstance(doc, dict):
        raise UnreadableSidecar("not a JSON object")
    return song_info_from_doc(doc)


SONG_RE = re.compile(r"^generated_song(\d+)\.(wav|flac|mp3|ogg|json|png)$")


def next_song_number(folder: Path) -> int:
    """One more than the highest generated_songN.* (any format, sidecar or picture) in `folder`."""
    numbers = [int(m.group(1)) for p in folder.glob("generated_song*") if (m := SONG_RE.match(p.name))]
    return max(numbers, default=0) + 1


def write_song(folder: Path, samples: np.ndarray, sample_rate: int, *, info: SongInfo | None = None,
               draw: Callable[[Path], object] | None = None, song_format: str = "wav") -> Path:
    """Write float samples as 16-bit mono FOLDER/generated_songN.<format> with a fresh N, its sidecar
    `info` (generated_songN.json) and the picture `draw(path)` makes (generated_songN.png); keep_song says how."""
    def make_wav(wav: Path) -> None:
        with WavWriter(wav, sample_rate) as writer:
            writer.write(samples)

    return keep_song(folder, make_wav, info=info, draw=draw, song_format=song_format)


def streamed_song_part(folder: Path) -> Path:
    """The private name a song's WAV is written under while it streams (keep_song then moves it)."""
    folder.mkdir(parents=True, exist_ok=True)
    return temp_path(folder / "generated_song.stream.wav")


def keep_song(folder: Path, make_wav: Callable[[Path], None], *, info: SongInfo | None = None,
              draw: Callable[[Path], object] | None = None, song_format: str = "wav") -> Path:
    """Keep the song whose WAV `make_wav(path)` puts at a private path as FOLDER/generated_songN.<format>, with
    its sidecar `info` and picture `draw(path)`.

    Everything is written under private names and checked first; then N is claimed by
    hard-linking the sidecar (or the song, without one) to its final name: link() fails if that
    name exists, so two runs finishing together, in any formats, never take the same number or
    overwrite anything, and a full disk leaves no half of a song behind.
    """
    folder.mkdir(parents=True, exist_ok=True)
    remove_orphan_sidecars(folder)
    wav = temp_path(folder / "generated_song.wav")
    audio = temp_path(folder / f"generated_song.{song_format}") if song_format != "wav" else wav
    picture = temp_path(folder / "generated_song.png")
    sidecar = temp_path(folder / "generated_song.json")
    parts = {wav, audio, picture, sidecar}
    try:
        make_wav(wav)
        encode_wav(wav, audio, song_format)
        if draw is not None:
            draw(picture)
        if info is not None:
            sidecar.write_text(json.dumps(info.to_doc(), indent=1) + "\n")
        if not os.path.isfile(audio) or os.path.getsize(audio) == 0:
            raise OutputError(f"the {song_format} encoder wrote nothing (a full disk?); no song was written")
        claim, claim_suffix = (sidecar, ".json") if info is not None else (audio, f".{song_format}")

        def take(path: Path) -> None:
            if any(SONG_RE.match(p.name) for p in folder.glob(f"{path.stem}.*")):
                raise FileExistsError  # taken by a song of another format
            os.link(claim, path)

        names = (folder / f"generated_song{n}{claim_suffix}" for n in itertools.count(next_song_number(folder)))
        stem = claim_first_free(names, take).with_suffix("")
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


RESYNTH_SUFFIX = ".resynthesized.wav"


def claim_resynthesis(folder: Path, stem: str, part: Path) -> Path:
    """Link the finished `part` to FOLDER/STEM.resynthesized.wav, or STEM.resynthesized-2.wav, ...: never over
    a file."""
    names = (folder / (stem + (RESYNTH_SUFFIX if n == 1 else RESYNTH_SUFFIX.replace(".wav", f"-{n}.wav")))
             for n in itertools.count(1))
    return claim_first_free(names, lambda path: os.link(part, path))


def song_info_path(song: Path) -> Path:
    """generated_songN.wav -> generated_songN.json, the song's sidecar."""
    return Path(song).with_suffix(".json")

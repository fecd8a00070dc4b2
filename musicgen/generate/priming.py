"""Seeding a song from any audio file instead of a training clip (generate.py --prime)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from musicgen.audio.blocks import blocks_to_features, frame
from musicgen.audio.frame_code import FrameCode
from musicgen.audio.frames import block_frame_values
from musicgen.audio.representation import from_fft_features
from musicgen.audio.io import read_audio
from musicgen.config import ModelConfig
from musicgen.errors import AudioDecodeError

SILENCE_RMS = 1e-4  # -80 dBFS: below this a seed holds nothing for the network to continue


def prime_seconds(model: ModelConfig) -> float:
    """Audio one seed needs: as many blocks as a training clip."""
    return ((model.clip_blocks - 1) * model.block.hop + model.block.block_size) / model.block.sample_rate


def prime_values(path: Path, start: float, model: ModelConfig, code: FrameCode | None = None) -> np.ndarray:
    """(clip_blocks, feature_dim) values of the network's representation (not normalised) of `path` from
    `start` seconds, decoded (lame for mp3, sox for the rest) to mono at the network's rate;
    AudioDecodeError if unreadable, too short or silent."""
    path = Path(path)
    if not path.is_file():
        raise AudioDecodeError(f"--prime file '{path}' does not exist")
    try:
        music, _ = read_audio(path, model.block.sample_rate, resample=True)
    except AudioDecodeError as exc:
        raise AudioDecodeError(f"--prime file '{path}' cannot be read: {str(exc).split(': ', 1)[-1]}") from None
    need = int(round(prime_seconds(model) * model.block.sample_rate))
    first = int(round(start * model.block.sample_rate))
    segment = music[first:first + need]
    if len(segment) < need:
        raise AudioDecodeError(f"--prime file '{path.name}' is {len(music) / model.block.sample_rate:.2f} s long; "
                               f"a seed needs {prime_seconds(model):.2f} s from --prime-start {start:g} s")
    if float(np.sqrt(np.mean(np.square(segment)))) < SILENCE_RMS:
        raise AudioDecodeError(f"--prime file '{path.name}' is silent from {start:g} s to "
                               f"{start + prime_seconds(model):.2f} s; pick another --prime-start")
    if model.block.representation == "frames":  # the fine frames reach back into the music before the seed
        values = block_frame_values(music, first, model.clip_blocks, model.block)
        return values if code is None else code.encode(values)
    return from_fft_features(blocks_to_features(frame(segment, model.clip_blocks, model.block)), model.block)

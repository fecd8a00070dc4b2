"""The one source of truth for defaults: the original toolkit's values.

Scripts override fields from argparse flags; a trained model stores its
ModelConfig next to its weights so later scripts rebuild the same network.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

AUDIO_SUFFIXES = (".mp3", ".wav", ".flac", ".ogg")


@dataclass(frozen=True)
class AudioConfig:
    """How audio becomes tensors (convert_directory.py)."""

    sample_rate: int = 44100  # Hz; every input is resampled to this
    block_size: int = 11025  # samples per block: sample_rate / 4 = 0.25 s
    clip_len: float = 10.0  # seconds of audio in one training clip

    @property
    def clip_blocks(self) -> int:
        """Blocks in one training clip (40 with the defaults)."""
        return max(1, round(self.clip_len * self.sample_rate / self.block_size))

    @property
    def feature_dim(self) -> int:
        """Values per block: real and imaginary FFT parts side by side."""
        return 2 * self.block_size


@dataclass(frozen=True)
class ConvertConfig:
    """Where convert_directory.py reads and writes."""

    input_dir: Path = Path("datasets/training_data")
    output_prefix: Path = Path("datasets/np_array")
    max_files: int = 200  # the original's cap on files per conversion
    audio: AudioConfig = AudioConfig()

    @property
    def wave_dir(self) -> Path:
        """Decoded mono WAVs are cached here, as in the original."""
        return self.input_dir / "wave"


def replace(cfg, **changes):
    """Return a copy of a config with the non-None changes applied."""
    return dataclasses.replace(cfg, **{k: v for k, v in changes.items() if v is not None})

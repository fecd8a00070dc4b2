"""Datasets: the names of the files convert_directory.py writes for an --output PREFIX (data/convert.py
writes them, data/training_data.py reads them)."""

from __future__ import annotations

import re
from pathlib import Path

MERGED_SUFFIX = "_xmerged.wav"
INFO_SUFFIX = "_info.json"
STATS = ("mean", "var")
# Every name a dataset may take: X and Y (or X alone), the statistics, the clips as audio, the info file.
OUTPUT_SUFFIXES = ("_x.npy", "_y.npy", "_mean.npy", "_var.npy", MERGED_SUFFIX, INFO_SUFFIX)


def npy_path(prefix: Path, kind: str) -> Path:
    """PREFIX_KIND.npy: the clips (x), the targets one block later (y), or each stored value's mean or variance
    over the clips (mean, var)."""
    return Path(f"{prefix}_{kind}.npy")


def shard_path(prefix: Path, kind: str, run: str, index: int) -> Path:
    """PREFIX_x-RUN-00000.npy: one shard of X or Y written by the conversion RUN."""
    return Path(f"{prefix}_{kind}-{run}-{index:05d}.npy")


def shard_pattern(prefix: Path) -> re.Pattern:
    """Names of the shards of PREFIX, matched exactly: the prefix is the user's text, never a pattern (a glob
    of 'songs[2]_x-*' would take the shards of a dataset named songs2)."""
    return re.compile(re.escape(Path(prefix).name) + r"_[xy]-[0-9a-f]{8}-\d{5}\.npy")


def merged_audio_path(prefix: Path) -> Path:
    """PREFIX_xmerged.wav: the dataset's clips as audio, what its networks learnt from (and are judged against)."""
    return Path(f"{prefix}{MERGED_SUFFIX}")


def info_path(prefix: Path) -> Path:
    """PREFIX_info.json: the block format, the store, the sources, the shards and a fingerprint of each file."""
    return Path(f"{prefix}{INFO_SUFFIX}")


def is_merged_audio(path: Path) -> bool:
    """Whether `path` is a dataset's own PREFIX_xmerged.wav (its info file beside it): an --output inside --input
    must not become music for the next conversion."""
    name = Path(path).name
    return name.endswith(MERGED_SUFFIX) and info_path(Path(path).with_name(name[:-len(MERGED_SUFFIX)])).is_file()

"""Datasets: the names of the files convert_directory.py writes for an --output PREFIX, and the record its info
file holds (data/convert.py writes them, data/training_data.py reads them)."""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from musicgen import schema
from musicgen.config import MAX_BLOCK_SIZE, MAX_CLIP_BLOCKS, STORES, BlockSpec
from musicgen.errors import DatasetError

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


def check_frames(block: BlockSpec, error=DatasetError) -> None:
    """`error` unless `block` can be cut into fine frames: hard-edged blocks a whole number of quarter frames long."""
    if block.overlap or block.frame % 4 or block.block_size % block.frame_hop:
        raise error(f"fine frames of {block.frame} samples (every {block.frame_hop}) need hard-edged blocks a whole "
                    f"number of {block.frame_hop} samples long, and a frame of a multiple of 4 samples; "
                    f"got {block.describe()}")


@dataclass(frozen=True)
class Shard:
    """One shard of a sharded dataset: its X (and, for GRUV's store, Y) file beside the info file, and its clips."""

    x: str
    clips: int
    y: str | None = None


@dataclass(frozen=True)
class DatasetInfo:
    """What PREFIX_info.json records. Datasets converted before it existed are GRUV's blocks at the default rate
    (`DatasetInfo()`); a count or block size their info file leaves out is None (the tensors say it)."""

    block: BlockSpec = BlockSpec()
    store: str = "fft"
    block_size: int | None = None
    clip_blocks: int | None = None
    clips: int | None = None
    sources: tuple[str, ...] = ()
    shards: tuple[Shard, ...] = ()
    fingerprints: dict[str, str] = field(default_factory=dict)  # file name -> conversion.fingerprint

    @property
    def with_y(self) -> bool:
        """GRUV's store keeps a Y file beside X; the others read Y from X's last block."""
        return self.store == "fft"

    def to_doc(self) -> dict:
        """The info file's keys (read back by read_dataset_info)."""
        counts = {"clip_blocks": self.clip_blocks, "clips": self.clips}
        doc = {**self.block.to_doc(), "store": self.store, **{k: v for k, v in counts.items() if v is not None},
               "sources": list(self.sources)}
        if self.shards:
            doc["shards"] = [{"x": s.x, **({"y": s.y} if s.y is not None else {}), "clips": s.clips}
                             for s in self.shards]
        if self.fingerprints:
            doc["fingerprints"] = dict(self.fingerprints)
        return doc


def write_dataset_info(path: Path, info: DatasetInfo) -> None:
    """Write `info` as an info file at `path` (the conversion renames it into place last)."""
    Path(path).write_text(schema.json_text(info.to_doc(), indent=1))


def read_dataset_info(prefix: Path) -> DatasetInfo:
    """PREFIX_info.json as written by convert_directory.py, every value checked; GRUV's blocks for tensors
    converted before it existed. DatasetError naming the key if a value is off."""
    info_file = info_path(prefix)
    if not os.path.lexists(info_file):  # anything else at the name (a FIFO, a folder) is refused below
        return DatasetInfo()
    try:
        return _info_from_doc(schema.load_json_object(info_file))
    except OSError as exc:
        raise DatasetError(f"cannot read '{info_file}': {exc.strerror or exc}") from None
    except schema.SchemaError as exc:
        raise DatasetError(f"'{info_file}' is damaged: {exc}; re-run convert_directory.py") from None


def _info_from_doc(doc: dict) -> DatasetInfo:
    # Info files from before the block size was recorded: the tensors' shape says it.
    block = schema.get_block(doc, block_size=BlockSpec().block_size)
    store = schema.get_choice(doc, "store", STORES, "fft")
    if block.representation != "fft":
        raise schema.SchemaError("'representation' of training tensors must be fft (GRUV's values)")
    if store != "fft" and "block_size" not in doc:
        raise schema.SchemaError(f"'block_size' is needed with store {store}")
    if store == "frames":
        check_frames(block, schema.SchemaError)
    else:  # the fine frames' settings mean nothing to these stores
        block = dataclasses.replace(block, bands=BlockSpec.bands, frame=BlockSpec.frame)
    counts = {key: schema.get_int(doc, key, 1 if key != "clips" else 0, high)
              for key, high in (("block_size", MAX_BLOCK_SIZE), ("clip_blocks", MAX_CLIP_BLOCKS), ("clips", 2**62))
              if key in doc}
    sources = tuple(schema.get_list(doc, "sources", []))
    if not all(isinstance(name, str) for name in sources):
        raise schema.SchemaError("'sources' must be a list of file names")
    shards = tuple(_shard(s, k, y=store == "fft") for k, s in enumerate(schema.get_list(doc, "shards", [])))
    fingerprints = {schema.plain_file_name(name, "fingerprints"): schema.sha256_hex(value, f"fingerprints.{name}")
                    for name, value in schema.get_object(doc, "fingerprints", {}).items()}
    return DatasetInfo(block=block, store=store, sources=sources, shards=shards, fingerprints=fingerprints, **counts)


def _shard(entry, k: int, *, y: bool) -> Shard:
    if not isinstance(entry, dict):
        raise schema.SchemaError(f"'shards[{k}]' must be an object")
    return Shard(x=schema.plain_file_name(entry.get("x"), f"shards[{k}].x"),
                 clips=schema.get_int(entry, "clips", 0, 2**62),
                 y=schema.plain_file_name(entry.get("y"), f"shards[{k}].y") if y else None)

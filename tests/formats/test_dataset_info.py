"""A dataset's info file: one typed record, written and read by formats/dataset.py, for today's conversions
and for the info files of earlier versions."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from helpers import converted_minuet
from musicgen.config import BlockSpec
from musicgen.errors import DatasetError
from musicgen.formats.dataset import DatasetInfo, Shard, info_path, read_dataset_info, write_dataset_info


def test_a_conversion_records_what_it_made(small_data):
    info = read_dataset_info(small_data)
    assert info.store == "fft" and info.with_y
    assert info.block.block_size == info.block_size == 1000 and info.block.sample_rate == 8000
    x = np.load(f"{small_data}_x.npy", mmap_mode="r")
    assert (info.clips, info.clip_blocks) == x.shape[:2]
    assert info.sources == ("minuet.mp3",)
    # Every file of the dataset is fingerprinted, so a half-replaced dataset is caught.
    assert {f"{small_data.name}_{kind}.npy" for kind in ("x", "y", "mean", "var")} == set(info.fingerprints)


def test_sharded_datasets_list_their_shards(tmp_path):
    cfg = converted_minuet(tmp_path, store="logmag")
    info = read_dataset_info(cfg.output_prefix)
    assert info.store == "logmag" and not info.with_y and info.shards == ()
    shards = (Shard(x="p_x-0123abcd-00000.npy", clips=2), Shard(x="p_x-0123abcd-00001.npy", clips=1))
    sharded = DatasetInfo(block=info.block, store="logmag", block_size=info.block.block_size, clips=3, shards=shards)
    write_dataset_info(info_path(tmp_path / "p"), sharded)
    assert read_dataset_info(tmp_path / "p") == sharded


def test_info_files_of_earlier_versions_still_read(tmp_path):
    # No info file at all: tensors from before it, GRUV's blocks at the default rate.
    assert read_dataset_info(tmp_path / "old") == DatasetInfo()
    # An info file from before the block size, the counts and the shards were recorded.
    info_path(tmp_path / "older").write_text(json.dumps({"sample_rate": 44100, "overlap": False}))
    older = read_dataset_info(tmp_path / "older")
    assert older.block == BlockSpec(sample_rate=44100) and older.block_size is None and older.clips is None


@pytest.mark.parametrize("change, key", [({"store": "wav"}, "store"), ({"clips": -1}, "clips"),
                                         ({"shards": [{"x": "../elsewhere_x.npy", "clips": 1}]}, "shards[0].x"),
                                         ({"sources": [3]}, "sources"),
                                         ({"fingerprints": {"a_x.npy": "zz"}}, "a_x.npy")])
def test_a_damaged_info_file_is_one_line_naming_the_key(small_data, tmp_path, change, key):
    doc = {**json.loads(info_path(small_data).read_text()), **change}
    info_path(tmp_path / "bad").write_text(json.dumps(doc))
    with pytest.raises(DatasetError, match=f"is damaged: .*{re.escape(key)}.*re-run convert_directory.py"):
        read_dataset_info(tmp_path / "bad")

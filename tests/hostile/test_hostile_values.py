"""Finite but impossible stored values (a flipped exponent bit: 0.508 read as 33312) are damage: the
readers refuse them naming the file and the clip, as they refuse NaN."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers import converted_minuet
from musicgen.data.training_data import load_training_data
from musicgen.errors import DatasetError

STORES = {"fft": dict(overlap=True), "logmag": dict(overlap=True),
          "frames": dict(block_size=1024, frame=512, bands=32)}


@pytest.mark.parametrize("store", sorted(STORES))
@pytest.mark.parametrize("factor", [65536.0, -65536.0])
def test_a_value_no_music_gives_is_refused_naming_the_clip(tmp_path, store, factor):
    cfg = converted_minuet(tmp_path, store=store, **STORES[store])
    data = load_training_data(cfg.output_prefix)
    data.x.read_finite(np.arange(data.clips))  # the music as converted passes
    tensor = np.load(f"{cfg.output_prefix}_x.npy", mmap_mode="r+")
    tensor[3, 2, 5] = np.clip(float(tensor[3, 2, 5]) * factor + factor, -6e4, 6e4)  # finite, in float16 too
    tensor.flush()
    info = Path(f"{cfg.output_prefix}_info.json")  # as if the damage lay past the fingerprinted ends
    info.write_text(json.dumps({k: v for k, v in json.loads(info.read_text()).items() if k != "fingerprints"}))
    with pytest.raises(DatasetError, match=r"np_array_x\.npy' clip 3 holds values outside .* \(damaged\)"):
        load_training_data(cfg.output_prefix).x.read_finite(np.arange(data.clips))

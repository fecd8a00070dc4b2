"""schema: every value of a file others may have edited checked for its type and range; strict JSON out."""

from __future__ import annotations

import json
import math
import os

import pytest

from musicgen import schema
from musicgen.config import BlockSpec, ModelConfig
from musicgen.schema import SchemaError


def test_numbers_are_checked_for_kind_and_range():
    doc = {"n": 3.0, "b": True, "f": 0.5, "big": 10.0}
    assert schema.get_int(doc, "n", 0, 5) == 3 and isinstance(schema.get_int(doc, "n", 0, 5), int)
    with pytest.raises(SchemaError, match="'b'"):
        schema.get_int(doc, "b", 0, 5)  # a bool is not a number, though Python says it is an int
    with pytest.raises(SchemaError, match="'f'"):
        schema.get_int(doc, "f", 0, 5)
    with pytest.raises(SchemaError, match="'big'"):
        schema.get_float(doc, "big", 0.0, 1.0)
    assert schema.get_float({}, "absent", 0.0, 1.0, 0.25) == 0.25
    with pytest.raises(SchemaError, match="'absent'"):
        schema.get_float({}, "absent", 0.0, 1.0)


def test_options_are_checked_against_the_flags_own_range():
    assert schema.get_option({"hidden": 256}, ModelConfig, "hidden") == 256
    with pytest.raises(SchemaError, match="hidden"):
        schema.get_option({"hidden": 0}, ModelConfig, "hidden")


def test_a_block_format_reads_back_and_older_files_get_gruvs_defaults():
    block = BlockSpec(block_size=4096, overlap=True, representation="frames", bands=256)
    assert schema.get_block(block.to_doc()) == block
    old = schema.get_block({"sample_rate": 44100}, block_size=11025)
    assert (old.overlap, old.representation) == (False, "fft")


def test_only_small_regular_utf8_json_files_are_read(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"a": 1}))
    assert schema.load_json_object(good) == {"a": 1}
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(SchemaError, match="regular file"):
        schema.load_json(fifo)  # never opened blocking: nothing waits on a writer
    for name, data in (("nan.json", b'{"a": NaN}'), ("latin.json", b'{"a": "\xe9"}'), ("list.json", b"[1]")):
        (tmp_path / name).write_bytes(data)
    with pytest.raises(SchemaError, match="'a'"):  # NaN parses (other writers write it) but is no value
        schema.get_float(schema.load_json(tmp_path / "nan.json"), "a", -1.0, 1.0)
    with pytest.raises(SchemaError):
        schema.load_json(tmp_path / "latin.json")
    with pytest.raises(SchemaError):
        schema.load_json_object(tmp_path / "list.json")
    huge = tmp_path / "huge.json"
    huge.write_text(" " * 100)
    with pytest.raises(SchemaError):
        schema.read_small_text(huge, max_bytes=10)


def test_json_out_is_strict_with_non_finite_numbers_as_null():
    text = schema.json_text({"a": math.nan, "b": [1.0, -math.inf], "c": {"d": 2}}, indent=None)
    assert json.loads(text) == {"a": None, "b": [1.0, None], "c": {"d": 2}}
    assert "NaN" not in text and "Infinity" not in text

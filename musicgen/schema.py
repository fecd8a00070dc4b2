"""Checking the JSON files other runs (or other people) left behind before trusting a value of them.

A sidecar or info file may be hand-edited, truncated or written by another version; every value
is checked for its type and range, so a bad one is a one-line error naming the file and the key
instead of a traceback, a hang or a silently wrong network.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

from musicgen.config import BlockSpec
from musicgen.errors import MusicGenError

REQUIRED = object()  # the default of a key that must be present
# Every JSON or TOML file the project reads is small (the largest, a weight file's sidecar with a
# long loss history and 22050-value mean/std, is under 2 MB); a cap keeps /dev/zero or a
# gigabyte of junk from filling memory.
MAX_DOC_BYTES = 64 * 2**20


class SchemaError(MusicGenError, ValueError):
    """A value of a JSON or TOML file has the wrong type or is out of range, or the file is not one."""


def json_text(value, indent: int | None = 2) -> str:
    """`value` as strict JSON: a number that is not finite (a measure too short to take) is written null."""
    return json.dumps(_nulls(value), indent=indent, allow_nan=False)


def _nulls(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _nulls(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nulls(v) for v in value]
    return value


def read_small_text(path: Path, max_bytes: int = MAX_DOC_BYTES) -> str:
    """The text of a regular file of at most `max_bytes`; SchemaError for a FIFO, device or folder
    (never opened blocking, so nothing waits on one), for a larger file and for bytes not UTF-8."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SchemaError("not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise SchemaError(f"larger than {max_bytes // 2**20} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SchemaError(f"not text ({exc.reason})") from None


def parse_json(text: str):
    """json.loads with every way it fails (deep nesting, 5000-digit numbers) as SchemaError."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"not JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise SchemaError("nested too deeply") from None
    except ValueError as exc:
        raise SchemaError(f"not usable JSON ({exc})") from None


def load_json(path: Path):
    """The JSON value in `path` (read_small_text's checks first)."""
    return parse_json(read_small_text(path))


def load_json_object(path: Path) -> dict:
    """The JSON object in `path`; SchemaError if the file is not JSON or its top level is not an object."""
    doc = load_json(path)
    if not isinstance(doc, dict):
        raise SchemaError(f"the top level is a {type(doc).__name__}, not an object")
    return doc


def load_toml(path: Path) -> dict:
    """The TOML document in `path`, with the same checks and failures as load_json."""
    import tomllib

    text = read_small_text(path)
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise SchemaError("nested too deeply") from None
    except ValueError as exc:  # TOMLDecodeError
        raise SchemaError(f"not TOML ({exc})") from None


def get_option(doc: dict, cls, name: str, default=REQUIRED):
    """doc[name] checked against the same declaration its flag is (config.option's range or choices on
    `cls`'s field), so every value a flag accepts reads back and nothing else does."""
    import dataclasses

    declared = next(f for f in dataclasses.fields(cls) if f.name == name)
    how = declared.metadata["option"]
    if how.choices is not None:
        return get_choice(doc, name, how.choices, default)
    getter = get_int if isinstance(declared.default, int) else get_float
    value = getter(doc, name, -math.inf, math.inf, default)
    if not how.inside(value):
        raise SchemaError(f"'{name}' = {value} is outside {how.span(getter is get_int)}")
    return value


def get_int(doc: dict, key: str, low: int, high: int, default=REQUIRED) -> int:
    """doc[key] as an int in [low, high] (a float that is a whole number is accepted)."""
    value = _get(doc, key, default)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SchemaError(f"'{key}' must be a whole number, not {_show(value)}")
    if not low <= value <= high:
        raise SchemaError(f"'{key}' = {value} is outside {low}..{high}")
    return value


def get_float(doc: dict, key: str, low: float, high: float, default=REQUIRED) -> float:
    """doc[key] as a finite float in [low, high]."""
    value = _get(doc, key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SchemaError(f"'{key}' must be a finite number, not {_show(value)}")
    if not low <= value <= high:
        raise SchemaError(f"'{key}' = {value} is outside {low}..{high}")
    return float(value)


def get_block(doc: dict, *, block_size=REQUIRED) -> BlockSpec:
    """The block format a JSON file records by BlockSpec.to_doc's keys. `block_size` stands in for files
    from before it was recorded; an absent overlap or representation is GRUV's (files from before them)."""
    d = BlockSpec()
    return BlockSpec(
        sample_rate=get_option(doc, BlockSpec, "sample_rate"),
        block_size=get_option(doc, BlockSpec, "block_size", block_size),
        overlap=get_bool(doc, "overlap", d.overlap),
        representation=get_option(doc, BlockSpec, "representation", d.representation),
        bands=get_option(doc, BlockSpec, "bands", d.bands),
        frame=get_option(doc, BlockSpec, "frame", d.frame),
        code=get_option(doc, BlockSpec, "code", d.code),
        code_basis=get_option(doc, BlockSpec, "code_basis", d.code_basis),
        code_times=get_option(doc, BlockSpec, "code_times", d.code_times),
    )


def get_bool(doc: dict, key: str, default=REQUIRED) -> bool:
    """doc[key] as a JSON true/false (the string "false" is not taken for true)."""
    value = _get(doc, key, default)
    if not isinstance(value, bool):
        raise SchemaError(f"'{key}' must be true or false, not {_show(value)}")
    return value


def get_choice(doc: dict, key: str, choices, default=REQUIRED) -> str:
    """doc[key] as one of `choices`."""
    value = _get(doc, key, default)
    if not isinstance(value, str) or value not in choices:
        raise SchemaError(f"'{key}' must be one of {', '.join(choices)}, not {_show(value)}")
    return value


def get_str(doc: dict, key: str, default=REQUIRED, *, optional: bool = False) -> str | None:
    """doc[key] as a string (or None when `optional`)."""
    value = _get(doc, key, default)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise SchemaError(f"'{key}' must be text, not {_show(value)}")
    return value


def get_object(doc: dict, key: str, default=REQUIRED) -> dict:
    """doc[key] as a JSON object."""
    value = _get(doc, key, default)
    if not isinstance(value, dict):
        raise SchemaError(f"'{key}' must be an object, not {_show(value)}")
    return value


def get_list(doc: dict, key: str, default=REQUIRED) -> list:
    """doc[key] as a JSON list."""
    value = _get(doc, key, default)
    if not isinstance(value, list):
        raise SchemaError(f"'{key}' must be a list, not {_show(value)}")
    return value


def numbers(values: list, key: str, *, length: int | None = None, finite: bool = True,
            low: float | None = None, high: float | None = None) -> list[float]:
    """A list of numbers (of `length`, finite, within [low, high] as asked)."""
    if length is not None and len(values) != length:
        raise SchemaError(f"'{key}' has {len(values)} values, not {length}")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SchemaError(f"'{key}' holds {_show(value)}, not a number")
        if finite and not math.isfinite(value):
            raise SchemaError(f"'{key}' holds {value}")
        if (low is not None and not value >= low) or (high is not None and not value <= high):
            raise SchemaError(f"'{key}' holds {value}, outside {low:g}..{high:g}")
    return [float(v) for v in values]


def sha256_hex(value, key: str) -> str:
    """A sha256 digest as 64 lower-case hex digits."""
    if not isinstance(value, str) or len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise SchemaError(f"'{key}' is not a sha256 hex digest")
    return value


def plain_file_name(value, key: str) -> str:
    """A file name without any folder part, so what it names lies beside the file naming it."""
    if not isinstance(value, str) or not value or value in (".", "..") or "/" in value or "\\" in value \
            or "\0" in value:
        raise SchemaError(f"'{key}' must be a file name beside the info file, not {_show(value)}")
    return value



def _get(doc: dict, key: str, default):
    if key in doc:
        return doc[key]
    if default is REQUIRED:
        raise SchemaError(f"'{key}' is missing")
    return default


def _show(value) -> str:
    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."

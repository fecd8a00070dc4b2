"""The WAV cache: each source decoded once into the input folder's wave/, as mono 16-bit WAV.

A key file beside each WAV holds the source's size, modification time (ns) and the sample rate,
so a replaced source is decoded again; files are written under names unique to the process and
read through a memory map that keeps the file it opened, so two conversions at once cannot hand
each other the wrong audio.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from musicgen.atomic import temp_path, write_text_atomic
from musicgen.audio.io import decode_to_wav, read_pcm_wav
from musicgen.errors import MusicGenError
from musicgen.schema import load_json


def cached_samples(src: Path, wav: Path, sample_rate: int) -> np.ndarray:
    """The int16 samples of `src` at `sample_rate`, from the cache file `wav` if its key still matches,
    else decoded into it (AudioDecodeError if the source cannot be decoded; OSError for the disk)."""
    key = _cache_key(src, sample_rate)
    samples = _open_cached(wav, key)
    return samples if samples is not None else _decode_fresh(src, wav, key)


CACHE_NAME_BYTES = 200  # room left in the 255-byte name limit for the temporary-name prefix


def cache_names(files: list[Path]) -> dict[Path, str]:
    """Cache names in wave/: the stem as in the original, the full name if two stems clash, and a
    shortened name with a hash when the name would not fit the file system's limit."""
    stems = [p.stem for p in files]
    names = {}
    for p in files:
        base = p.stem if stems.count(p.stem) == 1 else p.name
        # os.fsencode: a name need not be UTF-8 on Linux (Python keeps such bytes as surrogates).
        if len(os.fsencode(base)) > CACHE_NAME_BYTES:
            digest = hashlib.sha256(os.fsencode(p.name)).hexdigest()[:12]
            base = os.fsdecode(os.fsencode(base)[:CACHE_NAME_BYTES - 13]) + "-" + digest
        names[p] = base + ".wav"
    return names


def _cache_key(src: Path, sample_rate: int) -> dict:
    st = src.stat()
    return {"source": src.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sample_rate": sample_rate}


def _key_path(wav: Path) -> Path:
    return wav.with_suffix(".key")


def _open_cached(wav: Path, key: dict) -> np.ndarray | None:
    """The cached samples if the key file matches `key` and the WAV really is at its rate."""
    try:
        if load_json(_key_path(wav)) != key or not wav.is_file():
            return None
        samples, rate = read_pcm_wav(wav)
    except (OSError, MusicGenError):
        return None
    return samples if rate == key["sample_rate"] else None


def _decode_fresh(src: Path, wav: Path, key: dict) -> np.ndarray:
    """Decode into the cache and open the result. Another conversion may replace the cached file
    at any moment; a memory map keeps the file it opened, and a wrong rate is decoded again privately."""
    decode_to_wav(src, wav, sample_rate=key["sample_rate"])
    write_text_atomic(_key_path(wav), json.dumps(key))
    samples, rate = read_pcm_wav(wav)
    if rate == key["sample_rate"]:
        return samples
    private = temp_path(wav)
    try:
        decode_to_wav(src, private, sample_rate=key["sample_rate"])
        return read_pcm_wav(private)[0]
    finally:
        private.unlink(missing_ok=True)

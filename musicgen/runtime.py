"""Process-wide settings made once, before TensorFlow starts its threads."""

from __future__ import annotations

import ctypes
import ctypes.util

M_ARENA_MAX = -8  # glibc mallopt parameter


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's per-thread heap arenas; True if applied.

    TensorFlow runs dozens of threads and glibc gives each its own arena, which
    fragments freed batch buffers: training memory crept up by ~500 MB over a few
    epochs. Two arenas keep it flat (measured: GRU steady state 1.83 -> 1.33 GB).
    """
    name = ctypes.util.find_library("c")
    if not name or "libc.so" not in name:
        return False
    try:
        return bool(ctypes.CDLL(name).mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False

"""Refusing work that cannot fit in memory before allocating it, instead of an OOM traceback or a hang."""

from __future__ import annotations

from musicgen.errors import MusicGenError


def available_bytes() -> int | None:
    """Memory the kernel says a new allocation can get (MemAvailable); None where it does not say."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def require_memory(needed: int, what: str, fix: str) -> None:
    """MusicGenError if `needed` bytes (a lower bound) exceed the memory available."""
    available = available_bytes()
    if available is not None and needed > available:
        raise MusicGenError(f"{what} needs at least {needed / 2**30:.1f} GiB of memory but "
                            f"{available / 2**30:.1f} GiB is available; {fix}")

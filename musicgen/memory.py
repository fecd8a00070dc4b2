"""Refusing work that cannot fit in memory before allocating it, instead of an OOM traceback or a hang."""

from __future__ import annotations

from musicgen.config import ModelConfig
from musicgen.errors import MusicGenError
from musicgen.models.model import count_params

FLOAT_BYTES = 4


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


def training_bytes(cfg: ModelConfig, batch: int) -> int:
    """Lower bound for training: weights, their gradients and RMSprop averages, one batch in and out."""
    return FLOAT_BYTES * (3 * count_params(cfg) + 2 * batch * cfg.clip_blocks * (cfg.feature_dim + cfg.hidden))


def generation_bytes(cfg: ModelConfig, count: int, blocks: int) -> int:
    """Lower bound for generating `count` songs of `blocks` blocks: weights, features and audio."""
    return FLOAT_BYTES * (count_params(cfg) + count * blocks * (cfg.output_dim + 2 * cfg.block.hop))

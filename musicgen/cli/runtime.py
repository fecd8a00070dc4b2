"""Process-wide settings made once, before TensorFlow starts its threads."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import importlib.abc
import importlib.util
import os
import sys

M_ARENA_MAX = -8  # glibc mallopt parameter


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's per-thread heap arenas; True if applied.

    TensorFlow runs dozens of threads and glibc gives each its own arena, which
    fragments freed batch buffers, so training memory creeps up epoch after epoch;
    two arenas keep it flat (bench/bench_memory.py measures it).
    """
    name = ctypes.util.find_library("c")
    if not name or "libc.so" not in name:
        return False
    try:
        return bool(ctypes.CDLL(name).mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False


@contextlib.contextmanager
def native_stderr_silenced():
    """Send what C++ code writes to file descriptor 2 to /dev/null for the duration of the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Imports TensorFlow with its native start-up lines silenced, whoever imports it first."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once is enough, and find_spec below must not come back here
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            exec_module = spec.loader.exec_module

            def quiet_exec(module):
                with native_stderr_silenced():
                    exec_module(module)

            spec.loader.exec_module = quiet_exec
        return spec


def quiet_tensorflow() -> None:
    """Keep TensorFlow's absl/oneDNN/CUDA start-up lines out of a script's output.

    They come from C++ while the library loads (no environment variable silences them all)
    and from its logger afterwards (TF_CPP_MIN_LOG_LEVEL does); a script's --verbose skips this.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietTensorFlowImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowImport())

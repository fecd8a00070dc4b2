"""Writing a file so that readers see the old version or the new one, never half of one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable


def write_atomic(path: Path, write: Callable[[Path], object]) -> Path:
    """Call `write(temp)` on a hidden name beside `path`, then rename it into place.

    The temporary name keeps the whole file name as its ending, because Keras
    (.weights.h5), matplotlib (.png) and np.save (.npy) choose by it.
    """
    path = Path(path)
    part = path.with_name(f".part-{path.name}")
    try:
        write(part)
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    return path

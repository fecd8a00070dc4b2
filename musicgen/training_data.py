"""Training tensors on disk -> normalised batches for Keras, without loading them whole."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DatasetError


@dataclass
class TrainingData:
    """Memory-mapped X/Y tensors and their per-feature statistics."""

    x: np.ndarray
    y: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    sample_rate: int = 44100

    @property
    def block_size(self) -> int:
        """Samples per block these tensors were made with."""
        return self.x.shape[2] // 2

    @property
    def clip_blocks(self) -> int:
        """Time steps per clip."""
        return self.x.shape[1]


class RowReader:
    """Reads chosen rows of a C-ordered .npy with plain file reads.

    A memory map would leave every page it touched mapped into the process, so
    resident memory would grow with the dataset; file reads go through the page
    cache, which the kernel can drop.
    """

    def __init__(self, array: np.ndarray):
        self.path = array.filename
        self.offset = array.offset
        self.row_shape = array.shape[1:]
        self.dtype = array.dtype
        self.row_bytes = int(np.prod(self.row_shape)) * array.dtype.itemsize

    def read(self, rows: np.ndarray) -> np.ndarray:
        """Rows `rows` (any order) as a new (len(rows), *row_shape) array."""
        out = np.empty((len(rows), *self.row_shape), dtype=self.dtype)
        with open(self.path, "rb", buffering=0) as handle:
            for k, row in enumerate(rows):
                handle.seek(self.offset + int(row) * self.row_bytes)
                handle.readinto(memoryview(out[k]).cast("B"))
        return out


def std_from_variance(var: np.ndarray) -> np.ndarray:
    """Standard deviation with a floor, so near-constant bins are not blown up into noise."""
    std = np.sqrt(np.maximum(np.asarray(var, dtype=np.float64), 0.0))
    floor = max(1e-4 * float(std.max()), 1e-8)
    return np.maximum(std, floor).astype(np.float32)


def load_training_data(prefix: Path) -> TrainingData:
    """Open PREFIX_x/_y/_mean/_var.npy; DatasetError with the fix if they are missing or disagree."""
    paths = {k: Path(f"{prefix}_{k}.npy") for k in ("x", "y", "mean", "var")}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise DatasetError(f"training data missing ({', '.join(missing)}); run convert_directory.py first")
    try:
        x = np.load(paths["x"], mmap_mode="r")
        y = np.load(paths["y"], mmap_mode="r")
        mean = np.load(paths["mean"]).astype(np.float32)
        var = np.load(paths["var"])
    except (ValueError, OSError, EOFError) as exc:
        raise DatasetError(f"cannot read training data at '{prefix}': {exc}") from None
    if x.ndim != 3 or x.shape != y.shape or x.shape[2] % 2 \
            or mean.shape != (x.shape[2],) or var.shape != (x.shape[2],):
        raise DatasetError(f"inconsistent training data at '{prefix}': X {x.shape}, Y {y.shape}, "
                           f"mean {mean.shape}; re-run convert_directory.py")
    if x.shape[0] == 0:
        raise DatasetError(f"'{paths['x']}' holds no clips; add music and re-run convert_directory.py")
    info_path = Path(f"{prefix}_info.json")
    # Tensors converted before the info file existed are taken to be at the default rate.
    rate = json.loads(info_path.read_text()).get("sample_rate", 44100) if info_path.is_file() else 44100
    return TrainingData(x=x, y=y, mean=mean, std=std_from_variance(var), sample_rate=int(rate))


def split_indices(n: int, validation_split: float) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation clip indices; validation is the last fraction, as in Keras."""
    n_val = int(n * validation_split)
    if validation_split > 0 and (n_val == 0 or n_val == n):
        raise DatasetError(f"validation split {validation_split} of {n} clips leaves an empty set")
    return np.arange(n - n_val), np.arange(n - n_val, n)


def make_batches(data: TrainingData, indices: np.ndarray, batch_size: int, *, mean: np.ndarray,
                 std: np.ndarray, shuffle: bool, seed: int | None):
    """A tf.data pipeline of normalised (x, y) batches read from the memory-mapped tensors.

    Only clip indices are shuffled; each batch is read from the files when needed and the
    next one is prepared while the current one trains, so memory stays flat in dataset size.
    """
    import tensorflow as tf

    shape = (None, data.clip_blocks, data.x.shape[2])
    x_rows, y_rows = RowReader(data.x), RowReader(data.y)

    def load(idx):
        idx = np.sort(idx)  # sorted reads walk the files front to back
        x, y = x_rows.read(idx), y_rows.read(idx)
        x -= mean
        x /= std
        y -= mean
        y /= std
        return x, y

    def load_tf(idx):
        x, y = tf.numpy_function(load, [idx], (tf.float32, tf.float32), stateful=False)
        return tf.ensure_shape(x, shape), tf.ensure_shape(y, shape)

    ds = tf.data.Dataset.from_tensor_slices(np.asarray(indices, dtype=np.int64))
    if shuffle:
        ds = ds.shuffle(len(indices), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).map(load_tf).prefetch(1)

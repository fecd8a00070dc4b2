"""Training tensors on disk -> normalised batches for Keras, without loading them whole."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .clip_store import ClipArray
from .errors import DatasetError


@dataclass
class TrainingData:
    """X/Y tensors on disk (one file each, or shards) and their per-feature statistics."""

    x: ClipArray
    y: ClipArray
    mean: np.ndarray
    std: np.ndarray
    sample_rate: int = 44100
    overlap: bool = False  # blocks overlap by half and are windowed

    @property
    def block_size(self) -> int:
        """Samples per block these tensors were made with."""
        return self.x.shape[2] // 2

    @property
    def clip_blocks(self) -> int:
        """Time steps per clip."""
        return self.x.shape[1]


def std_from_variance(var: np.ndarray) -> np.ndarray:
    """Standard deviation with a floor, so near-constant bins are not blown up into noise."""
    std = np.sqrt(np.maximum(np.asarray(var, dtype=np.float64), 0.0))
    floor = max(1e-4 * float(std.max()), 1e-8)
    return np.maximum(std, floor).astype(np.float32)


def _describe_blocks(block_size: int, overlap: bool) -> str:
    return f"{'overlapping' if overlap else 'hard-edged'} blocks of {block_size} samples"


def representation_mismatch(model_cfg, data: TrainingData) -> str | None:
    """How `data` differs from the blocks a network with `model_cfg` works on; None if it does not."""
    if (model_cfg.block_size, model_cfg.overlap) == (data.block_size, data.overlap):
        return None
    return (f"works on {_describe_blocks(model_cfg.block_size, model_cfg.overlap)} but the data has "
            f"{_describe_blocks(data.block_size, data.overlap)}")


NORMALISATIONS = ("bin", "global")


def normalisation_std(std: np.ndarray, mode: str) -> np.ndarray:
    """The divisor of each feature: its own `std` ("bin", GRUV's) or one std shared by all ("global").

    Per-bin scaling weighs every FFT bin equally in the loss, so the many near-silent
    high bins count as much as the loud low ones (songs came out 16 dB quieter than the
    bundled music in our runs); one shared scale makes the loss the error in the audio itself.
    """
    if mode == "bin":
        return std
    if mode == "global":
        return np.full_like(std, np.sqrt(np.mean(np.square(std, dtype=np.float64))))
    raise DatasetError(f"unknown normalisation '{mode}' (expected one of {', '.join(NORMALISATIONS)})")


def read_info(prefix: Path) -> dict:
    """PREFIX_info.json as written by convert_directory.py; empty for tensors converted before it existed."""
    info_path = Path(f"{prefix}_info.json")
    return json.loads(info_path.read_text()) if info_path.is_file() else {}


def tensor_files(prefix: Path, info: dict) -> tuple[list[Path], list[Path]]:
    """The X and Y files of a converted dataset: PREFIX_x/_y.npy, or the shards its info file lists."""
    shards = info.get("shards")
    if not shards:
        return [Path(f"{prefix}_x.npy")], [Path(f"{prefix}_y.npy")]
    folder = Path(prefix).parent
    return [folder / s["x"] for s in shards], [folder / s["y"] for s in shards]


def load_training_data(prefix: Path) -> TrainingData:
    """Open a converted dataset without reading its tensors; DatasetError with the fix if parts are
    missing or disagree."""
    try:
        info = read_info(prefix)
        x_files, y_files = tensor_files(prefix, info)
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise DatasetError(f"cannot read '{prefix}_info.json' ({exc}); re-run convert_directory.py") from None
    stats = {k: Path(f"{prefix}_{k}.npy") for k in ("mean", "var")}
    missing = [str(p) for p in [*x_files, *y_files, *stats.values()] if not p.is_file()]
    if missing:
        raise DatasetError(f"training data missing ({', '.join(missing[:4])}"
                           f"{', ...' if len(missing) > 4 else ''}); run convert_directory.py first")
    x, y = ClipArray(x_files), ClipArray(y_files)
    try:
        mean = np.load(stats["mean"]).astype(np.float32)
        var = np.load(stats["var"])
    except (ValueError, OSError, EOFError) as exc:
        raise DatasetError(f"cannot read training data at '{prefix}': {exc}") from None
    if x.ndim != 3 or x.shape != y.shape or x.shape[2] % 2 \
            or mean.shape != (x.shape[2],) or var.shape != (x.shape[2],):
        raise DatasetError(f"inconsistent training data at '{prefix}': X {x.shape}, Y {y.shape}, "
                           f"mean {mean.shape}; re-run convert_directory.py")
    if x.shape[0] == 0:
        raise DatasetError(f"'{x_files[0]}' holds no clips; add music and re-run convert_directory.py")
    # Tensors converted before the info file existed are GRUV's blocks at the default rate.
    return TrainingData(x=x, y=y, mean=mean, std=std_from_variance(var),
                        sample_rate=int(info.get("sample_rate", 44100)), overlap=bool(info.get("overlap", False)))


def split_indices(n: int, validation_split: float) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation clip indices; validation is the last fraction, as in Keras."""
    n_val = int(n * validation_split)
    if validation_split > 0 and (n_val == 0 or n_val == n):
        raise DatasetError(f"validation split {validation_split} of {n} clips leaves an empty set")
    return np.arange(n - n_val), np.arange(n - n_val, n)


def make_batches(data: TrainingData, indices: np.ndarray, batch_size: int, *, mean: np.ndarray,
                 std: np.ndarray, shuffle: bool, seed: int | None, drop_remainder: bool = False,
                 representation: str = "fft"):
    """A tf.data pipeline of normalised (x, y) batches read from the tensor files, in the network's
    `representation` (representation.py).

    Only clip indices are shuffled; each batch is read from the files when needed and the
    next one is prepared while the current one trains, so memory stays flat in dataset size.
    """
    import tensorflow as tf

    from .representation import from_fft_features

    shape = (None, data.clip_blocks, len(mean))

    def load(idx):
        idx = np.sort(idx)  # sorted reads walk the files front to back
        x = from_fft_features(data.x.read(idx), representation)
        y = from_fft_features(data.y.read(idx), representation)
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
    return ds.batch(batch_size, drop_remainder=drop_remainder).map(load_tf).prefetch(1)

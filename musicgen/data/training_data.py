"""Training tensors on disk -> normalised batches for Keras, without loading them whole."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from musicgen.audio.frame_code import FrameCode
from musicgen.audio.representation import from_stored
from musicgen.audio.spectra import LOG_FLOOR
from musicgen.config import MAX_BLOCK_SIZE, MAX_STAT, MIN_STD, NORMALISATIONS, BlockSpec
from musicgen.data.clip_store import STORE_DTYPES, ClipArray, check_npy_size, npy_layout
from musicgen.data.npy_stream import RunningStats
from musicgen.errors import DatasetError
from musicgen.formats.dataset import STATS, DatasetInfo, info_path, npy_path, read_dataset_info


@dataclass
class TrainingData:
    """A converted dataset's tensors on disk (one file each, or shards) and their per-feature statistics.

    With store "fft" (GRUV's) `x` and `y` hold FFT values, Y being X one block later; with "logmag"
    `x` holds log magnitudes of clips one block longer, X their first clip_blocks blocks and Y their
    last, and `y` is None.
    """

    x: ClipArray
    y: ClipArray | None
    mean: np.ndarray  # of the stored values
    std: np.ndarray
    block: BlockSpec  # the blocks the tensors hold: the info file's
    store: str = "fft"

    @property
    def clip_blocks(self) -> int:
        """Time steps per clip."""
        return self.x.shape[1] - (self.y is None)

    @property
    def clips(self) -> int:
        """Clips in the dataset."""
        return self.x.shape[0]

    def inputs(self, rows, block: BlockSpec, code: FrameCode | None = None) -> np.ndarray:
        """The X clips `rows` as float32 values of `block`'s representation (not normalised; a "frames"
        block's through `code`)."""
        values = self.x.read_finite(rows)
        return from_stored(values if self.y is not None else values[:, :-1], self.store, block, code)

    def input_chunks(self, block: BlockSpec, code: FrameCode | None = None, *, rows: int = 4):
        """Every X clip, `rows` at a time, as inputs() gives them: one pass over the data in bounded memory."""
        for start in range(0, self.clips, rows):
            yield self.inputs(np.arange(start, min(start + rows, self.clips)), block, code)

    def pairs(self, rows, block: BlockSpec, mean: np.ndarray, std: np.ndarray,
              code: FrameCode | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(X, Y) of clips `rows` as float32 values of `block`'s representation, normalised by `mean`, `std`."""
        def normalised(values):
            values = from_stored(values, self.store, block, code)
            values -= mean
            values /= std
            return values

        if self.y is not None:
            return normalised(self.x.read_finite(rows)), normalised(self.y.read_finite(rows))
        values = normalised(self.x.read_finite(rows))  # clips one block longer: X and Y overlap
        return values[:, :-1], values[:, 1:]


def feature_stats(data: TrainingData, block: BlockSpec, code: FrameCode | None = None, *,
                  rows_per_read: int = 4) -> RunningStats:
    """Per-feature mean, variance and range of `block.representation` over every input block of `data`."""
    stats = RunningStats(block.feature_dim)
    for values in data.input_chunks(block, code, rows=rows_per_read):
        stats.update(values.reshape(-1, values.shape[-1]))
    return stats


def stored_bounds(store: str, block: BlockSpec) -> tuple[float, float] | None:
    """The range of every value a dataset of `store` can hold, from samples within [-1, 1]: an FFT value is
    at most the block's length, a log magnitude between the floor's log and the log of that (a fine
    frame's Hann window sums to half its length); float16 rounding given room."""
    if store == "fft":
        return -1.01 * block.block_size, 1.01 * block.block_size
    top = block.frame / 2 if store == "frames" else block.block_size
    return float(np.log(LOG_FLOOR)) - 0.05, float(np.log(top + LOG_FLOOR)) + 0.05


def std_from_variance(var: np.ndarray) -> np.ndarray:
    """Standard deviation with a floor, so near-constant bins are not blown up into noise."""
    std = np.sqrt(np.maximum(np.asarray(var, dtype=np.float64), 0.0))
    floor = max(1e-4 * float(std.max()), MIN_STD)
    return np.maximum(std, floor).astype(np.float32)


def representation_mismatch(model_cfg, data: TrainingData) -> str | None:
    """How `data` differs from the blocks a network with `model_cfg` works on; None if it does not."""
    if model_cfg.block.as_fft() == data.block:
        return None
    return f"works on {model_cfg.block.describe()} but the data has {data.block.describe()}"


def store_mismatch(block: BlockSpec, data: TrainingData) -> str | None:
    """Why `data` cannot give the values of `block`'s representation; None if it can."""
    if data.store == "logmag" and block.representation == "fft":
        return ("learns GRUV's FFT values, but the data holds log magnitudes only (converted with --store logmag); "
                "convert without --store logmag")
    if (data.store == "frames") != (block.representation == "frames"):
        return ("learns the fine frames of --store frames data, which this data is not" if data.store != "frames" else
                f"learns {block.representation} values, but the data holds fine frames (converted with --store "
                "frames); train --representation frames")
    return None


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


def tensor_files(prefix: Path, info: DatasetInfo) -> tuple[list[Path], list[Path]]:
    """The X and Y files of a converted dataset: PREFIX_x/_y.npy, or the shards its info file lists
    (always beside it: the reader refuses names with a folder part). Only GRUV's store has Y files."""
    if not info.shards:
        return [npy_path(prefix, "x")], [npy_path(prefix, "y")] if info.with_y else []
    folder = Path(prefix).parent
    return [folder / s.x for s in info.shards], [folder / s.y for s in info.shards] if info.with_y else []


FINGERPRINT_BYTES = 1 << 20


def fingerprint(path: Path) -> str:
    """Size and sha256 of a file's first and last MiB: cheap, and different for any two conversions."""
    size = os.path.getsize(path)
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(FINGERPRINT_BYTES))
        if size > FINGERPRINT_BYTES:
            handle.seek(max(FINGERPRINT_BYTES, size - FINGERPRINT_BYTES))
            digest.update(handle.read())
    return digest.hexdigest()


def _check_against_info(prefix: Path, x: ClipArray, info: DatasetInfo) -> None:
    """The tensors must be the ones the info file describes (a half-finished or mixed dataset is not)."""
    folder = Path(prefix).parent
    for name, expected_print in info.fingerprints.items():
        try:
            same = fingerprint(folder / name) == expected_print
        except OSError:
            same = False
        if not same:
            raise DatasetError(f"'{folder / name}' is not the file '{info_path(prefix)}' was written with (a "
                               "conversion was killed while replacing this dataset); re-run convert_directory.py")
    expected = {"clips": (info.clips, x.shape[0]), "clip_blocks": (info.clip_blocks, x.shape[1] - (not info.with_y))}
    if info.with_y:
        expected["block_size"] = (info.block_size, x.shape[2] // 2)
    wrong = [f"{k} {recorded} in the info file but {actual} in the tensors"
             for k, (recorded, actual) in expected.items() if recorded is not None and recorded != actual]
    for k, shard in enumerate(info.shards):
        rows = int(x.starts[k + 1] - x.starts[k])
        if rows != shard.clips:
            wrong.append(f"{shard.x} holds {rows} clips, not {shard.clips}")
    if wrong:
        raise DatasetError(f"'{prefix}' does not match its info file ({'; '.join(wrong[:2])}); "
                           "re-run convert_directory.py")


def load_training_data(prefix: Path) -> TrainingData:
    """Open a converted dataset without reading its tensors; DatasetError with the fix if parts are
    missing, damaged or disagree."""
    info = read_dataset_info(prefix)
    x_files, y_files = tensor_files(prefix, info)
    stats = {k: npy_path(prefix, k) for k in STATS}
    missing = [str(p) for p in [*x_files, *y_files, *stats.values()] if not p.is_file()]
    if missing:
        raise DatasetError(f"training data missing ({', '.join(missing[:4])}"
                           f"{', ...' if len(missing) > 4 else ''}); run convert_directory.py first")
    store = info.store
    x = ClipArray(x_files, STORE_DTYPES[store])
    y = ClipArray(y_files, STORE_DTYPES[store]) if y_files else None
    mean = _read_stats(stats["mean"], low=-MAX_STAT, high=MAX_STAT)
    var = _read_stats(stats["var"], low=0.0, high=MAX_STAT**2)
    # A "logmag" dataset's info file says its block size; GRUV's tensors say it by their width.
    dim = {"fft": x.shape[2], "logmag": info.block.bins, "frames": info.block.frame_values}[store]
    if ((y is not None and x.shape != y.shape) or (store == "fft" and dim % 2) or x.shape[2] != dim
            or (store != "fft" and x.shape[1] < 2) or mean.shape != (dim,) or var.shape != (dim,)):
        raise DatasetError(f"inconsistent training data at '{prefix}': X {x.shape}, Y {y.shape if y else None}, "
                           f"mean {mean.shape}; re-run convert_directory.py")
    _check_against_info(prefix, x, info)
    if x.shape[0] == 0:
        raise DatasetError(f"'{x_files[0]}' holds no clips; add music and re-run convert_directory.py")
    # Tensors converted before the info file existed are GRUV's blocks at the default rate. The info
    # file's block size, where it has one, equals the tensors' (checked above).
    block = info.block
    if store == "fft":
        block = dataclasses.replace(block, block_size=x.shape[2] // 2)
    for array in (x, y) if y is not None else (x,):
        array.bounds = stored_bounds(store, block)
    return TrainingData(x=x, y=y, mean=mean, std=std_from_variance(var), block=block, store=store)


def _read_stats(path: Path, *, low: float, high: float) -> np.ndarray:
    """A per-feature statistics vector: float32 or float64 numbers within [low, high], nothing else."""
    shape, dtype, offset = npy_layout(path)
    if dtype not in (np.float32, np.float64) or len(shape) != 1 or shape[0] > 2 * MAX_BLOCK_SIZE:
        raise DatasetError(f"'{path}' is not a vector of numbers; re-run convert_directory.py")
    check_npy_size(path, shape, dtype, offset)  # before np.load allocates what the header says
    try:
        values = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DatasetError(f"cannot read '{path}': {str(exc).splitlines()[0]}; re-run convert_directory.py") from None
    # Checked before the float32 cast: 1e300 passes as a float64 and becomes inf as a float32.
    if not np.all((values >= low) & (values <= high)):
        raise DatasetError(f"'{path}' holds values outside {low:g}..{high:g} (or not numbers); "
                           "re-run convert_directory.py")
    return values.astype(np.float32)


def split_indices(n: int, validation_split: float) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation clip indices; validation is the last fraction, as in Keras."""
    n_val = int(n * validation_split)
    if validation_split > 0 and (n_val == 0 or n_val == n):
        raise DatasetError(f"validation split {validation_split} of {n} clips leaves an empty set")
    return np.arange(n - n_val), np.arange(n - n_val, n)


def stream_order(indices: np.ndarray, batch_size: int) -> np.ndarray:
    """`indices` as `batch_size` stretches read side by side: batch k holds the k-th clip of each stretch, so
    row b of consecutive batches walks stretch b in order (what --carry-state needs). The last
    len(indices) % batch_size clips are left out."""
    length = len(indices) // batch_size
    return np.asarray(indices[:length * batch_size]).reshape(batch_size, length).T.reshape(-1)


def make_batches(data: TrainingData, indices: np.ndarray, batch_size: int, *, mean: np.ndarray,
                 std: np.ndarray, shuffle: bool, seed: int | None, drop_remainder: bool = False,
                 block: BlockSpec | None = None, code: FrameCode | None = None, failures: list | None = None):
    """A tf.data pipeline of normalised (x, y) batches read from the tensor files, in the network's
    `block`'s representation (audio/representation.py; default: the data's own blocks).

    Only clip indices are shuffled; each batch is read from the files when needed and the
    next one is prepared while the current one trains, so memory stays flat in dataset size.
    A DatasetError while reading (a file cut short, NaN or infinite values) reaches the caller
    wrapped in TensorFlow's error; it is also appended to `failures`, to be raised as itself.
    """
    import tensorflow as tf

    shape = (batch_size if drop_remainder else None, data.clip_blocks, len(mean))
    block = block or data.block

    def load(idx):
        idx = np.sort(idx)  # sorted reads walk the files front to back (stream_order's batches are sorted already)
        try:
            return data.pairs(idx, block, mean, std, code)
        except DatasetError as exc:
            if failures is not None:
                failures.append(exc)
            raise

    def load_tf(idx):
        x, y = tf.numpy_function(load, [idx], (tf.float32, tf.float32), stateful=False)
        return tf.ensure_shape(x, shape), tf.ensure_shape(y, shape)

    ds = tf.data.Dataset.from_tensor_slices(np.asarray(indices, dtype=np.int64))
    if shuffle:
        ds = ds.shuffle(len(indices), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size, drop_remainder=drop_remainder).map(load_tf).prefetch(1)


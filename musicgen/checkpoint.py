"""Self-describing weight files: Keras weights plus a JSON sidecar with the config.

weights/LSTM_NP_Weights_Iter-15.weights.h5   the Keras weights
weights/LSTM_NP_Weights_Iter-15.json         model config, normalisation, loss history
weights/LSTM_NP_Weights_Iter-15.loss.csv     loss of every epoch so far
weights/LSTM_NP_Weights_Iter-15.png          the loss plot
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import write_atomic
from .config import ModelConfig
from .errors import WeightsError

FORMAT = "lstm-music-generation/1"
WEIGHTS_SUFFIX = ".weights.h5"
NAME_RE = re.compile(r"^(LSTM|GRU)_NP_Weights_Iter-(\d+)(?:_v(\d+))?\.weights\.h5$")


@dataclass
class Checkpoint:
    """What a weight file carries besides the weights themselves."""

    model: ModelConfig
    iteration: int
    epoch: int
    mean: np.ndarray
    std: np.ndarray
    history: dict[str, list[float]] = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    parent: str | None = None
    weights: Path | None = None

    @property
    def last_loss(self) -> float | None:
        """Training loss of the last epoch, if any."""
        losses = self.history.get("loss") or []
        return losses[-1] if losses else None


def companion(weights: Path, suffix: str) -> Path:
    """`X.weights.h5` -> `X<suffix>` (e.g. '.json', '.png')."""
    name = weights.name
    stem = name[: -len(WEIGHTS_SUFFIX)] if name.endswith(WEIGHTS_SUFFIX) else Path(name).stem
    return weights.with_name(stem + suffix)


def weights_name(label: str, iteration: int, version: int = 1) -> str:
    """The original's naming, with the suffix Keras 3 requires; _vN only to avoid a clash."""
    tail = f"_v{version}" if version > 1 else ""
    return f"{label}_NP_Weights_Iter-{iteration}{tail}{WEIGHTS_SUFFIX}"


def free_weights_path(folder: Path, label: str, iteration: int, own: set[Path]) -> Path:
    """First name for this iteration that is free or already this run's own file."""
    version = 1
    while True:
        path = folder / weights_name(label, iteration, version)
        if path in own or not (path.exists() or companion(path, ".json").exists()):
            return path
        version += 1


def save_checkpoint(model, ckpt: Checkpoint, path: Path) -> Path:
    """Write weights and sidecar atomically: a kill mid-save leaves older files intact.

    The sidecar lands first, so a listed weight file always has its config.
    """
    meta = {
        "format": FORMAT,
        "model": dataclasses.asdict(ckpt.model),
        "iteration": ckpt.iteration,
        "epoch": ckpt.epoch,
        "parent": ckpt.parent,
        "saved": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "training": ckpt.training,
        "history": ckpt.history,
        "normalization": {"mean": ckpt.mean.astype(float).tolist(), "std": ckpt.std.astype(float).tolist()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(companion(path, ".json"), lambda p: p.write_text(json.dumps(meta)))
    write_atomic(path, model.save_weights)
    ckpt.weights = path
    return path


def read_checkpoint(path: Path) -> Checkpoint:
    """Read a weight file's sidecar; WeightsError if either file is missing or unreadable."""
    path = Path(path)
    if not path.name.endswith(WEIGHTS_SUFFIX):
        raise WeightsError(f"'{path}' is not a Keras weight file (expected a name ending in {WEIGHTS_SUFFIX})")
    if not path.is_file():
        raise WeightsError(f"weight file '{path}' does not exist")
    meta_path = companion(path, ".json")
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"unknown format {meta.get('format')!r}")
        norm = meta["normalization"]
        return Checkpoint(
            model=ModelConfig(**meta["model"]),
            iteration=int(meta["iteration"]),
            epoch=int(meta["epoch"]),
            mean=np.asarray(norm["mean"], dtype=np.float32),
            std=np.asarray(norm["std"], dtype=np.float32),
            history={k: list(v) for k, v in meta.get("history", {}).items()},
            training=meta.get("training", {}),
            parent=meta.get("parent"),
            weights=path,
        )
    except FileNotFoundError:
        raise WeightsError(f"'{meta_path.name}' (the config saved beside '{path.name}') is missing") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise WeightsError(f"'{meta_path.name}' is not a valid weight config ({exc})") from None


def load_weights(model, path: Path) -> None:
    """Load weights (and the RMSprop state, for a compiled model); errors are WeightsError."""
    if getattr(model, "optimizer", None) is not None and not model.optimizer.built:
        # The file holds the optimizer's moving averages too; a built optimizer takes them,
        # so re-training continues exactly where training stopped.
        model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(path)
    except Exception as exc:  # h5py, Keras and OS errors all mean the same thing here
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"cannot load '{path}': {first}") from None


def list_weight_files(folder: Path, label: str | None = None) -> list[Path]:
    """Weight files in `folder` (optionally only 'LSTM' or 'GRU'), by cell then iteration."""
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = NAME_RE.match(p.name)
        if m and (label is None or m.group(1) == label):
            found.append((m.group(1), int(m.group(2)), int(m.group(3) or 1), p))
    return [p for *_, p in sorted(found)]


def describe(path: Path) -> str:
    """One menu line: name, iteration, last loss, when saved."""
    try:
        ckpt = read_checkpoint(path)
    except WeightsError:
        return f"{path.name}  (no config)"
    loss = f"loss {ckpt.last_loss:.4g}" if ckpt.last_loss is not None else "no loss"
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))
    return f"{path.name}  ({ckpt.model.label} {ckpt.model.hidden}x{ckpt.model.layers}, {loss}, {when})"

"""Self-describing weight files: Keras weights plus a JSON sidecar with the config.

weights/LSTM_NP_Weights_Iter-15.weights.h5   the Keras weights
weights/LSTM_NP_Weights_Iter-15.json         model config, normalisation, loss history
weights/LSTM_NP_Weights_Iter-15.loss.csv     loss of every epoch so far
weights/LSTM_NP_Weights_Iter-15.png          the loss plot
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import re
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from musicgen import schema
from musicgen.atomic import claim_first_free, require_space, temp_path, write_atomic
from musicgen.audio.frame_code import FrameCode, cosine_basis, cosine_shape_problem
from musicgen.config import (CELL_NAMES, DEFAULT_DATA, DETAILS, MAX_BOUND, MAX_CLIP_BLOCKS, MAX_DETAIL_CONTRAST,
                             MAX_ITERATION,
                             MAX_NOISE_MEMORY, MAX_STAT, MAX_TEMPERATURE, MIN_STD, NORMALISATIONS, BlockSpec,
                             ModelConfig)
from musicgen.errors import WeightsError
from musicgen.schema import SchemaError

FORMAT = "lstm-music-generation/1"
WEIGHTS_SUFFIX = ".weights.h5"
# The original's naming, with the suffix Keras 3 requires and _vN only to avoid a clash: one pattern
# for the name a checkpoint gets (weights_name) and for reading names back (NAME_RE, COMPANION_RE).
STEM_PATTERN = "(" + "|".join(CELL_NAMES.values()) + r")_NP_Weights_Iter-(\d+)(?:_v(\d+))?"
NAME_RE = re.compile(f"^{STEM_PATTERN}{re.escape(WEIGHTS_SUFFIX)}$")
# A weight name is claimed by creating the file empty; one left empty this long is a dead run's.
STALE_CLAIM_SECONDS = 60.0


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
    digest: str | None = None  # sha256 of the weight file; sidecars older than it have none
    preview: dict = field(default_factory=dict)  # the preview song beside it and its verdict, if any
    # Each value's smallest and largest in the training music (the representation's, not normalised);
    # None in files from before they were recorded.
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    code: FrameCode | None = None  # a "frames" network's code of its blocks (None: no code, or another representation)

    @property
    def last_loss(self) -> float | None:
        """Training loss of the last epoch, if any."""
        losses = self.history.get("loss") or []
        return losses[-1] if losses else None

    @property
    def temperature(self) -> float:
        """The temperature its training chose for its songs (training --temperature; 1 for files from before it)."""
        return self._training_setting("temperature", MAX_TEMPERATURE, 1.0)

    @property
    def tail_noise(self) -> float:
        """The noise its training chose for its code's detail, a fraction of the temperature (training --tail-noise;
        1 for files from before it)."""
        return self._training_setting("tail_noise", 1.0, 1.0)

    @property
    def detail_contrast(self) -> float:
        """How much its training scaled the learnt detail's shape within bands (training --detail-contrast; 1 for
        files from before it)."""
        return self._training_setting("detail_contrast", MAX_DETAIL_CONTRAST, 1.0)

    @property
    def noise_memory(self) -> float:
        """How much of the last block's noise its code's detail carries (training --noise-memory; 0 for files from
        before it)."""
        return self._training_setting("noise_memory", MAX_NOISE_MEMORY, 0.0)

    @property
    def bound(self) -> float | None:
        """The bound its training chose for its songs (training --bound; None: no bound)."""
        return None if self.training.get("bound") is None else self._training_setting("bound", MAX_BOUND)

    @property
    def detail(self) -> str:
        """The detail its training chose for its songs (training --detail; smooth for files from before it).
        WeightsError for a damaged record."""
        try:
            return schema.get_choice(self.training, "detail", DETAILS, "smooth")
        except SchemaError as exc:
            raise WeightsError(f"'{self._file_name}' records a training {exc}; pass --detail") from None

    @property
    def normalisation(self) -> str:
        """How its statistics scale the values (training --normalisation); GRUV's per-value "bin" for files from
        before it was recorded. WeightsError for a damaged record."""
        try:
            return schema.get_choice(self.training, "normalisation", NORMALISATIONS, "bin")
        except SchemaError as exc:
            raise WeightsError(f"'{self._file_name}' records a training {exc}") from None

    @property
    def data_prefix(self) -> Path:
        """The tensors it was trained on (training --data, as typed then); the original's for files from before
        it was recorded. WeightsError for a damaged record."""
        try:
            recorded = schema.get_str(self.training, "data_prefix", None, optional=True)
        except SchemaError as exc:
            raise WeightsError(f"'{self._file_name}' records a training {exc}; pass --data") from None
        if recorded is not None and (not recorded or "\0" in recorded):
            raise WeightsError(f"'{self._file_name}' records no usable training data prefix; pass --data")
        return DEFAULT_DATA if recorded is None else Path(recorded)

    def value_bounds(self, bound: float) -> tuple[np.ndarray, np.ndarray]:
        """(lowest, highest) normalised value a song may feed back: the music's own range widened by
        `bound` of each value's spreads; WeightsError for a file that records no range."""
        if self.low is None or self.high is None:
            raise WeightsError(f"'{self._file_name}' records no range of its music (written before --bound existed); "
                               "train it again, or generate without --bound")
        return (self.low - self.mean) / self.std - bound, (self.high - self.mean) / self.std + bound

    def _training_setting(self, key: str, high: float, default=schema.REQUIRED) -> float:
        """A generation default its training recorded (0..high); WeightsError naming the flag that overrides it."""
        try:
            return schema.get_float(self.training, key, 0.0, high, default)
        except SchemaError as exc:
            flag = "--" + key.replace("_", "-")
            raise WeightsError(f"'{self._file_name}' records a training {exc}; pass {flag}") from None

    @property
    def _file_name(self) -> str:
        return Path(self.weights).name if self.weights else "the weight file"


def companion(weights: Path, suffix: str) -> Path:
    """`X.weights.h5` -> `X<suffix>` (e.g. '.json', '.png')."""
    name = weights.name
    stem = name[: -len(WEIGHTS_SUFFIX)] if name.endswith(WEIGHTS_SUFFIX) else Path(name).stem
    return weights.with_name(stem + suffix)


def weights_name(label: str, iteration: int, version: int = 1) -> str:
    """The original's naming, with the suffix Keras 3 requires; _vN only to avoid a clash."""
    tail = f"_v{version}" if version > 1 else ""
    return f"{label}_NP_Weights_Iter-{iteration}{tail}{WEIGHTS_SUFFIX}"


def claim_weights_path(folder: Path, label: str, iteration: int) -> Path:
    """Take the first free name for this iteration by creating it empty (O_EXCL), so two runs
    saving into one folder at once can never take the same name."""
    def create(path: Path) -> None:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))

    def take(path: Path) -> None:
        try:
            create(path)
        except FileExistsError:
            if not _reclaim_stale(path):
                raise
            create(path)  # FileExistsError again if another run took it meanwhile: the next name is tried

    return claim_first_free((folder / weights_name(label, iteration, v) for v in itertools.count(1)), take)


def _reclaim_stale(path: Path) -> bool:
    """Remove an empty weight file that a killed run claimed and never filled; True if removed (or
    gone). Anything else at the name (a link, dangling or not, a folder, a FIFO) is left alone."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return True
    if not stat.S_ISREG(st.st_mode) or st.st_size or time.time() - st.st_mtime < STALE_CLAIM_SECONDS:
        return False
    path.unlink(missing_ok=True)
    return True


def file_digest(path: Path) -> str:
    """sha256 of a file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def weights_file_bytes(model) -> int:
    """About what model.save_weights writes: every variable of the model and its optimizer, and
    HDF5's own structure (measured: within 64 KiB plus 1% of the file)."""
    variables = list(model.variables) + list(getattr(model.optimizer, "variables", []) or [])
    data = sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in variables)
    return int(data * 1.01) + (64 << 10)


def save_checkpoint(model, ckpt: Checkpoint, path: Path) -> Path:
    """Write weights and sidecar into the claimed `path` so that a kill at any moment leaves
    older files intact; the sidecar records the weights' digest and lands first, so a listed
    weight file always has its config."""
    part = temp_path(path)
    require_space(path, weights_file_bytes(model))  # h5py leaves objects that crash when a write fails
    try:
        model.save_weights(part)
        ckpt.digest = file_digest(part)
        meta = {
            "format": FORMAT,
            "model": model_doc(ckpt.model),
            "iteration": ckpt.iteration,
            "epoch": ckpt.epoch,
            "parent": ckpt.parent,
            "saved": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "training": ckpt.training,
            "history": ckpt.history,
            "normalisation": {"mean": ckpt.mean.astype(float).tolist(), "std": ckpt.std.astype(float).tolist(),
                              **({} if ckpt.low is None else {"low": ckpt.low.astype(float).tolist(),
                                                              "high": ckpt.high.astype(float).tolist()})},
            "digest": ckpt.digest,
            **({} if ckpt.code is None else {"code": code_doc(ckpt.code, ckpt.model.block)}),
        }
        write_atomic(companion(path, ".json"), lambda p: p.write_text(json.dumps(meta)))
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    ckpt.weights = path
    return path


def record_preview(weights: Path, preview: dict) -> None:
    """Add the preview's record to the sidecar of `weights` (rewritten atomically)."""
    meta_path = companion(weights, ".json")
    meta = {**schema.load_json_object(meta_path), "preview": preview}
    write_atomic(meta_path, lambda p: p.write_text(json.dumps(meta)))


def model_doc(model: ModelConfig) -> dict:
    """The sidecar's "model" object: the config's fields with its BlockSpec's keys among them."""
    doc = {f.name: getattr(model, f.name) for f in dataclasses.fields(ModelConfig) if f.name != "block"}
    return {**doc, **model.block.to_doc()}


def _model_config(doc: dict) -> ModelConfig:
    known = {f.name for f in dataclasses.fields(ModelConfig)} - {"block"} | set(BlockSpec().to_doc())
    unknown = set(doc) - known
    if unknown:
        raise SchemaError(f"unknown model setting(s) {', '.join(sorted(unknown))}")
    d = ModelConfig()
    return ModelConfig(
        cell=schema.get_choice(doc, "cell", tuple(CELL_NAMES)),
        hidden=schema.get_option(doc, ModelConfig, "hidden"),
        layers=schema.get_option(doc, ModelConfig, "layers"),
        block=schema.get_block(doc),
        clip_blocks=schema.get_int(doc, "clip_blocks", 1, MAX_CLIP_BLOCKS),
        output=schema.get_option(doc, ModelConfig, "output", d.output),
        components=schema.get_option(doc, ModelConfig, "components", d.components),
        prenet_dropout=schema.get_option(doc, ModelConfig, "prenet_dropout", d.prenet_dropout),
    )


def code_doc(code: FrameCode, block: BlockSpec) -> dict:
    """The sidecar's "code" object: the mean, the basis (row after row; a fixed cosine basis is rebuilt from
    the block's settings instead) and the music's range of each value."""
    doc = {"mean": code.mean.astype(float).tolist()}
    if block.code_basis == "pca":
        doc["basis"] = code.basis.astype(float).reshape(-1).tolist()
    if code.low is not None:
        doc.update(low=code.low.astype(float).tolist(), high=code.high.astype(float).tolist())
    return doc


def _frame_code(meta: dict, block: BlockSpec) -> FrameCode | None:
    """The sidecar's "code" of a "frames" network with one, checked against its blocks; None for the rest."""
    if block.representation != "frames" or not block.code:
        return None
    doc = schema.get_object(meta, "code")
    dim = block.frame_values
    mean = schema.numbers(schema.get_list(doc, "mean"), "code.mean", length=dim, low=-MAX_STAT, high=MAX_STAT)
    if block.code_basis == "dct":
        problem = cosine_shape_problem(block.bands, block.frames_per_block, block.code, block.code_times)
        if problem:
            raise SchemaError(f"'code' and 'code_times': {problem}")
        basis = cosine_basis(block.bands, block.frames_per_block, block.code, block.code_times)
    else:
        basis = schema.numbers(schema.get_list(doc, "basis"), "code.basis", length=block.code * dim, low=-1.0,
                               high=1.0)
    low, high = None, None
    if "low" in doc or "high" in doc:
        low, high = (np.asarray(schema.numbers(schema.get_list(doc, key), f"code.{key}", length=dim, low=-MAX_STAT,
                                               high=MAX_STAT), dtype=np.float32) for key in ("low", "high"))
        if not np.all(low <= high):
            raise SchemaError("'code.low' is above 'code.high'")
    return FrameCode(mean=np.asarray(mean, dtype=np.float32),
                     basis=np.asarray(basis, dtype=np.float32).reshape(block.code, dim), low=low, high=high)


def _history(doc: dict) -> dict[str, list[float]]:
    # Losses may be NaN (a diverged run is still worth listing), but must be numbers.
    return {str(k): schema.numbers(schema.get_list(doc, k), f"history.{k}", finite=False) for k in doc}


def read_checkpoint(path: Path) -> Checkpoint:
    """Read and check a weight file's sidecar; WeightsError naming the file and the key if anything is off."""
    path = Path(path)
    if not path.name.endswith(WEIGHTS_SUFFIX):
        raise WeightsError(f"'{path}' is not a Keras weight file (expected a name ending in {WEIGHTS_SUFFIX})")
    if not path.is_file():
        raise WeightsError(f"weight file '{path}' does not exist")
    meta_path = companion(path, ".json")
    try:
        meta = schema.load_json_object(meta_path)
        if meta.get("format") != FORMAT:
            raise SchemaError(f"unknown format {meta.get('format')!r}")
        model = _model_config(schema.get_object(meta, "model"))
        # One spelling, the flag's; sidecars written before it say "normalization".
        norm = schema.get_object(meta, "normalisation" if "normalisation" in meta else "normalization")
        mean = schema.numbers(schema.get_list(norm, "mean"), "normalisation.mean", length=model.feature_dim,
                              low=-MAX_STAT, high=MAX_STAT)
        std = schema.numbers(schema.get_list(norm, "std"), "normalisation.std", length=model.feature_dim,
                             low=MIN_STD, high=MAX_STAT)
        low, high = None, None
        if "low" in norm or "high" in norm:
            low, high = (np.asarray(schema.numbers(schema.get_list(norm, key), f"normalisation.{key}",
                                                   length=model.feature_dim, low=-MAX_STAT, high=MAX_STAT),
                                    dtype=np.float32) for key in ("low", "high"))
            if not np.all(low <= high):
                raise SchemaError("'normalisation.low' is above 'normalisation.high'")
        digest = meta.get("digest")
        if digest is not None:
            digest = schema.sha256_hex(digest, "digest")
        code = _frame_code(meta, model.block)
        return Checkpoint(
            model=model,
            iteration=schema.get_int(meta, "iteration", 0, MAX_ITERATION),
            epoch=schema.get_int(meta, "epoch", 0, MAX_ITERATION),
            mean=np.asarray(mean, dtype=np.float32),
            std=np.asarray(std, dtype=np.float32),
            history=_history(schema.get_object(meta, "history", {})),
            training=schema.get_object(meta, "training", {}),
            parent=schema.get_str(meta, "parent", None, optional=True),
            weights=path,
            digest=digest,
            preview=schema.get_object(meta, "preview", {}),
            low=low,
            high=high,
            code=code,
        )
    except FileNotFoundError:
        raise WeightsError(f"'{meta_path.name}' (the config saved beside '{path.name}') is missing") from None
    except OSError as exc:
        raise WeightsError(f"cannot read '{meta_path}': {exc.strerror or exc}") from None
    except SchemaError as exc:
        raise WeightsError(f"'{meta_path.name}' is not a valid weight config: {exc}") from None


def load_weights(model, path: Path, *, digest: str | None = None) -> None:
    """Load weights (and the RMSprop state, for a compiled model); errors are WeightsError.

    With `digest` (the sidecar's), a file changed since it was saved is refused: HDF5 has no
    checksums of its own, so a flipped byte would otherwise load as a slightly different network.
    """
    if digest is not None:
        try:
            actual = file_digest(path)
        except OSError as exc:
            raise WeightsError(f"cannot read '{path}': {exc.strerror or exc}") from None
        if actual != digest:
            raise WeightsError(f"'{path}' is not the file its sidecar describes (sha256 differs: changed or "
                               "damaged since it was saved)")
    if getattr(model, "optimizer", None) is not None and not model.optimizer.built:
        # The file holds the optimizer's moving averages too; a built optimizer takes them,
        # so re-training continues exactly where training stopped.
        model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(path)
    except Exception as exc:  # h5py, Keras and OS errors all mean the same thing here
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"cannot load '{path}': {first}") from None


PREVIEW_SUFFIX = ".preview.wav"
COMPANION_SUFFIXES = (".json", ".loss.csv", ".png", PREVIEW_SUFFIX)  # the files that go with a weight file
COMPANION_RE = re.compile(f"^({STEM_PATTERN})("
                          + "|".join(re.escape(s) for s in COMPANION_SUFFIXES) + ")$")


def remove_orphan_companions(folder: Path) -> list[Path]:
    """Delete sidecars, loss files and plots whose weight file is gone: what a run killed while
    removing its previous checkpoint leaves. (A save in progress always has its weight file: the claim.)"""
    removed = []
    for path in sorted(Path(folder).iterdir()) if Path(folder).is_dir() else []:
        match = COMPANION_RE.match(path.name)
        if match and not (path.parent / (match.group(1) + WEIGHTS_SUFFIX)).exists():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def list_weight_files(folder: Path, label: str | None = None) -> list[Path]:
    """Weight files in `folder` (optionally only 'LSTM' or 'GRU'), by cell then iteration."""
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = NAME_RE.match(p.name)
        if m and (label is None or m.group(1) == label) and _filled(p):
            found.append((m.group(1), int(m.group(2)), int(m.group(3) or 1), p))
    return [p for *_, p in sorted(found)]


def _filled(path: Path) -> bool:
    """False for an empty file: a name claimed by a run that is still writing it, or was killed."""
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def preview_verdict(preview: dict) -> str:
    """A preview record in words: "music", "not music (failed tests)", or "" when it was not judged."""
    if "music" not in preview:
        return ""
    failed = preview.get("failed")
    failed = failed if isinstance(failed, list) else []
    return "music" if preview["music"] else f"not music ({', '.join(map(str, failed)) or '?'})"


def describe(path: Path) -> str:
    """One menu line: name, network, iteration, last loss, when saved and the preview's verdict; a
    file whose sidecar cannot be read is listed as unreadable, so one bad file never hides the others."""
    try:
        ckpt = read_checkpoint(path)
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))
    except (WeightsError, OSError) as exc:
        reason = str(exc).split(": ", 1)[-1] if isinstance(exc, WeightsError) else exc.strerror
        return f"{path.name}  (unreadable: {reason})"
    loss = f"loss {ckpt.last_loss:.4g}" if ckpt.last_loss is not None else "no loss"
    verdict = preview_verdict(ckpt.preview)
    preview = f", preview: {verdict}" if verdict else ""
    return (f"{path.name}  ({ckpt.model.label} {ckpt.model.hidden}x{ckpt.model.layers}, iteration "
            f"{ckpt.iteration}, {loss}, {when}{preview})")

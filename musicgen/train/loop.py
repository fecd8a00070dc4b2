"""The one training loop behind train.py, train_gru.py, re_train.py and re_train_gru.py.

Starting from scratch or from a weight file is just where the loop begins.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from musicgen.atomic import check_writable, write_text_atomic
from musicgen.audio.frame_code import FrameCode, cosine_code, cosine_shape_problem, fit_code
from musicgen.config import MAX_ITERATION, BlockSpec, ModelConfig, TrainConfig
from musicgen.data.training_data import (TrainingData, feature_stats, load_training_data, make_batches,
                                         normalisation_std, representation_mismatch, split_indices, std_from_variance,
                                         store_mismatch, stream_order)
from musicgen.errors import DatasetError, OutputError, TrainingError, WeightsError
from musicgen.formats.pages import keep_page_current, write_weights_page
from musicgen.memory import require_memory
from musicgen.models.model import build_training_model, compile_model, reset_states, training_bytes
from musicgen.plots import plot_loss, plot_model_diagram
from musicgen.signals import main_thread, raise_interrupt, signals_deferred
from musicgen.train.callbacks import keras_callbacks, log_preview_audio, monitored
from musicgen.train.precision import precision_policy, use_xla
from musicgen.formats.weights import (COMPANION_SUFFIXES, PREVIEW_SUFFIX, Checkpoint, claim_weights_path, companion,
                                       load_weights, preview_verdict, read_checkpoint, record_preview,
                                       remove_orphan_companions, save_checkpoint)
from musicgen.train.distribute import fix_keras_multiworker, is_chief, make_strategy, shard_by_data
from musicgen.train.previews import Previewer

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """Where training got to."""

    checkpoint: Path | None = None
    iteration: int = 0
    interrupted: bool = False
    history: dict[str, list[float]] = field(default_factory=dict)
    model: object = None

    def as_dict(self) -> dict:
        """JSON-ready: the last checkpoint (None: none written by this process), its iteration, whether the run
        was interrupted, and the last epoch's losses."""
        return {"checkpoint": None if self.checkpoint is None else str(self.checkpoint), "iteration": self.iteration,
                "interrupted": self.interrupted, "epochs": len(self.history.get("loss", [])),
                **{name: values[-1] for name, values in self.history.items() if values}}


def _check_compatible(model_cfg: ModelConfig, data: TrainingData, source: str) -> None:
    mismatch = representation_mismatch(model_cfg, data)
    if mismatch:
        flags = f"--block-size {model_cfg.block.block_size}" + (" --overlap" if model_cfg.block.overlap else "")
        raise WeightsError(f"{source} {mismatch}; convert with {flags} or train a new model")
    mismatch = store_mismatch(model_cfg.block, data)
    if mismatch:
        raise WeightsError(f"{source} {mismatch}")


class _Saver:
    """Writes one checkpoint per iteration and removes this run's previous one.

    With write=False (a worker other than the chief) it only counts iterations.
    """

    def __init__(self, model, train_cfg: TrainConfig, model_cfg: ModelConfig, base: Checkpoint, *,
                 write: bool = True, previewer=None):
        self.model, self.cfg, self.model_cfg, self.base = model, train_cfg, model_cfg, base
        self.write, self.previewer = write, previewer
        self.previous: tuple[int, Path] | None = None
        self.last: Path | None = None
        self.verdict = ""  # the last preview's, in words
        self.checkpoint_epochs: list[int] = []  # this run's, marked on the loss plot

    def save(self, iteration: int, epoch: int, history: dict[str, list[float]]) -> Path | None:
        if not self.write:
            self.previous = (iteration, None)
            return None
        # Ctrl-C waits until the new checkpoint is in place and the old one is gone.
        with signals_deferred():
            return self._save(iteration, epoch, history)

    def _save(self, iteration: int, epoch: int, history: dict[str, list[float]]) -> Path:
        ckpt = dataclasses.replace(self.base, iteration=iteration, epoch=epoch,
                                   history={k: list(v) for k, v in history.items()})
        path = claim_weights_path(self.cfg.weights_dir, self.model_cfg.label, iteration)
        self._write_weights(ckpt, path)
        self.checkpoint_epochs.append(epoch)
        self._write_loss(path, history, iteration)
        if self.previewer is not None:
            self._preview(path, ckpt, iteration)
        self._retire_previous()
        keep_page_current(write_weights_page, self.cfg.weights_dir)
        self.previous = (iteration, path)
        self.last = path
        return path

    def _write_weights(self, ckpt: Checkpoint, path: Path) -> None:
        """The weights and sidecar at the claimed `path`; OutputError (the last checkpoint kept) if the disk refuses."""
        try:
            save_checkpoint(self.model, ckpt, path)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                if path.stat().st_size == 0:  # only the claim was made: give the name back
                    path.unlink()
            if isinstance(exc, (OSError, RuntimeError)):  # h5py reports a full disk as either
                first = exc.strerror if isinstance(exc, OSError) and exc.strerror else \
                    (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise OutputError(f"cannot write checkpoint '{path}': {first}; the previous checkpoint "
                                  "is kept") from None
            raise

    def _write_loss(self, path: Path, history: dict[str, list[float]], iteration: int) -> None:
        """The loss history beside the weights, as CSV and as a plot."""
        write_text_atomic(companion(path, ".loss.csv"), _history_csv(history))
        title = f"{self.model_cfg.label} {self.model_cfg.hidden}x{self.model_cfg.layers}, iteration {iteration}"
        plot_loss(history, companion(path, ".png"), title, checkpoints=self.checkpoint_epochs,
                  ylabel=_loss_label(self.model_cfg))

    def _preview(self, path: Path, ckpt: Checkpoint, iteration: int) -> None:
        """A short song from the new weights beside them, its verdict in the sidecar (and TensorBoard)."""
        preview = self.previewer(ckpt)  # save_checkpoint set its weights path and digest
        record_preview(path, preview)
        self.verdict = preview_verdict(preview)
        if self.cfg.tensorboard is not None:
            log_preview_audio(self.cfg.tensorboard, companion(path, PREVIEW_SUFFIX), iteration)

    def _retire_previous(self) -> None:
        """Remove this run's previous checkpoint, unless --keep-every keeps it."""
        if self.previous is None:
            return
        prev_iter, prev_path = self.previous
        if not (self.cfg.keep_every and prev_iter % self.cfg.keep_every == 0):
            _remove_checkpoint(prev_path)


def _loss_label(cfg: ModelConfig) -> str:
    values = {"fft": "normalised FFT", "logmag": "normalised log magnitudes",
              "logmel": "normalised log mel bands",
              "frames": "normalised codes of fine frames" if cfg.block.code else "normalised fine frames"}[
                  cfg.block.representation]
    if cfg.output != "mse":
        return f"negative log-likelihood per value (nats, {values})"
    return f"mean squared error ({values})"


def _history_csv(history: dict[str, list[float]]) -> str:
    keys = [k for k in ("loss", "val_loss", "learning_rate") if history.get(k)]
    epochs = len(history.get("loss", []))
    rows = ["epoch," + ",".join(keys)]
    # A key recorded only since a later run (the learning rate) lines up with the last epochs.
    skipped = {k: epochs - len(history[k]) for k in keys}
    for i in range(epochs):
        cells = ["" if i < skipped[k] else f"{history[k][i - skipped[k]]:.6g}" for k in keys]
        rows.append(f"{i + 1}," + ",".join(cells))
    return "\n".join(rows) + "\n"


def _remove_checkpoint(weights: Path) -> None:
    # Weights first: a kill part-way leaves companions without weights, which the next run removes.
    for path in (weights, *(companion(weights, suffix) for suffix in COMPANION_SUFFIXES)):
        path.unlink(missing_ok=True)


def _callback(saver: _Saver, train_cfg: TrainConfig, start_iter: int, start_epoch: int,
              history: dict[str, list[float]], report: Callable[[str], None]):
    import keras

    budget = train_cfg.minutes * 60.0

    class IterationCheckpoint(keras.callbacks.Callback):
        """Saves after every n_epochs epochs (with --minutes: at the first epoch end after each n_iter-th of
        the time) and reports one line per iteration; when training stops early, or the time is up within
        an epoch, the epochs since the last checkpoint are saved as one more (shorter) iteration."""

        last_epoch, saved_epoch, iteration = start_epoch - 1, start_epoch, start_iter
        timed_out = False
        diverged_in: int | None = None  # the epoch whose loss became NaN or infinite

        def on_train_begin(self, logs=None):
            self.started = time.monotonic()

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if not math.isfinite(float((logs or {}).get("loss", 0.0))):
                # Weights that made a non-finite loss are never saved; the last checkpoint stays.
                self.diverged_in = self.epoch
                self.model.stop_training = True
            if budget and time.monotonic() - self.started >= budget:
                self.timed_out = self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            if self.diverged_in is not None:
                return
            logs = logs or {}
            for key in ("loss", "val_loss", "learning_rate"):
                if key in logs:
                    history.setdefault(key, []).append(float(logs[key]))
            self.last_epoch, self.logs = epoch, logs
            if budget:
                elapsed = time.monotonic() - self.started
                # Validation or a save can carry the clock past the budget after the last batch checked
                # it; stopping here keeps another (partial) epoch from becoming an iteration past n_iter.
                if elapsed >= budget:
                    self.timed_out = self.model.stop_training = True
                next_due = (self.iteration - start_iter + 1) * budget / train_cfg.n_iter
                due = elapsed >= next_due
            else:
                due = (epoch + 1 - start_epoch) % train_cfg.n_epochs == 0
            if due and self.iteration < start_iter + train_cfg.n_iter:
                self._save(epoch, logs)

        def on_train_end(self, logs=None):
            if self.diverged_in is not None:
                return
            if self.last_epoch + 1 > self.saved_epoch:
                self._save(self.last_epoch, self.logs)
            if self.model.stop_training and not self.timed_out:
                report(f"stopped early after epoch {self.last_epoch + 1}: no improvement of "
                       f"{monitored(train_cfg)} for {train_cfg.early_stopping} epochs")

        def _save(self, epoch, logs):
            self.iteration += 1
            self.saved_epoch = epoch + 1
            path = saver.save(self.iteration, epoch + 1, history)
            val = f", val_loss {logs['val_loss']:.4f}" if "val_loss" in logs else ""
            minutes = (time.monotonic() - self.started) / 60.0
            preview = f", preview: {saver.verdict}" if saver.verdict else ""
            report(f"iteration {self.iteration}/{start_iter + train_cfg.n_iter}: loss "
                   f"{logs.get('loss', float('nan')):.4f}{val} after {minutes:.1f} min{preview} -> "
                   f"{path or 'saved by the chief worker'}")

    return IterationCheckpoint()


def _state_reset():
    """--carry-state: every epoch starts the music's stretches again, from a zero state."""
    import keras

    class StateReset(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            reset_states(self.model)

    return StateReset()


def _check_within_limits(base: Checkpoint, train_cfg: TrainConfig) -> None:
    """WeightsError unless every checkpoint this run may write has an iteration and epoch that
    read_checkpoint accepts (both at most MAX_ITERATION)."""
    epochs = 0 if train_cfg.minutes else train_cfg.n_iter * train_cfg.n_epochs
    if base.iteration + train_cfg.n_iter > MAX_ITERATION or base.epoch + epochs > MAX_ITERATION:
        start = f"from iteration {base.iteration} (epoch {base.epoch}), " if base.iteration else ""
        raise WeightsError(f"{start}{train_cfg.n_iter} iterations of {train_cfg.n_epochs} epochs would pass "
                           f"{MAX_ITERATION}, the most a weight file records; lower -n or -e")


def _progress_bar(train_cfg: TrainConfig):
    """Keras' per-epoch progress bar; with --minutes its heading says the time, not an epoch count."""
    import keras

    class TimedProgress(keras.callbacks.ProgbarLogger):
        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            self.started = time.monotonic()

        def on_epoch_begin(self, epoch, logs=None):
            self._reset_progbar()  # ProgbarLogger's own steps, without its "Epoch N/total" line
            self._maybe_init_progbar()
            minutes = (time.monotonic() - self.started) / 60.0
            print(f"Epoch {epoch + 1} ({minutes:.1f} of {train_cfg.minutes:g} min)", flush=True)

    return TimedProgress() if train_cfg.minutes else keras.callbacks.ProgbarLogger()


def fit_frame_code(data: TrainingData, block: BlockSpec, *, rows_per_read: int = 8) -> FrameCode:
    """block.code values a block of `data`'s fine frames: its first principal components, or cosine coefficients
    of each frame's bands (block.code_basis), around the music's mean and within its range."""
    chunks = data.input_chunks(block, rows=rows_per_read)
    if block.code_basis == "dct":
        return cosine_code(chunks, block.bands, block.frames_per_block, block.code, block.code_times)
    return fit_code(chunks, block.code)


def _starting_point(train_cfg: TrainConfig, model_cfg: ModelConfig, data: TrainingData,
                    resume: Path | Checkpoint | None) -> tuple[Checkpoint, ModelConfig, dict[str, list[float]]]:
    """Where training starts: the parent weight file's network, statistics and history, or a new
    network on the data's blocks with the data's statistics. The Checkpoint records this run's config."""
    history: dict[str, list[float]] = {}
    normalisation = train_cfg.normalisation
    if resume is not None:
        base = resume if isinstance(resume, Checkpoint) else read_checkpoint(resume)
        name = Path(base.weights).name
        # What the statistics really are: the parent's choice, not this command line's.
        normalisation = base.normalisation
        if base.model.cell != model_cfg.cell:
            script = "re_train_gru.py" if base.model.cell == "gru" else "re_train.py"
            raise WeightsError(f"'{name}' holds a {base.model.label} network; use {script}")
        _check_compatible(base.model, data, f"'{name}'")
        model_cfg = base.model
        history = {k: list(v) for k, v in base.history.items()}
        base.parent = name
    else:
        # The data's blocks, in the representation asked for (fine frames keep the bands they were stored with).
        frames = model_cfg.block.representation == "frames"
        block = dataclasses.replace(data.block, representation=model_cfg.block.representation,
                                    bands=data.block.bands if frames else model_cfg.block.bands,
                                    code=model_cfg.block.code, code_basis=model_cfg.block.code_basis,
                                    code_times=model_cfg.block.code_times)
        mismatch = store_mismatch(block, data)
        if mismatch:
            raise DatasetError(f"--representation {block.representation} {mismatch}" + (
                "" if data.store == "frames" else ", or train --representation logmag or logmel"))
        if frames and block.code > block.frame_values:
            raise DatasetError(f"--code {block.code} is more than the {block.frame_values} values a block of the data "
                               "holds; lower --code")
        problem = (cosine_shape_problem(block.bands, block.frames_per_block, block.code, block.code_times)
                   if frames and block.code and block.code_basis == "dct" else None)
        if problem:
            raise DatasetError(f"--code-basis dct with --code {block.code} and --code-times {block.code_times} on "
                               f"the data's frames: {problem}")
        model_cfg = dataclasses.replace(model_cfg, clip_blocks=data.clip_blocks, block=block)
        mean, std = data.mean, data.std
        code = fit_frame_code(data, model_cfg.block) if frames and block.code else None
        if model_cfg.block.representation not in ("fft", "frames") and not data.block.overlap:
            log.warning(f"note: --representation {model_cfg.block.representation} on hard-edged blocks gets a random "
                        "phase per block when generating; convert with --overlap so that Griffin-Lim can rebuild it")
        # One pass over the music: the range of its values (generate --bound), and the statistics
        # when the network's representation is not the stored one (else the files have them).
        stats = feature_stats(data, model_cfg.block, code)
        if model_cfg.block.representation != data.store or code is not None:
            mean, std = stats.mean.astype(np.float32), std_from_variance(stats.variance)
        base = Checkpoint(model=model_cfg, iteration=0, epoch=0, mean=mean,
                          std=normalisation_std(std, train_cfg.normalisation),
                          low=stats.low.astype(np.float32), high=stats.high.astype(np.float32), code=code)
    # The whole run's config, as nanoGPT saves its own; the statistics' normalisation is the parent's.
    base.training = {**{k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(train_cfg).items()},
                     "normalisation": normalisation}
    return base, model_cfg, history


def _pipelines(data: TrainingData, base: Checkpoint, train_cfg: TrainConfig, strategy, failures: list):
    """The training batches and the validation batches (None without --validation-split), normalised
    with the starting point's statistics; reading errors are collected in `failures`."""
    distributed = strategy.num_replicas_in_sync > 1
    train_idx, val_idx = split_indices(data.clips, train_cfg.validation_split)
    if distributed and (len(train_idx) < train_cfg.n_batch or 0 < len(val_idx) < train_cfg.n_batch):
        raise DatasetError(f"with --strategy {train_cfg.strategy} every batch must be full, but the "
                           f"{len(train_idx)} training / {len(val_idx)} validation clips do not fill a batch of "
                           f"{train_cfg.n_batch}; lower -b or change --validation-split")
    # Workers split every epoch's batches between them, so they must all shuffle alike. A short
    # last batch would be split unevenly between replicas, which weighs its clips differently
    # (and Keras cannot evaluate a replica left empty); it is dropped instead, a different
    # remainder each epoch as the order is shuffled.
    shuffle_seed = 0 if train_cfg.seed is None and train_cfg.strategy == "multiworker" else train_cfg.seed

    def batches(indices, shuffle, drop_remainder=distributed):
        return shard_by_data(make_batches(data, indices, train_cfg.n_batch, mean=base.mean, std=base.std,
                                          shuffle=shuffle, seed=shuffle_seed if shuffle else None,
                                          drop_remainder=drop_remainder, block=base.model.block, code=base.code,
                                          failures=failures),
                             strategy)

    if train_cfg.carry_state:
        if distributed or len(val_idx):
            raise DatasetError("--carry-state trains one network on one device without --validation-split")
        if len(train_idx) < train_cfg.n_batch:
            raise DatasetError(f"--carry-state reads -b {train_cfg.n_batch} stretches of the music side by side, but "
                               f"the data has {len(train_idx)} clips; lower -b")
        # In order, and every batch full: the stateful layers' batch size is fixed.
        return batches(stream_order(train_idx, train_cfg.n_batch), False, drop_remainder=True), None
    return batches(train_idx, True), (batches(val_idx, False) if len(val_idx) else None)


def train(train_cfg: TrainConfig, model_cfg: ModelConfig, *, resume: Path | Checkpoint | None = None,
          verbose: int | str = "auto", report: Callable[[str], None] = log.info) -> TrainResult:
    """Train for n_iter iterations of n_epochs epochs, checkpointing after each iteration.

    With `resume` (a weight file, or its Checkpoint already read), the network, its normalisation
    and the iteration count come from that weight file; `model_cfg.cell` must match it. Progress
    lines (one per iteration) go to `report`; the scripts print them.
    """
    strategy = make_strategy(train_cfg.strategy)  # first: it may configure devices
    chief = is_chief(strategy)
    distributed = strategy.num_replicas_in_sync > 1
    if distributed:
        report(f"{train_cfg.strategy} strategy: training on {strategy.num_replicas_in_sync} replicas")
    import keras
    import tensorflow as tf

    data = load_training_data(train_cfg.data_prefix)
    if chief:  # before any work: an unwritable folder must not be found after the first iteration
        check_writable(train_cfg.weights_dir)
        remove_orphan_companions(train_cfg.weights_dir)
        if train_cfg.img_dir is not None:
            check_writable(train_cfg.img_dir)
        if train_cfg.tensorboard is not None:
            check_writable(train_cfg.tensorboard)
    base, model_cfg, history = _starting_point(train_cfg, model_cfg, data, resume)
    resume = base.weights if resume is not None else None
    _check_within_limits(base, train_cfg)
    require_memory(training_bytes(model_cfg, min(train_cfg.n_batch, data.clips)), "training this network",
                   "lower --hidden, --layers or -b")
    if train_cfg.seed is not None:
        keras.utils.set_random_seed(train_cfg.seed)
    # The weights stay float32 either way, so the files are the same kind and generation reads them as ever.
    with strategy.scope(), precision_policy(train_cfg.precision):
        carry = train_cfg.carry_state
        model, network = build_training_model(model_cfg, train_cfg.scheduled_sampling, stateful=carry,
                                              batch_size=train_cfg.n_batch if carry else None)
        compile_model(model, train_cfg.lr, model_cfg, jit=use_xla(train_cfg.precision, distributed),
                      clipnorm=train_cfg.clipnorm)
        fix_keras_multiworker(model, strategy)
        if resume is not None:
            load_weights(model, Path(resume), digest=base.digest)
            # The file's optimizer state carries the parent's learning rate; this run's --lr wins.
            model.optimizer.learning_rate.assign(train_cfg.lr)
    if chief:
        plot_model_diagram(network, (train_cfg.img_dir or train_cfg.weights_dir) / f"{model_cfg.cell}_model_plot.png")

    failures: list[DatasetError] = []
    batches, val = _pipelines(data, base, train_cfg, strategy, failures)

    previewer = Previewer(data, train_cfg.data_prefix, train_cfg.preview_seconds) \
        if chief and train_cfg.preview_seconds else None
    saver = _Saver(model, train_cfg, model_cfg, base, write=chief, previewer=previewer)
    start_epoch = base.epoch
    callback = _callback(saver, train_cfg, base.iteration, start_epoch, history, report)
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    result = TrainResult(iteration=base.iteration)
    old_term = signal.signal(signal.SIGTERM, raise_interrupt) if main_thread() else None
    try:
        # The progress bar goes first so each epoch's line prints before the iteration line.
        callbacks = ([_progress_bar(train_cfg)] if verbose else []) + \
            keras_callbacks(train_cfg, start_epoch) + ([_state_reset()] if train_cfg.carry_state else []) + [callback]
        # With --minutes the clock ends the run; the epoch count only has to be out of its reach.
        epochs = MAX_ITERATION if train_cfg.minutes else train_cfg.n_iter * train_cfg.n_epochs
        model.fit(batches, validation_data=val, initial_epoch=start_epoch,
                  epochs=start_epoch + epochs, callbacks=callbacks, shuffle=False,
                  verbose=verbose)
    except KeyboardInterrupt:
        # Every completed iteration is already on disk; a save cut short left only a temp file.
        result.interrupted = True
    except tf.errors.OpError:
        if failures:  # the input pipeline's own error, not TensorFlow's wrapping of it
            raise failures[0] from None
        raise
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
    if callback.diverged_in is not None and not result.interrupted:
        last_good = saver.last or resume
        kept = f"'{Path(last_good).name}' is kept" if last_good else "nothing was saved"
        raise TrainingError(f"the loss became NaN or infinite in epoch {callback.diverged_in + 1}, so training "
                            f"stopped; {kept}. Lower --lr, or re-run convert_directory.py if the data changed")
    result.checkpoint = saver.last
    result.iteration = saver.previous[0] if saver.previous else base.iteration
    result.history = history
    result.model = model
    return result

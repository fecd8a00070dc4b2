"""Keras callbacks, each switched on by a flag: early stopping, a learning-rate schedule and TensorBoard logs
(the previews' audio among them)."""

from __future__ import annotations

import math
import time
from pathlib import Path

from musicgen.audio.io import read_audio
from musicgen.config import PLATEAU_FACTOR, PLATEAU_PATIENCE, TrainConfig


def monitored(train_cfg: TrainConfig) -> str:
    """The loss the aids watch: the validation loss when clips are held out, else the training loss."""
    return "val_loss" if train_cfg.validation_split > 0 else "loss"


def keras_callbacks(train_cfg: TrainConfig, start_epoch: int) -> list:
    """The callbacks the flags ask for, in the order they must run (rate first, so logs carry it)."""
    import keras

    total = train_cfg.n_iter * train_cfg.n_epochs
    callbacks = [_LearningRateLog()]
    if train_cfg.lr_schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor=monitored(train_cfg), factor=PLATEAU_FACTOR,
                                                           patience=PLATEAU_PATIENCE, verbose=0))
    elif train_cfg.lr_schedule == "cosine":
        started = []

        def cosine(epoch, lr):  # over this run's epochs (its minutes with --minutes), from --lr down to 0
            started[:] = started or [time.monotonic()]
            if train_cfg.minutes:
                done = min(1.0, (time.monotonic() - started[0]) / (60.0 * train_cfg.minutes))
            else:
                done = (epoch - start_epoch) / total
            return float(train_cfg.lr * 0.5 * (1.0 + math.cos(math.pi * done)))

        callbacks.append(keras.callbacks.LearningRateScheduler(cosine))
    if train_cfg.early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitored(train_cfg), patience=train_cfg.early_stopping,
                                                       start_from_epoch=start_epoch))
    if train_cfg.tensorboard is not None:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(train_cfg.tensorboard), write_graph=False))
    return callbacks


def _LearningRateLog():
    import keras

    class LearningRateLog(keras.callbacks.Callback):
        """Puts the epoch's learning rate into the logs, for the loss file and TensorBoard."""

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    return LearningRateLog()


def log_preview_audio(log_dir: Path, preview: Path, iteration: int) -> None:
    """Add a preview song to the TensorBoard logs (its Audio tab), at step `iteration`."""
    import tensorflow as tf

    samples, rate = read_audio(preview)
    audio = tf.constant(samples[None, :, None])
    with tf.summary.create_file_writer(str(Path(log_dir) / "previews")).as_default():
        tf.summary.audio("preview", audio, sample_rate=rate, step=iteration)

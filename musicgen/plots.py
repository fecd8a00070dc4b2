"""Pictures a person would rather look at than read: loss curves and model diagrams."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from .atomic import write_atomic

log = logging.getLogger(__name__)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; works without a display
    import matplotlib.pyplot as plt

    return plt


def _save_figure(plt, fig, path: Path) -> Path:
    """Lay out, write atomically and close a figure."""
    fig.tight_layout()
    write_atomic(path, fig.savefig)
    plt.close(fig)
    return path


def plot_loss(history: dict[str, list[float]], path: Path, title: str, *, epochs_per_iter: int) -> Path:
    """Loss (and validation loss) against epoch, with iteration boundaries marked; saved as PNG."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    epochs = range(1, len(history.get("loss", [])) + 1)
    ax.plot(epochs, history.get("loss", []), marker=".", label="training loss")
    if history.get("val_loss"):
        ax.plot(range(1, len(history["val_loss"]) + 1), history["val_loss"], marker=".",
                label="validation loss")
    for boundary in range(epochs_per_iter, len(epochs) + 1, epochs_per_iter):
        ax.axvline(boundary + 0.5, color="0.9", lw=0.8, zorder=0)
    ax.set(xlabel="epoch", ylabel="mean squared error (normalised FFT)", title=title)
    losses = history.get("loss", [])
    if losses and min(losses) > 0 and max(losses) / min(losses) > 20:
        ax.set_yscale("log")  # only when the curve spans decades; otherwise it just hides the ticks
    ax.grid(alpha=0.3)
    ax.legend()
    return _save_figure(plt, fig, path)


def plot_model_diagram(model, path: Path) -> Path | None:
    """Draw the network with pydot/graphviz; skipped with a warning if 'dot' is missing."""
    if shutil.which("dot") is None:
        log.warning("graphviz 'dot' not found; model diagram %s not drawn", path)
        return None
    import keras

    path.parent.mkdir(parents=True, exist_ok=True)
    keras.utils.plot_model(model, to_file=str(path), show_shapes=True, show_layer_names=True, dpi=80)
    return path


def plot_song(samples, sample_rate: int, path: Path, title: str) -> Path:
    """Waveform above spectrogram, so a song can be judged before it is played."""
    import numpy as np
    from scipy import signal

    plt = _pyplot()
    fig, (wave_ax, spec_ax) = plt.subplots(2, 1, figsize=(9, 5), dpi=100, sharex=True)
    t = np.arange(len(samples)) / sample_rate
    wave_ax.plot(t, np.clip(samples, -1, 1), lw=0.3)
    wave_ax.set(ylabel="amplitude", ylim=(-1.05, 1.05), title=title)
    freqs, times, power = signal.spectrogram(samples, fs=sample_rate, nperseg=2048, noverlap=1024)
    spec_ax.pcolormesh(times, freqs / 1000, 10 * np.log10(power + 1e-12), shading="auto", cmap="magma",
                       vmin=-120, vmax=-20)
    spec_ax.set(xlabel="time (s)", ylabel="frequency (kHz)", ylim=(0, min(sample_rate / 2000, 11)))
    return _save_figure(plt, fig, path)

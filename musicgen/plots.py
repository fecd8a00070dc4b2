"""Pictures a person would rather look at than read: loss curves, model diagrams, songs."""

from __future__ import annotations

import logging
import shutil
import textwrap
from collections.abc import Sequence
from pathlib import Path

from musicgen.atomic import raise_if_disk_full, write_atomic
from musicgen.errors import OutputError
from musicgen.text import printable

log = logging.getLogger(__name__)


def pyplot():
    """matplotlib's pyplot drawing into files (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")  # files only; works without a display
    import matplotlib.pyplot as plt

    return plt


def save_figure(plt, fig, path: Path) -> Path:
    """Lay out, write atomically and close a figure; a full disk is one error naming `path`."""
    fig.tight_layout()
    try:
        write_atomic(path, fig.savefig)
    except OSError as exc:
        if exc.filename is None:  # matplotlib's own write errors name no file
            exc.filename = str(path)
        raise_if_disk_full(exc, path, "no picture was written")
        raise
    finally:
        plt.close(fig)
    return path


def plot_loss(history: dict[str, list[float]], path: Path, title: str, *, checkpoints: Sequence[int] = (),
              ylabel: str = "mean squared error (normalised FFT)") -> Path:
    """Loss (and validation loss) against epoch, with the epochs after which a checkpoint was written
    marked; saved as PNG."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    epochs = range(1, len(history.get("loss", [])) + 1)
    ax.plot(epochs, history.get("loss", []), marker=".", label="training loss")
    if history.get("val_loss"):
        ax.plot(range(1, len(history["val_loss"]) + 1), history["val_loss"], marker=".",
                label="validation loss")
    for epoch in checkpoints:
        ax.axvline(epoch + 0.5, color="0.6", lw=0.8, ls="--", zorder=0)
    # Wrapped, since a long label (the Gaussian output's) is cut off at the figure's edge otherwise.
    ax.set(xlabel="epoch", ylabel=textwrap.fill(ylabel, 36), title=printable(title))
    losses = history.get("loss", [])
    if losses and min(losses) > 0 and max(losses) / min(losses) > 20:
        ax.set_yscale("log")  # only when the curve spans decades; otherwise it just hides the ticks
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(plt, fig, path)


def plot_model_diagram(model, path: Path) -> Path | None:
    """Draw the network with pydot/graphviz; skipped with a warning if 'dot' is missing."""
    if shutil.which("dot") is None:
        log.warning("graphviz 'dot' not found; model diagram %s not drawn", path)
        return None
    import keras

    path.parent.mkdir(parents=True, exist_ok=True)

    def draw(part: Path):
        keras.utils.plot_model(model, to_file=str(part), show_shapes=True, show_layer_names=True, dpi=80)
        if not part.is_file() or part.stat().st_size == 0:
            raise OutputError(f"graphviz wrote nothing for '{path}' (a full disk?); the earlier diagram is kept")

    try:
        write_atomic(path, draw)  # a full disk leaves the earlier diagram whole
    except OSError as exc:
        raise_if_disk_full(exc, path, "the earlier diagram is kept")
        raise
    return path


def plot_song(samples, sample_rate: int, path: Path, title: str, *, echo_seconds: float = 0.0,
              start_seconds: float = 0.0) -> Path:
    """Waveform above spectrogram, so a song can be judged before it is played; a line marks
    where the echo of the seed ends and the network's own music begins. `samples` start `start_seconds`
    into the song (a long streamed song's picture shows its end)."""
    import numpy as np
    from scipy import signal

    plt = pyplot()
    fig, (wave_ax, spec_ax) = plt.subplots(2, 1, figsize=(9, 5), dpi=100, sharex=True)
    t = start_seconds + np.arange(len(samples)) / sample_rate
    wave_ax.plot(t, np.clip(samples, -1, 1), lw=0.3)
    wave_ax.set(ylabel="amplitude", ylim=(-1.05, 1.05), title=printable(title))
    samples = np.asarray(samples, dtype=np.float32)
    if len(samples) < 16:  # too short for any spectrogram: draw silence-length padding instead
        samples = np.pad(samples, (0, 16 - len(samples)))
    nperseg = min(2048, len(samples))
    freqs, times, power = signal.spectrogram(samples, fs=sample_rate, nperseg=nperseg, noverlap=nperseg // 2)
    spec_ax.pcolormesh(start_seconds + times, freqs / 1000, 10 * np.log10(power + 1e-12), shading="auto", cmap="magma",
                       vmin=-120, vmax=-20)
    spec_ax.set(xlabel="time (s)", ylabel="frequency (kHz)", ylim=(0, min(sample_rate / 2000, 11)))
    if len(t) and t[0] < echo_seconds < t[-1]:
        for ax in (wave_ax, spec_ax):
            ax.axvline(echo_seconds, color="tab:green", lw=1.2, ls="--")
        wave_ax.text(echo_seconds, 1.0, " new music ->", color="tab:green", va="top", fontsize=8)
    return save_figure(plt, fig, path)

"""evaluate.py's picture: the songs' spectral envelopes beside the training music's, and each song beside its
nearest training excerpt."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from musicgen.evaluate.measures import ANALYSIS_RATE, HOP, POWER_FLOOR
from musicgen.plots import pyplot, save_figure
from musicgen.text import printable


def plot_evaluation(report, reference, song_mels, noise_mel, path: Path, max_songs: int = 3) -> Path:
    """Mean log-mel profiles of songs, training music and noise; then each song's log-mel
    spectrogram beside its nearest training excerpt."""
    def profile(mel):  # the long-term spectrum: frames' mean power per band, back in dB
        return 10 * np.log10(np.maximum(np.mean(10 ** (mel / 10), axis=0), POWER_FLOOR))

    plt = pyplot()
    shown = list(zip(report.songs, song_mels))[:max_songs]
    fig = plt.figure(figsize=(10, 3 + 2.4 * len(shown)), dpi=100)
    grid = fig.add_gridspec(1 + len(shown), 2)
    prof_ax = fig.add_subplot(grid[0, :])
    bands = np.arange(len(reference.profile))
    prof_ax.plot(bands, reference.profile, lw=2.5, color="k", label="training music")
    prof_ax.plot(bands, profile(noise_mel), color="0.6", ls="--",
                 label=f"white noise ({report.noise.mel_distance_db:.0f} dB away)")
    for (m, mel), v in zip(shown, report.verdicts):
        prof_ax.plot(bands, profile(mel), label=f"{m.name} ({m.mel_distance_db:.0f} dB away"
                     f"{', music-like' if v.music_like else ''})")
    prof_ax.set(xlabel="mel band (0 Hz .. 11 kHz)", ylabel="mean level (dB)",
                title=f"spectral envelope; silence sits at {10 * np.log10(POWER_FLOOR):.0f} dB, "
                      f"{report.silence.mel_distance_db:.0f} dB away")
    prof_ax.legend(fontsize=8)
    prof_ax.grid(alpha=0.3)
    style = dict(origin="lower", aspect="auto", cmap="magma", vmin=-100, vmax=-20)
    for row, (m, mel) in enumerate(shown, start=1):
        song_ax = fig.add_subplot(grid[row, 0])
        seconds = len(mel) * HOP / ANALYSIS_RATE
        song_ax.imshow(mel.T, extent=(0, seconds, 0, mel.shape[1]), **style)
        song_ax.set(title=printable(m.name), ylabel="mel band", xlabel="time (s)")
        ref_ax = fig.add_subplot(grid[row, 1], sharey=song_ax)
        start = int(round(m.nearest_excerpt_at * ANALYSIS_RATE / HOP))
        excerpt = reference.mel[start:start + len(mel)]
        ref_ax.imshow(excerpt.T, extent=(m.nearest_excerpt_at, m.nearest_excerpt_at + len(excerpt) * HOP /
                                         ANALYSIS_RATE, 0, mel.shape[1]), **style)
        ref_ax.set(title=f"nearest training excerpt ({m.nearest_excerpt_db:.1f} dB away)", xlabel="training time (s)")
    return save_figure(plt, fig, path)

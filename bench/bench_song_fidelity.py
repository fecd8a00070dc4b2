#!/usr/bin/env python3
"""How close sets of songs sound to the music, beside the music's own round trips: the last TAIL seconds of
every song in each SONGS folder against the music's files (bench_song_quality's protocol), by the
long-term spectrum's log-spectral distance at 256/1024/4096-sample windows and over 64 mel bands at 1024
(the bins weigh 10-22 kHz as half the spectrum, where hearing is weakest; mel bands weigh it as the ear
does), the Fréchet distance of
64-band log mel frames (lower is closer; another excerpt of the same music scores near 0), and
evaluate.py's flatness beside the music's.

    .venv/bin/python bench/bench_song_fidelity.py --music datasets/recorded/band --songs DIR [DIR ...]

One folder is one draw of songs: bench/bench_song_spread.py says how far another draw of the same networks
lands.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from musicgen.audio.io import read_audio
from musicgen.audio.spectra import mel_filterbank
from musicgen.config import BlockSpec
from musicgen.evaluate import measures
from musicgen.evaluate.fidelity import WINDOWS, frechet_distance, spectrum_distance_db

RATE = 44100
MEL_WINDOW = 1024  # the mel bands' window: the Fréchet distance's frames and the long-term spectrum's mel form
HEADER = f"{'spectrum LSD ' + '/'.join(map(str, WINDOWS)):>26} {'mel':>5} {'Frechet':>8} {'flat x':>6}"
AUDIO = (".mp3", ".wav", ".ogg", ".flac")


def song_tails(paths: list[Path], seconds: float) -> list[np.ndarray]:
    """The last `seconds` of each song in `paths`."""
    out = []
    for path in paths:
        samples, rate = read_audio(path)
        if rate != RATE:
            raise SystemExit(f"{path}: {rate} Hz, this bench compares at {RATE}")
        out.append(samples[-int(seconds * rate):])
    return out


def tails(folder: Path, seconds: float) -> list[np.ndarray]:
    """The last `seconds` of every generated song in `folder`."""
    return song_tails(sorted(folder.glob("generated_song*.wav")), seconds)


def flatness(signals: list[np.ndarray]) -> float:
    """evaluate.py's spectral flatness, averaged over `signals`."""
    return float(np.mean([measures.spectral_flatness(measures.power_spectrogram(measures.to_analysis_rate(x, RATE)))
                          for x in signals]))


@dataclass
class Music:
    """A folder of music as these benches compare against it: its files at RATE, their flatness, the mel bands."""

    files: list[np.ndarray]
    flatness: float
    mel: np.ndarray

    @classmethod
    def load(cls, folder: Path) -> "Music":
        files = [read_audio(p, RATE, resample=True)[0] for p in sorted(folder.iterdir()) if p.suffix.lower() in AUDIO]
        mel = mel_filterbank(BlockSpec(sample_rate=RATE, block_size=MEL_WINDOW, overlap=True, representation="logmel",
                                       bands=64))
        return cls(files, flatness(files), mel)

    def distances(self, songs: list[np.ndarray]) -> "Distances":
        """`songs` against the music."""
        return Distances(lsd_db=[spectrum_distance_db(songs, self.files, w) for w in WINDOWS],
                         mel_db=spectrum_distance_db(songs, self.files, MEL_WINDOW, self.mel),
                         frechet=frechet_distance(songs, self.files, self.mel),
                         flatness_ratio=flatness(songs) / self.flatness)


@dataclass
class Distances:
    """A set of songs against the music: the long-term spectrum's LSD at each of WINDOWS and over the mel
    bands, the Fréchet distance of log mel frames, evaluate.py's flatness over the music's."""

    lsd_db: list[float]
    mel_db: float
    frechet: float
    flatness_ratio: float

    def cells(self) -> str:
        """The figures as the benches print them."""
        return (f"{' / '.join(f'{d:.1f}' for d in self.lsd_db):>18} {self.mel_db:5.1f} {self.frechet:8.1f} "
                f"{self.flatness_ratio:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--music", type=Path, required=True, help="folder of the training music")
    parser.add_argument("--songs", type=Path, nargs="+", required=True, help="folders of songs, one set each")
    parser.add_argument("--tail", type=float, default=20.0)
    args = parser.parse_args()
    music = Music.load(args.music)
    halves = [x[: len(x) // 2] for x in music.files]
    print(f"{'set':40} {HEADER}")
    rows = [("the music's first halves vs the music", halves)] + [(str(f), tails(f, args.tail)) for f in args.songs]
    for name, songs in rows:
        print(f"{name[-40:]:40} {music.distances(songs).cells():>26}", flush=True)


if __name__ == "__main__":
    main()

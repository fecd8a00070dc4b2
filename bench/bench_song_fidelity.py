#!/usr/bin/env python3
"""How close sets of songs sound to the music, beside the music's own round trips: the last TAIL seconds of
every song in each SONGS folder against the music's files (bench_song_quality's protocol), by the
long-term spectrum's log-spectral distance at 256/1024/4096-sample windows, the Fréchet distance of
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
        mel = mel_filterbank(BlockSpec(sample_rate=RATE, block_size=1024, overlap=True, representation="logmel",
                                       bands=64))
        return cls(files, flatness(files), mel)

    def distances(self, songs: list[np.ndarray]) -> tuple[list[float], float, float]:
        """`songs` against the music: (spectrum LSD at each of WINDOWS, Fréchet distance, flatness ratio)."""
        return ([spectrum_distance_db(songs, self.files, w) for w in WINDOWS],
                frechet_distance(songs, self.files, self.mel), flatness(songs) / self.flatness)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--music", type=Path, required=True, help="folder of the training music")
    parser.add_argument("--songs", type=Path, nargs="+", required=True, help="folders of songs, one set each")
    parser.add_argument("--tail", type=float, default=20.0)
    args = parser.parse_args()
    music = Music.load(args.music)
    halves = [x[: len(x) // 2] for x in music.files]
    print(f"{'set':40} {'spectrum LSD ' + '/'.join(map(str, WINDOWS)):>26} {'Frechet':>8} {'flat x':>7}")
    rows = [("the music's first halves vs the music", halves)] + [(str(f), tails(f, args.tail)) for f in args.songs]
    for name, songs in rows:
        lsd, frechet, flat = music.distances(songs)
        print(f"{name[-40:]:40} {' / '.join(f'{d:.1f}' for d in lsd):>26} {frechet:8.1f} {flat:7.2f}", flush=True)


if __name__ == "__main__":
    main()

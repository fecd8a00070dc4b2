#!/usr/bin/env python3
"""The decoder's ceiling: real music sent through each representation and decoder and back, measured
against itself. No network can sound closer to the music than its representation's round trip.

For each set (the bundled piano and ensemble renderings; the recorded orchestral and band sets of
`make recorded` when they are there) a 20 s excerpt of every file goes through:
- the toolkit's representations of today (generate.py --resynthesize gives the same), and
- candidate fine-frame representations (musicgen.audio.frames), each rebuilt by Griffin-Lim.
Measured: the log-spectral distance at 256/1024/4096-sample windows and the spectral convergence
(musicgen.evaluate.fidelity), evaluate.py's flatness beside the music's, the values a second a
network would have to predict, and the decoder's speed in x real time on this machine.

    .venv/bin/python bench/bench_fidelity.py [--seconds 20] [--sets piano band]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from common import REPO, write_results
from phase_gradient import pghi
from musicgen.audio import frames
from musicgen.audio.frame_code import cosine_basis
from musicgen.audio.blocks import blocks_to_features, frame
from musicgen.audio.io import read_audio
from musicgen.audio.representation import log_magnitudes
from musicgen.audio.spectra import fast_griffin_lim, from_log, to_log
from musicgen.config import BlockSpec
from musicgen.evaluate import measures
from musicgen.evaluate.fidelity import WINDOWS, fidelity
from musicgen.generate.band_detail import fit_learned_detail
from musicgen.generate.resynthesis import round_trip

RATE = 44100
SETS = {
    "piano": REPO / "datasets" / "training_data",
    "ensemble": REPO / "datasets" / "ensemble_data",
    "orchestral": REPO / "datasets" / "recorded" / "orchestral",
    "band": REPO / "datasets" / "recorded" / "band",
}


def toolkit(representation: str, bands: int = 64, detail: str = "smooth"):
    """A representation of today's toolkit on the main preset's blocks (11025 samples, overlapping); with detail
    "learned", generate.py --detail learned's map fitted on the other files of the set."""
    block = BlockSpec(sample_rate=RATE, block_size=11025, overlap=True, representation=representation, bands=bands)
    values = block.feature_dim / block.hop_seconds

    def decode(x, rng, others):
        if detail == "smooth":
            return round_trip(x, block, rng)
        log_bins = [log_magnitudes(blocks_to_features(frame(o, (len(o) - block.block_size) // block.hop + 1, block)))
                    for o in others]
        return round_trip(x, block, rng, lend=fit_learned_detail(log_bins, block).lend)

    return decode, values


def framed(frame: int, hop: int, bands: int, iterations: int = 32, phase: str = "random"):
    """A candidate: magnitudes of Hann frames (per mel band, or every bin for bands=0), Griffin-Lim from random
    phases, or (phase "pghi") from phase-gradient heap integration's."""
    spec = frames.FrameSpec(sample_rate=RATE, frame=frame, hop=hop, bands=bands)

    def decode(x, rng, others):
        if phase == "random":
            return frames.resynthesize(x, spec, rng=rng, iterations=iterations)
        magnitude = frames.frame_magnitudes(x, spec)
        return from_phase_gradient(frames.bins_from_bands(magnitude, spec) if bands else magnitude, spec, len(x),
                                   rng, iterations)

    return decode, spec.values * RATE / hop


def from_phase_gradient(magnitude: np.ndarray, spec: frames.FrameSpec, length: int, rng: np.random.Generator,
                        iterations: int) -> np.ndarray:
    """frames.griffin_lim, started from the phase-gradient heap integration's phases instead of random ones."""
    start = pghi(magnitude, spec.frame, spec.hop, rng)
    return fast_griffin_lim(magnitude, start, lambda spectra: frames.istft(spectra, spec, length),
                            lambda signal: frames.stft(signal, spec), iterations, frames.GRIFFIN_LIM_MOMENTUM)


def coded(frame: int, hop: int, bands: int, per_step: int, components: int, iterations: int = 32,
          times: int | None = None, phase: str = "random", detail: str = "smooth"):
    """A candidate: `per_step` frames of log mel bands as one step, coded by their first `components`
    principal components (a linear autoencoder), fitted on the whole of the other files of the set, never the
    file itself; or, given `times`, by the fixed cosine basis of --code-basis dct around the other files' mean.
    With detail "learned", each frame's bands shaped within them by generate.py --detail learned's map, fitted on
    the other files' frames."""
    spec = frames.FrameSpec(sample_rate=RATE, frame=frame, hop=hop, bands=bands)

    def steps(x: np.ndarray) -> np.ndarray:
        logs = to_log(frames.frame_magnitudes(x, spec))
        usable = len(logs) // per_step * per_step
        return logs[:usable].reshape(-1, per_step * spec.values)

    def decode(x, rng, others):
        train = np.concatenate([steps(o) for o in others])
        mean = train.mean(axis=0)
        if times is None:
            _, _, vt = np.linalg.svd(train - mean, full_matrices=False)
            basis = vt[:components]
        else:
            basis = cosine_basis(spec.values, per_step, components, times)
        logs = to_log(frames.frame_magnitudes(x, spec))
        usable = len(logs) // per_step * per_step
        code = (logs[:usable].reshape(-1, per_step * spec.values) - mean) @ basis.T
        back = (code @ basis + mean).reshape(-1, spec.values)
        logs = np.concatenate([back, logs[usable:]])  # the last part-step as it is: under a step of audio
        magnitude = from_log(logs)
        if bands:
            magnitude = frames.bins_from_bands(magnitude, spec)
        if detail == "learned":
            bins = frames.FrameSpec(sample_rate=RATE, frame=frame, hop=hop, bands=0)
            fitted = fit_learned_detail((b for o in others for b in frames.log_bin_chunks(o, bins)), spec.mel_block())
            magnitude = magnitude * np.exp(fitted.lend(logs))
        if phase == "pghi":
            return from_phase_gradient(magnitude, spec, len(x), rng, iterations)
        return frames.griffin_lim(magnitude, spec, len(x), rng=rng, iterations=iterations)

    return decode, components * RATE / (hop * per_step)


CANDIDATES = {
    "main preset: 64 mel bands of 11025-sample blocks, hop 5512, 16 fast GL rounds": lambda: toolkit("logmel", 64),
    "keep_going: all 5513 log magnitudes of those blocks": lambda: toolkit("logmag"),
    "main preset, --detail learned (fitted on the other files)": lambda: toolkit("logmel", 64, "learned"),
    "64 mel bands of 2048-sample frames, hop 512, 32 rounds": lambda: framed(2048, 512, 64),
    "128 mel bands of 2048-sample frames, hop 512, 32 rounds": lambda: framed(2048, 512, 128),
    "256 mel bands of 2048-sample frames, hop 512, 32 rounds": lambda: framed(2048, 512, 256),
    "128 mel bands of 1024-sample frames, hop 256, 32 rounds": lambda: framed(1024, 256, 128),
    "all 1025 magnitudes of 2048-sample frames, hop 512, 32 rounds": lambda: framed(2048, 512, 0),
    "all 1025 magnitudes of 2048-sample frames, hop 512, 16 rounds": lambda: framed(2048, 512, 0, 16),
    "all 513 magnitudes of 1024-sample frames, hop 256, 32 rounds": lambda: framed(1024, 256, 0),
    "128 principal components of 8 frames x 128 mel bands (2048/512), 32 rounds": lambda: coded(2048, 512, 128, 8, 128),
    "256 principal components of 8 frames x 128 mel bands (2048/512), 32 rounds": lambda: coded(2048, 512, 128, 8, 256),
    "64 principal components of 8 frames x 128 mel bands (2048/512), 32 rounds": lambda: coded(2048, 512, 128, 8, 64),
    "256 principal components of 8 frames x 256 mel bands (2048/512), 32 rounds": lambda: coded(2048, 512, 256, 8, 256),
    "256 principal components of 8 frames x 1025 magnitudes (2048/512), 32 rounds": lambda: coded(2048, 512, 0, 8, 256),
    "config/fine.toml: 128 principal components of 8 frames x 128 mel bands, 16 rounds":
        lambda: coded(2048, 512, 128, 8, 128, frames.GRIFFIN_LIM_ITERATIONS),
    "128 principal components of 8 frames x 256 mel bands, 16 rounds":
        lambda: coded(2048, 512, 256, 8, 128, frames.GRIFFIN_LIM_ITERATIONS),
    "--code-basis dct --code 768: 96 cosines over each of 8 frames x 256 mel bands, 16 rounds":
        lambda: coded(2048, 512, 256, 8, 768, frames.GRIFFIN_LIM_ITERATIONS, times=0),
    "--code-basis dct --code 384 --code-times 4: 4 cosines over 8 frames x 96 over 256 mel bands, 16 rounds":
        lambda: coded(2048, 512, 256, 8, 384, frames.GRIFFIN_LIM_ITERATIONS, times=4),
    "all 1025 magnitudes of 2048-sample frames, hop 512, 16 rounds from PGHI's phase":
        lambda: framed(2048, 512, 0, 16, "pghi"),
    "128 mel bands of 2048-sample frames, hop 512, 16 rounds from PGHI's phase":
        lambda: framed(2048, 512, 128, 16, "pghi"),
    "256 principal components of 8 frames x 1025 magnitudes (2048/512), 16 rounds from PGHI's phase":
        lambda: coded(2048, 512, 0, 8, 256, 16, phase="pghi"),
    "256 principal components of 8 frames x 1025 magnitudes (2048/512), 16 rounds":
        lambda: coded(2048, 512, 0, 8, 256, 16),
    "config/fine.toml, --detail learned (fitted on the other files)":
        lambda: coded(2048, 512, 128, 8, 128, frames.GRIFFIN_LIM_ITERATIONS, detail="learned"),
    "128 mel bands of 2048-sample frames, hop 512, 16 rounds, --detail learned (fitted on the other files)":
        lambda: coded(2048, 512, 128, 8, 8 * 128, frames.GRIFFIN_LIM_ITERATIONS, detail="learned"),
    "128 principal components of 4 frames x 128 mel bands (a 2048-sample step), 16 rounds, --detail learned":
        lambda: coded(2048, 512, 128, 4, 128, frames.GRIFFIN_LIM_ITERATIONS, detail="learned"),
    "256 principal components of 8 frames x 128 mel bands, 16 rounds, --detail learned":
        lambda: coded(2048, 512, 128, 8, 256, frames.GRIFFIN_LIM_ITERATIONS, detail="learned"),
    "64 principal components of 4 frames x 128 mel bands (a 2048-sample step), 16 rounds, --detail learned":
        lambda: coded(2048, 512, 128, 4, 64, frames.GRIFFIN_LIM_ITERATIONS, detail="learned"),
}


def load_set(folder: Path, seconds: float, start: float = 5.0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(`seconds` from `start` s, the whole file) of every audio file in `folder`, mono at RATE."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".mp3", ".wav", ".ogg", ".flac"))
    out = []
    for path in files:
        samples, _ = read_audio(path, RATE, resample=True)
        first = int(start * RATE) if len(samples) > (start + seconds) * RATE else 0
        out.append((samples[first:first + int(seconds * RATE)], samples))
    return out


def flatness(samples: np.ndarray) -> float:
    """evaluate.py's mean spectral flatness."""
    return measures.spectral_flatness(measures.power_spectrogram(measures.to_analysis_rate(samples, RATE)))


def picture(music: np.ndarray, rebuilt: dict[str, np.ndarray], path: Path, seconds: float = 4.0) -> Path:
    """The music's spectrogram above each round trip's, at a 1024-sample window (23 ms at 44.1 kHz: a
    quarter-second window would hide the smeared transients)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from musicgen.evaluate.fidelity import magnitudes

    rows = {"the music": music, **rebuilt}
    fig, axes = plt.subplots(len(rows), 1, figsize=(9, 2.2 * len(rows)), sharex=True, dpi=100)
    n = int(seconds * RATE)
    for ax, (name, x) in zip(axes, rows.items()):
        power = 20 * np.log10(magnitudes(x[:n], 1024) + 1e-6)
        ax.imshow(power.T, origin="lower", aspect="auto", cmap="magma", vmin=power.max() - 90, vmax=power.max(),
                  extent=(0, n / RATE, 0, RATE / 2000))
        ax.set(ylabel="kHz", title=name, ylim=(0, 11))
    axes[-1].set(xlabel="time (s)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="excerpt of each file")
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--only", nargs="+", type=int, default=None, help="numbers of the candidates to run (from 1)")
    parser.add_argument("--picture", type=Path, default=None, metavar="FILE.png",
                        help="instead: 4 s of the first file of the first set beside its round trips through --only's")
    args = parser.parse_args()
    loaded = {name: load_set(SETS[name], args.seconds) for name in args.sets if SETS[name].is_dir()}
    music = {name: [excerpt for excerpt, _ in pairs] for name, pairs in loaded.items()}
    missing = [name for name in args.sets if name not in music]
    if missing:
        print(f"(no {', '.join(missing)} set here; `make recorded` builds the recorded ones)")
    if args.picture is not None:
        pairs = next(iter(loaded.values()))
        first, others = pairs[0][0], [full for _, full in pairs[1:]]
        chosen = [name for k, name in enumerate(CANDIDATES, start=1) if args.only is None or k in args.only]
        trips = {name: CANDIDATES[name]()[0](first, np.random.default_rng(0), others) for name in chosen}
        print(f"wrote {picture(first, trips, args.picture)}")
        return
    music_flatness = {name: float(np.mean([flatness(x) for x in xs])) for name, xs in music.items()}
    results = {"seconds": args.seconds, "windows": list(WINDOWS), "candidates": {}}
    chosen = [(k, name) for k, name in enumerate(CANDIDATES, start=1) if args.only is None or k in args.only]
    print(f"{'set':10} {'LSD dB ' + '/'.join(map(str, WINDOWS)):>24} {'SC dB':>6} {'flat x':>6} {'x RT':>5}  candidate")
    for k, name in chosen:
        decode, values_per_second = CANDIDATES[name]()
        rows = {}
        for set_name, xs in music.items():
            rng = np.random.default_rng(0)
            start = time.perf_counter()
            whole = [full for _, full in loaded[set_name]]
            rebuilt = [decode(x, rng, whole[:i] + whole[i + 1:]) for i, x in enumerate(xs)]
            wall = time.perf_counter() - start
            scores = [fidelity(x, r) for x, r in zip(xs, rebuilt)]
            row = {
                "lsd_db": [float(np.mean([s.lsd_db[w] for s in scores])) for w in range(len(WINDOWS))],
                "convergence_db": float(np.mean([s.convergence_db for s in scores])),
                "flatness_ratio": float(np.mean([flatness(r) for r in rebuilt])) / music_flatness[set_name],
                "x_real_time": sum(len(x) for x in xs) / RATE / wall,
            }
            rows[set_name] = row
            lsd = " / ".join(f"{d:.1f}" for d in row["lsd_db"])
            print(f"{set_name:10} {lsd:>24} {row['convergence_db']:6.1f} {row['flatness_ratio']:6.2f} "
                  f"{row['x_real_time']:5.0f}  {k}. {name}", flush=True)
        results["candidates"][name] = {"values_per_second": values_per_second, "sets": rows}
        print(f"{'':10} {'':24} values a second a network predicts: {values_per_second:,.0f}", flush=True)
    print(f"results: {write_results('fidelity', results)}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Make a song from a network exported by `export.py --format onnx`, with numpy, scipy and onnxruntime alone.

    python examples/onnx_player.py exports/LSTM_NP_Weights_Iter-6-onnx --seconds 30 --output song.wav

The network runs one step per block: the block it drew last and its state in, the next block's distribution
and the new state out. The block is drawn from that distribution, fed back, and turned into sound a run of
blocks at a time (the phase of magnitude-only blocks found by Griffin-Lim as the song goes). docs/EXPORT.md
says what the folder holds; nothing here needs TensorFlow or the toolkit.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import wave
from pathlib import Path

import numpy as np
import scipy.fft
from scipy.ndimage import minimum_filter1d, uniform_filter1d

FORMAT = "lstm-music-generation-export/1"


class Export:
    """An export folder: player.json's settings, player.npz's arrays and the ONNX step."""

    def __init__(self, folder: Path):
        import onnxruntime

        if not (folder / "player.json").is_file():
            raise ValueError(f"'{folder}' holds no export (no player.json): give the folder export.py wrote")
        card = json.loads((folder / "player.json").read_text())
        if card.get("format") != FORMAT or card.get("network_format") != "onnx":
            raise ValueError(f"'{folder}' does not hold an ONNX export of lstm-music-generation ({FORMAT})")
        self.card, self.decoder = card, card["decoder"]
        with np.load(folder / "player.npz") as npz:
            self.arrays = {name: npz[name] for name in card["arrays"]}
        self.session = onnxruntime.InferenceSession(str(folder / card["network_file"]),
                                                    providers=["CPUExecutionProvider"])

    def step(self, block: np.ndarray, state: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(distribution, next state) after `block`, for one song."""
        distribution, state = self.session.run(["distribution", "next_state"],
                                               {"block": block[None], "state": state, "prenet_mask": mask})
        return distribution[0], state

    def prenet_mask(self, rng: np.random.Generator) -> np.ndarray:
        """The pre-net dropout, on when songs are made as it was in training: dropped units 0, kept ones scaled."""
        rate, units = self.card["prenet_dropout"], self.card["prenet_units"]
        if not rate:
            return np.ones((1, units), np.float32)
        return ((rng.random((1, units)) >= rate) / (1.0 - rate)).astype(np.float32)


def draw(out: np.ndarray, card: dict, temperature: float, rng: np.random.Generator, noise=1.0,
         carry=None) -> np.ndarray:
    """The block played from one distribution: a mixture picks a component (weights sharpened by 1 / temperature),
    then each value is its mean plus temperature times its `noise` times its scale in Gaussian noise, that noise
    passed through `carry` where given (NoiseMemory) ("mse": the output itself)."""
    dim, kind = card["block_values"], card["output"]
    if kind == "mse":
        return out[:dim]
    if kind == "mixture":
        k = card["components"]
        logits, parts = out[:k], out[k:].reshape(k, -1)
        if temperature:
            logits = logits / temperature - np.log(-np.log(rng.uniform(np.finfo(np.float32).tiny, 1.0, k)))
        out = parts[int(np.argmax(logits))]
    mean, log_scale = out[:dim], np.clip(out[dim:], *card["log_scale_range"])
    if card["paired"]:  # one scale for an FFT bin's real and imaginary parts
        log_scale = np.concatenate([log_scale, log_scale])
    if not temperature:
        return mean
    shocks = rng.standard_normal(dim)
    if carry is not None:
        shocks = carry(shocks)
    return (mean + temperature * noise * np.exp(log_scale) * shocks).astype(np.float32)


class NoiseMemory:
    """player.npz's `memory` (a code's --noise-memory): each block's normal draw carries its entry of the last
    block's and the rest of a fresh one, so each value's spread stays 1."""

    def __init__(self, memory: np.ndarray):
        self.memory, self.last = memory, None

    def __call__(self, fresh: np.ndarray) -> np.ndarray:
        if self.last is not None:
            fresh = self.memory * self.last + np.sqrt(1.0 - np.square(self.memory)) * fresh
        self.last = fresh
        return fresh


def block_values(block: np.ndarray, arrays: dict) -> np.ndarray:
    """A normalised block -> the values of its representation (a code decoded to the frames' bands)."""
    values = block * arrays["std"] + arrays["mean"]
    if "code_basis" in arrays:
        values = values @ arrays["code_basis"] + arrays["code_mean"]
        if "code_low" in arrays:
            values = np.clip(values, arrays["code_low"], arrays["code_high"])
    return values


class GriffinLim:
    """Magnitudes of frames in, samples out: fast Griffin-Lim over a sliding run of frames, the frames already
    played kept fixed and `lookahead` more guessed again next time, so the phase carries on without a seam."""

    def __init__(self, decoder: dict, window: np.ndarray, rng: np.random.Generator):
        self.frame, self.hop, self.window, self.rng = decoder["frame"], decoder["hop"], window, rng
        self.commit, self.lookahead = decoder["commit"], decoder["lookahead"]
        self.iterations, self.momentum = decoder["iterations"], decoder["momentum"]
        bins = self.frame // 2 + 1
        self.fixed = np.zeros((-(-self.frame // self.hop) - 1, bins), np.complex64)  # silence before the song
        self.magnitude = np.zeros((0, bins), np.float32)
        self.spectrum = np.zeros((0, bins), np.complex64)
        self.norm = np.square(window).sum() / self.hop

    def push(self, magnitude: np.ndarray) -> np.ndarray:
        """Add the next frames' magnitudes; return the samples now complete."""
        phase = np.exp(2j * np.pi * self.rng.random(magnitude.shape))
        self.magnitude = np.concatenate([self.magnitude, magnitude.astype(np.float32)])
        self.spectrum = np.concatenate([self.spectrum, (magnitude * phase).astype(np.complex64)])
        out = [np.zeros(0, np.float32)]
        while len(self.magnitude) >= self.commit + self.lookahead:
            out.append(self._run(self.commit))
        return np.concatenate(out)

    def flush(self) -> np.ndarray:
        """Every frame still held, played."""
        return self._run(len(self.magnitude), tail=True)

    def _synthesise(self, spectra: np.ndarray) -> np.ndarray:
        frames = scipy.fft.irfft(spectra, n=self.frame, axis=-1) * self.window
        out = np.zeros((len(frames) - 1) * self.hop + self.frame, np.float32)
        for k, frame in enumerate(frames):
            out[k * self.hop:k * self.hop + self.frame] += frame
        return out / self.norm

    def _run(self, commit: int, tail: bool = False) -> np.ndarray:
        fixed, spectrum, previous = len(self.fixed), self.spectrum, 0.0
        step = self.momentum / (1.0 + self.momentum)
        for _ in range(self.iterations if len(spectrum) else 0):
            signal = self._synthesise(np.concatenate([self.fixed, spectrum]))
            windows = np.lib.stride_tricks.sliding_window_view(signal, self.frame)[::self.hop][fixed:]
            rebuilt = scipy.fft.rfft(windows * self.window, axis=-1)
            target, previous = rebuilt - step * previous, rebuilt
            spectrum = target * (self.magnitude / np.maximum(np.abs(target), 1e-30))
        signal = self._synthesise(np.concatenate([self.fixed, spectrum]))
        played = signal[fixed * self.hop:len(signal) if tail else (fixed + commit) * self.hop]
        self.fixed = np.concatenate([self.fixed, spectrum[:commit]])[-fixed:].astype(np.complex64)
        self.magnitude, self.spectrum = self.magnitude[commit:], spectrum[commit:].astype(np.complex64)
        return played


class Decoder:
    """A run of blocks' values in, the samples they complete out (player.json's "decoder")."""

    def __init__(self, export: Export, rng: np.random.Generator):
        self.settings, self.arrays, self.rng = export.decoder, export.arrays, rng
        self.window = self.arrays.get("window")
        overlapping = self.settings["kind"] == "magnitudes" and self.window is not None
        self.phase = GriffinLim(self.settings, self.window, rng) if overlapping else None
        self.tail = np.zeros(self.settings["frame"] - self.settings["hop"], np.float32)

    def push(self, values: np.ndarray) -> np.ndarray:
        """The samples that the (blocks, values) `values` complete."""
        floor = self.settings["log_floor"]
        if self.settings["kind"] == "fft":
            half = values.shape[-1] // 2
            values = np.where(np.isfinite(values), values, 0.0)
            return self._overlap_add(np.fft.ifft(values[:, :half] + 1j * values[:, half:], axis=-1).real)
        values = np.where(np.isfinite(values), values, np.log(floor))
        frames = values.reshape(len(values) * self.settings["frames_per_step"], -1)
        magnitude = np.maximum(np.exp(frames) - floor, 0.0)
        if "to_bins" in self.arrays:
            magnitude = magnitude @ self.arrays["to_bins"]
        if "detail_weights" in self.arrays:  # a learnt shape within each band, from the block's log bands
            weights, low, high, filters = (self.arrays[f"detail_{name}"] for name in ("weights", "low", "high",
                                                                                       "filters"))
            shaped = magnitude * np.exp(np.clip(frames @ weights[:-1] + weights[-1], low, high))
            # each band brought back to its own level (its bins' RMS), which the shape alone does not keep
            level = np.maximum(np.exp(frames) - floor, 0.0) / np.maximum(np.sqrt(np.square(shaped) @ filters.T), 1e-12)
            magnitude = shaped * np.maximum(level @ self.arrays["to_bins"], 1e-12)
        if self.phase is not None:
            return self.phase.push(magnitude)
        phase = np.exp(2j * np.pi * self.rng.random(magnitude.shape))  # hard-edged blocks: nothing to constrain it
        return scipy.fft.irfft(magnitude * phase, n=self.settings["frame"], axis=-1).reshape(-1)

    def flush(self) -> np.ndarray:
        """The song's last samples."""
        if self.phase is not None:
            return self.phase.flush()
        tail, self.tail = self.tail, self.tail[:0]
        return tail

    def _overlap_add(self, blocks: np.ndarray) -> np.ndarray:
        if self.window is None:
            return blocks.reshape(-1)
        hop, size = self.settings["hop"], self.settings["frame"]
        out = np.zeros(len(blocks) * hop + len(self.tail), np.float32)
        out[:len(self.tail)] += self.tail
        for k, block in enumerate(blocks * self.window):
            out[k * hop:k * hop + size] += block
        self.tail = out[len(blocks) * hop:].copy()
        return out[:len(blocks) * hop]


def play(export: Export, seconds: float, *, seed: int, temperature: float | None, rng: np.random.Generator,
         run: int = 8):
    """`seconds` of song after the seed clip `seed` (or the music's mean block, where the export has no seeds), a
    run of samples at a time, so that memory stays flat however long the song."""
    card, arrays = export.card, export.arrays
    temperature = card["temperature"] if temperature is None else temperature
    rate, per_step = card["block"]["sample_rate"], export.decoder["hop"] * export.decoder["frames_per_step"]
    steps = max(1, int(np.ceil(seconds * rate / per_step)))
    state = np.zeros((1, card["state_values"]), np.float32)
    seeds = arrays.get("seeds")
    if seeds is not None and not 0 <= seed < len(seeds):
        raise ValueError(f"--seed {seed}: the export holds {len(seeds)} seed clips (0..{len(seeds) - 1})")
    for block in (seeds[seed] if seeds is not None else np.zeros((1, card["block_values"]), np.float32)):
        out, state = export.step(block.astype(np.float32), state, export.prenet_mask(rng))
    decoder, blocks = Decoder(export, rng), []
    skip, left = export.decoder["lead"], int(round(seconds * rate))  # the first frames' lead is not the song's

    def trimmed(samples):
        nonlocal skip, left
        drop = min(skip, len(samples))
        skip -= drop
        samples = samples[drop:drop + left]
        left -= len(samples)
        return samples

    carry = NoiseMemory(arrays["memory"]) if "memory" in arrays else None
    for k in range(steps):
        block = draw(out, card, temperature, rng, arrays.get("noise", 1.0), carry)
        if "low" in arrays:
            block = np.clip(block, arrays["low"], arrays["high"])
        blocks.append(block_values(block, arrays))
        if len(blocks) == run or k == steps - 1:
            yield trimmed(decoder.push(np.stack(blocks)))
            blocks = []
        out, state = export.step(block.astype(np.float32), state, export.prenet_mask(rng))
    yield trimmed(decoder.flush())


def turned_down(samples: np.ndarray, rate: int, ceiling: float = 0.98) -> np.ndarray:
    """`samples` with the gain slid down (5 ms either side) around any sample past `ceiling`, instead of clipping
    it into a click; unchanged where none is. As generate.py writes its songs."""
    peak = np.abs(samples)
    if not len(samples) or peak.max() <= ceiling:
        return samples
    width = 2 * max(1, rate // 200) + 1
    lowest = minimum_filter1d(np.minimum(1.0, ceiling / np.maximum(peak, 1e-30)), size=width, mode="nearest")
    return np.clip(samples * uniform_filter1d(lowest, size=width, mode="nearest"), -ceiling, ceiling)


def write_wav(path: Path, pieces, rate: int) -> int:
    """Float samples, a piece at a time, as a 16-bit mono WAV at `path` (written under a private name first; an
    existing file is never replaced); the number of samples written."""
    part = path.with_name(f".{path.name}.part-{os.getpid()}")
    written = 0
    try:
        with wave.open(str(part), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(rate)
            for samples in pieces:
                samples = turned_down(np.nan_to_num(samples), rate)
                out.writeframes((np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes())
                written += len(samples)
        os.link(part, path)  # fails if `path` appeared meanwhile: nothing is overwritten
    finally:
        part.unlink(missing_ok=True)
    return written


def _stop(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Make a song from a network exported by export.py --format onnx "
                                     "(numpy, scipy and onnxruntime; no TensorFlow).")
    parser.add_argument("folder", type=Path, help="the folder export.py wrote")
    parser.add_argument("--seconds", type=float, default=30.0, help="song length after the seed (default: 30)")
    parser.add_argument("--output", type=Path, required=True, help="the WAV to write (must not exist)")
    parser.add_argument("--seed", type=int, default=0, help="which of the export's seed clips to start from")
    parser.add_argument("--temperature", type=float, default=None,
                        help="scale of the sampled spread (default: the network's own, player.json's)")
    parser.add_argument("--random-seed", type=int, default=None, help="make the song reproducible")
    args = parser.parse_args(argv)
    if not 0 < args.seconds <= 24 * 3600 or (args.temperature is not None and not 0 <= args.temperature <= 100):
        parser.error("--seconds must be above 0 (at most a day) and --temperature within 0..100")
    if os.path.lexists(args.output):
        parser.error(f"'{args.output}' exists: nothing is overwritten; pass another --output")
    signal.signal(signal.SIGTERM, _stop)  # as Ctrl-C: the part written so far is removed
    try:
        export = Export(args.folder)
        rate = export.card["block"]["sample_rate"]
        pieces = play(export, args.seconds, seed=args.seed, temperature=args.temperature,
                      rng=np.random.default_rng(args.random_seed))
        written = write_wav(args.output, pieces, rate)
    except KeyError as exc:
        print(f"{parser.prog}: error: '{args.folder}' lacks {exc} (not an export of this version?)", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted; nothing was written", file=sys.stderr)
        return 130
    print(f"wrote {args.output} ({written / rate:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What a network could at best say: audio files sent through its representation and decoder
(generate.py --resynthesize), with how far each comes back from the music.

No network runs: each file is cut into the network's blocks, turned into the values it learns
(GRUV's FFT values, log magnitudes or mel bands) and rebuilt as a song's values are (phase and all).
Nothing is lent from the file itself; `--detail nearest` lends from `--data`, which should then hold
other music, or the figure measures a lookup rather than the decoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from musicgen.atomic import check_writable, raise_if_disk_full, temp_path
from musicgen.audio.blocks import blocks_to_features, frame
from musicgen.audio.frame_code import FrameCode
from musicgen.audio.frames import block_frame_values
from musicgen.audio.io import read_audio, write_wav
from musicgen.audio.representation import from_fft_features, to_signal
from musicgen.config import BlockSpec, GenerateConfig
from musicgen.errors import AudioDecodeError
from musicgen.evaluate.fidelity import Fidelity, fidelity
from musicgen.formats.songs import RESYNTH_SUFFIX, claim_resynthesis
from musicgen.generate.generation import detail_for
from musicgen.memory import require_memory
from musicgen.formats.weights import read_checkpoint

BLOCKS_PER_PASS = 256  # blocks turned into values at once: GRUV's 22050 floats each stay ~20 MB


@dataclass
class Resynthesis:
    """One file's round trip and how close it came back."""

    source: Path
    path: Path
    seconds: float
    fidelity: Fidelity

    def as_dict(self) -> dict:
        """JSON-ready: the file, its round trip, its length and how far the round trip is from it."""
        return {"source": str(self.source), "path": str(self.path), "seconds": self.seconds,
                "fidelity": self.fidelity.as_dict()}


def round_trip(samples: np.ndarray, block: BlockSpec, rng: np.random.Generator,
               lend: Callable[[np.ndarray], np.ndarray] | None = None, code: FrameCode | None = None) -> np.ndarray:
    """Float `samples` at `block`'s rate -> the same music as `block`'s representation and decoder give it
    back: through its `code`, where it has one; `lend` maps the (decoded) values to to_signal's detail offsets
    (band_detail), if any."""
    n_blocks = max(1, -(-(len(samples) - block.block_size) // block.hop) + 1)
    if block.representation == "frames":
        values = block_frame_values(samples, 0, n_blocks, block)
        if code is not None:
            values = code.decode(code.encode(values))
        return to_signal(values, block, rng=rng, detail=None if lend is None else lend(values))[:len(samples)]
    values = np.concatenate([
        from_fft_features(blocks_to_features(frame(samples[start * block.hop:], min(BLOCKS_PER_PASS, n_blocks - start),
                                                   block)), block)
        for start in range(0, n_blocks, BLOCKS_PER_PASS)])
    return to_signal(values, block, rng=rng, detail=None if lend is None else lend(values))[:len(samples)]


def resynthesize(weights: Path, files: list[Path], cfg: GenerateConfig) -> list[Resynthesis]:
    """Write each of `files` as the network in `weights` would at best give it back, into cfg.out_dir."""
    ckpt = read_checkpoint(weights)
    block = ckpt.model.block
    check_writable(cfg.out_dir)
    detail = detail_for(ckpt, weights, cfg)
    lend = None if detail is None else detail.lend
    rng = np.random.default_rng(None if cfg.random_seed is None else [cfg.random_seed, 2])
    done = []
    for source in files:
        source = Path(source)
        if not source.is_file():
            raise AudioDecodeError(f"--resynthesize file '{source}' does not exist")
        samples, _ = read_audio(source, block.sample_rate, resample=True)
        # The file's blocks as GRUV's features, a pass at a time, plus the rebuilt signal.
        require_memory(4 * (BLOCKS_PER_PASS * 2 * block.block_size + 4 * len(samples)),
                       f"resynthesizing '{source.name}'", "cut the file shorter")
        rebuilt = round_trip(samples, block, rng, lend, ckpt.code)
        part = temp_path(cfg.out_dir / (source.stem + RESYNTH_SUFFIX))
        try:
            write_wav(part, rebuilt, block.sample_rate)
            path = claim_resynthesis(cfg.out_dir, source.stem, part)
        except OSError as exc:
            raise_if_disk_full(exc, cfg.out_dir, "no file was written for it")
            raise
        finally:
            part.unlink(missing_ok=True)
        done.append(Resynthesis(source=source, path=path, seconds=len(rebuilt) / block.sample_rate,
                                fidelity=fidelity(samples, rebuilt)))
    return done

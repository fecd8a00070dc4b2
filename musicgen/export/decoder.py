"""What a player needs to turn a network's values into sound, written down as plain settings and arrays: the
same decoder generate.py --stream runs (audio/streaming.py), for any block format a network is trained on."""

from __future__ import annotations

import numpy as np

from musicgen.audio.blocks import block_window
from musicgen.audio.frame_code import FrameCode
from musicgen.audio.frames import GRIFFIN_LIM_ITERATIONS as FRAME_ITERATIONS
from musicgen.audio.frames import GRIFFIN_LIM_MOMENTUM as FRAME_MOMENTUM
from musicgen.audio.frames import band_inverse, frame_spec, hann
from musicgen.audio.representation import GRIFFIN_LIM_ITERATIONS, GRIFFIN_LIM_MOMENTUM
from musicgen.audio.spectra import LOG_FLOOR, mel_inverse
from musicgen.audio.streaming import COMMIT_FRAMES, LOOKAHEAD_FRAMES
from musicgen.config import BlockSpec
from musicgen.formats.export import Decoder


def decoder_for(block: BlockSpec, code: FrameCode | None) -> tuple[Decoder, dict[str, np.ndarray]]:
    """The decoder of `block`'s values (a "frames" block's through its `code`) and the arrays it reads:
    to_bins (bands -> bins), window (of overlapping frames), code_mean/code_basis/code_low/code_high."""
    arrays: dict[str, np.ndarray] = {}
    if block.representation == "fft":
        decoder = Decoder(kind="fft", frame=block.block_size, hop=block.hop, log_floor=LOG_FLOOR)
    elif block.representation == "frames":
        spec = frame_spec(block)
        decoder = Decoder(kind="magnitudes", frame=spec.frame, hop=spec.hop, frames_per_step=block.frames_per_block,
                          lead=spec.frame - spec.hop, log_floor=LOG_FLOOR, iterations=FRAME_ITERATIONS,
                          momentum=FRAME_MOMENTUM, commit=COMMIT_FRAMES["frames"],
                          lookahead=LOOKAHEAD_FRAMES["frames"])
        arrays.update(to_bins=band_inverse(spec), window=hann(spec.frame))
        if code is not None:
            arrays.update(code_mean=code.mean, code_basis=code.basis)
            if code.low is not None:
                arrays.update(code_low=code.low, code_high=code.high)
    else:
        decoder = Decoder(kind="magnitudes", frame=block.block_size, hop=block.hop, log_floor=LOG_FLOOR,
                          iterations=GRIFFIN_LIM_ITERATIONS, momentum=GRIFFIN_LIM_MOMENTUM,
                          commit=COMMIT_FRAMES["blocks"], lookahead=LOOKAHEAD_FRAMES["blocks"])
        if block.representation == "logmel":
            arrays["to_bins"] = mel_inverse(block)
    window = block_window(block) if block.representation != "frames" else None
    if window is not None:
        arrays["window"] = window
    return decoder, arrays

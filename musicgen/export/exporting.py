"""export.py's one job: a weight file's network as one step in a portable format, with everything a player
outside the toolkit needs beside it, written into a folder that appears whole or not at all."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from musicgen.atomic import check_writable, raise_if_disk_full, temp_path
from musicgen.audio.spectra import mel_filterbank
from musicgen.config import EXPORT_DETAILS, ExportConfig
from musicgen.data.training_data import TrainingData
from musicgen.errors import OutputError
from musicgen.export.decoder import decoder_for
from musicgen.export.network_files import load_step, write_network
from musicgen.formats.export import ExportInfo, read_export_info, write_export_info
from musicgen.formats.weights import Checkpoint, load_weights, read_checkpoint
from musicgen.generate.generation import data_prefix, detail_applies, make_detail, matching_data, normalised_seeds
from musicgen.models.model import build_model
from musicgen.models.outputs import LOG_SCALE_MAX, LOG_SCALE_MIN, layout, memory_factors, noise_factors
from musicgen.models.single_step import SingleStep

# The written step is run this many steps beside the network it came from before the folder is kept.
CHECK_STEPS = 20
# Largest difference allowed between them, relative to the outputs' size: float32 runtimes differ by ~1e-6.
CHECK_TOLERANCE = 1e-3


@dataclass
class Exported:
    """An export folder, its record and how far its step is from the network's over CHECK_STEPS steps."""

    folder: Path
    info: ExportInfo
    difference: float


def default_output(weights: Path, export_format: str) -> Path:
    """exports/NAME-FORMAT, NAME the weight file's name without .weights.h5."""
    return Path("exports") / f"{Path(weights).name.removesuffix('.weights.h5')}-{export_format}"


def export(weights: Path, cfg: ExportConfig) -> Exported:
    """Write the network in `weights` into cfg.output as cfg.export_format says, with player.json and player.npz."""
    folder = cfg.output or default_output(weights, cfg.export_format)
    _check_free(folder)
    ckpt = read_checkpoint(weights)
    # Before the long work: a --data that does not fit must not cost it. Read once for the seeds and the detail.
    learned = export_detail(ckpt, cfg) == "learned" and detail_applies("learned", ckpt.model.block)
    data = matching_data(ckpt, weights, data_prefix(ckpt, cfg)) if cfg.seeds or learned else None
    seeds = export_seeds(ckpt, data, cfg.seeds) if cfg.seeds else None
    model = build_model(ckpt.model)
    load_weights(model, ckpt.weights, digest=ckpt.digest)
    step = SingleStep(model)
    info, arrays = _record(ckpt, weights, step, cfg.export_format, seeds)
    if learned:
        arrays.update(_detail_arrays(ckpt, data, data_prefix(ckpt, cfg)))
    part = temp_path(folder)
    try:
        part.mkdir()
        write_network(step, model, cfg.export_format, part)
        write_export_info(part, info, arrays)
        difference = step_difference(part, step)
        if difference > CHECK_TOLERANCE:
            raise OutputError(f"the exported step differs from the network by {difference:.1e} (more than "
                              f"{CHECK_TOLERANCE:g}): not kept")
        try:
            os.rename(part, folder)  # onto nothing, or an empty folder; never onto one that holds anything
        except OSError:
            if os.path.isdir(folder) and any(Path(folder).iterdir()):
                raise OutputError(f"'{folder}' was filled while exporting: nothing is overwritten") from None
            raise
    except OSError as exc:
        raise_if_disk_full(exc, folder.parent, "nothing was exported")
        raise
    finally:
        if part.exists():
            shutil.rmtree(part, ignore_errors=True)
    return Exported(folder, read_export_info(folder)[0], difference)


def _check_free(folder: Path) -> None:
    """OutputError unless `folder` can be written as a new folder: absent, or an empty folder."""
    folder = Path(folder)
    if os.path.lexists(folder) and (folder.is_symlink() or not folder.is_dir()):
        raise OutputError(f"'{folder}' is in the way (not a folder): nothing is overwritten; pass another --output")
    if folder.is_dir() and any(folder.iterdir()):
        raise OutputError(f"'{folder}' already holds files: nothing is overwritten; pass another --output")
    check_writable(folder.parent)


def export_seeds(ckpt: Checkpoint, data: TrainingData, count: int) -> np.ndarray:
    """`count` clips of `data` spread evenly over it, normalised as `ckpt`'s network reads them."""
    rows = np.unique(np.linspace(0, data.clips - 1, min(count, data.clips)).round().astype(int))
    return normalised_seeds(data.inputs(rows, ckpt.model.block, ckpt.code), ckpt)


def export_detail(ckpt: Checkpoint, cfg: ExportConfig) -> str:
    """--detail, or else the network's own where a player can follow it (smooth where it cannot: nearest)."""
    if cfg.detail is not None:
        return cfg.detail
    return ckpt.detail if ckpt.detail in EXPORT_DETAILS else "smooth"


def _detail_arrays(ckpt: Checkpoint, data: TrainingData, prefix: Path) -> dict[str, np.ndarray]:
    """generate.py --detail learned's map, fitted on `data` (a frames network's: on the audio of the dataset at
    `prefix`) and scaled to the network's --detail-contrast, as a player applies it to each block or fine frame."""
    detail = make_detail("learned", ckpt, data, prefix)
    return {"detail_weights": detail.weights, "detail_low": detail.low, "detail_high": detail.high,
            "detail_filters": mel_filterbank(detail.block)}


def _record(ckpt: Checkpoint, weights: Path, step: SingleStep, export_format: str,
            seeds: np.ndarray | None) -> tuple[ExportInfo, dict[str, np.ndarray]]:
    model = ckpt.model
    lay = layout(model)
    decoder, arrays = decoder_for(model.block, ckpt.code)
    values = step.block_values
    arrays.update(mean=np.broadcast_to(ckpt.mean, (values,)), std=np.broadcast_to(ckpt.std, (values,)))
    bound = ckpt.bound
    if bound is not None:
        arrays["low"], arrays["high"] = (np.broadcast_to(v, (values,)) for v in ckpt.value_bounds(bound))
    noise, memory = noise_factors(model, ckpt.tail_noise), memory_factors(model, ckpt.noise_memory)
    if np.ndim(noise):
        arrays["noise"] = noise
    if np.ndim(memory):
        arrays["memory"] = memory
    if seeds is not None:
        arrays["seeds"] = seeds
    info = ExportInfo(
        network_format=export_format, cell=model.cell, units=tuple(units for _, units, _ in step.layers),
        block_values=values, state_values=step.state_values, prenet_units=step.prenet_units,
        distribution_values=step.distribution_values, prenet_dropout=step.parts.prenet_rate, output=lay.kind,
        components=lay.components, paired=lay.paired, log_scale_range=(LOG_SCALE_MIN, LOG_SCALE_MAX),
        temperature=ckpt.temperature, bound=bound, normalisation=ckpt.normalisation, block=model.block,
        decoder=decoder, seeds=0 if seeds is None else len(seeds), seed_blocks=0 if seeds is None else seeds.shape[1],
        weights=Path(weights).name, digest=ckpt.digest, iteration=ckpt.iteration)
    return info, arrays


def step_difference(folder: Path, step: SingleStep, steps: int = CHECK_STEPS, seed: int = 0) -> float:
    """The largest difference between the step written in `folder` and `step` itself, fed the same random
    blocks and pre-net masks and each its own state for `steps` steps, relative to the outputs' size."""
    info, _ = read_export_info(folder)
    exported = load_step(Path(folder) / info.network_file, info.network_format)
    network = step.function()
    rng = np.random.default_rng(seed)
    state = ours = np.zeros((1, step.state_values), np.float32)
    worst = 0.0
    for _ in range(steps):
        block = rng.standard_normal((1, step.block_values), dtype=np.float32)
        mask = _prenet_mask(rng, step.prenet_units, info.prenet_dropout)
        distribution, state = exported(block, state, mask)
        expected = network(block, ours, mask)
        ours = expected["next_state"].numpy()
        for got, want in ((distribution, expected["distribution"].numpy()), (state, ours)):
            worst = max(worst, float(np.abs(got - want).max() / max(1.0, np.abs(want).max())))
    return worst


def _prenet_mask(rng: np.random.Generator, units: int, rate: float) -> np.ndarray:
    if not rate:
        return np.ones((1, units), np.float32)
    return ((rng.random((1, units)) >= rate) / (1.0 - rate)).astype(np.float32)

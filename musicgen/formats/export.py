"""An exported network's folder (export.py): the step network (step.onnx, saved_model/ or step.tflite),
player.json (an ExportInfo: what a player needs to know) and player.npz (the arrays it needs).

A player outside the toolkit reads these with json and numpy alone (examples/onnx_player.py);
docs/EXPORT.md says what each key and array means.
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from musicgen import schema
from musicgen.config import EXPORT_FORMATS, BlockSpec
from musicgen.errors import WeightsError
from musicgen.schema import SchemaError

FORMAT = "lstm-music-generation-export/1"
CARD = "player.json"
ARRAYS = "player.npz"
NETWORK_FILES = {"onnx": "step.onnx", "savedmodel": "saved_model", "tflite": "step.tflite"}
# Arrays player.npz may hold; "mean" and "std" it always does.
ARRAY_NAMES = ("mean", "std", "low", "high", "noise", "memory", "code_mean", "code_basis", "code_low", "code_high",
               "to_bins", "window", "detail_weights", "detail_low", "detail_high", "detail_filters", "seeds")


@dataclass(frozen=True)
class Decoder:
    """How the played values become sound: "fft" blocks inverted as they are, or "magnitudes" of frames of `frame`
    samples every `hop` whose phase fast Griffin-Lim finds (`iterations` rounds at `momentum`, `commit` frames
    played a run with `lookahead` more guessed again); `frames_per_step` frames a network step, the first `lead`
    samples of the song dropped."""

    kind: str
    frame: int
    hop: int
    frames_per_step: int = 1
    lead: int = 0
    log_floor: float = 1e-3
    iterations: int = 16
    momentum: float = 0.99
    commit: int = 8
    lookahead: int = 4


@dataclass(frozen=True)
class ExportInfo:
    """player.json: the step network's file and shapes, how its output is drawn, and the decoder."""

    network_format: str  # one of EXPORT_FORMATS
    cell: str
    units: tuple[int, ...]  # hidden units of each recurrent layer
    block_values: int  # the step's input "block" and each value the output describes
    state_values: int  # the step's "state" and "next_state"
    prenet_units: int  # the step's "prenet_mask"
    distribution_values: int  # the step's "distribution"
    prenet_dropout: float
    output: str  # "mse", "gaussian" or "mixture" (models.outputs.Layout)
    components: int
    paired: bool
    log_scale_range: tuple[float, float]
    temperature: float
    bound: float | None
    normalisation: str
    block: BlockSpec
    decoder: Decoder
    seeds: int  # seed clips in player.npz, each `seed_blocks` blocks
    seed_blocks: int
    weights: str  # the weight file it was exported from, its digest and iteration
    digest: str | None = None
    iteration: int = 0
    arrays: tuple[str, ...] = field(default=("mean", "std"))

    @property
    def network_file(self) -> str:
        """The step network's file (or folder) name in the export folder."""
        return NETWORK_FILES[self.network_format]

    def to_doc(self) -> dict:
        """player.json's JSON."""
        doc = {"format": FORMAT, "network_file": self.network_file,
               **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}}
        doc.update(block=self.block.to_doc(),
                   decoder=dataclasses.asdict(self.decoder), units=list(self.units),
                   log_scale_range=list(self.log_scale_range), arrays=list(self.arrays))
        return doc


def write_export_info(folder: Path, info: ExportInfo, arrays: dict[str, np.ndarray]) -> None:
    """Write player.json and player.npz into `folder` (a private folder the exporter renames into place)."""
    unknown = set(arrays) - set(ARRAY_NAMES)
    if unknown:
        raise ValueError(f"arrays a player does not know: {sorted(unknown)}")
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(value, dtype=np.float32) for name, value in arrays.items()})
    (folder / ARRAYS).write_bytes(buffer.getvalue())
    info = dataclasses.replace(info, arrays=tuple(name for name in ARRAY_NAMES if name in arrays))
    (folder / CARD).write_text(schema.json_text(info.to_doc()) + "\n")


def read_export_info(folder: Path) -> tuple[ExportInfo, dict[str, np.ndarray]]:
    """An export folder's record and arrays; WeightsError in one line for one that is not readable."""
    try:
        doc = schema.load_json_object(Path(folder) / CARD)
        if doc.get("format") != FORMAT:
            raise SchemaError(f"'format' is not {FORMAT}")
        decoder = schema.get_object(doc, "decoder")
        info = ExportInfo(
            network_format=schema.get_choice(doc, "network_format", EXPORT_FORMATS),
            cell=schema.get_str(doc, "cell"),
            units=tuple(int(u) for u in schema.numbers(schema.get_list(doc, "units"), "units")),
            **{key: schema.get_int(doc, key, 1, 2**31) for key in
               ("block_values", "state_values", "prenet_units", "distribution_values", "components")},
            prenet_dropout=schema.get_float(doc, "prenet_dropout", 0.0, 1.0),
            output=schema.get_choice(doc, "output", ("mse", "gaussian", "mixture")),
            paired=schema.get_bool(doc, "paired"),
            log_scale_range=tuple(schema.numbers(schema.get_list(doc, "log_scale_range"), "log_scale_range", length=2)),
            temperature=schema.get_float(doc, "temperature", 0.0, 1e3),
            bound=None if doc.get("bound") is None else schema.get_float(doc, "bound", 0.0, 1e3),
            normalisation=schema.get_str(doc, "normalisation"),
            block=schema.get_block(schema.get_object(doc, "block")),
            decoder=Decoder(kind=schema.get_choice(decoder, "kind", ("fft", "magnitudes")),
                            **{key: schema.get_int(decoder, key, 0, 2**31) for key in
                               ("frame", "hop", "frames_per_step", "lead", "iterations", "commit", "lookahead")},
                            log_floor=schema.get_float(decoder, "log_floor", 0.0, 1.0),
                            momentum=schema.get_float(decoder, "momentum", 0.0, 1.0)),
            seeds=schema.get_int(doc, "seeds", 0, 2**31),
            seed_blocks=schema.get_int(doc, "seed_blocks", 0, 2**31),
            weights=schema.get_str(doc, "weights"),
            digest=schema.get_str(doc, "digest", None, optional=True),
            iteration=schema.get_int(doc, "iteration", 0, 2**62),
            arrays=tuple(schema.get_list(doc, "arrays")),
        )
        if not set(info.arrays) <= set(ARRAY_NAMES) or not {"mean", "std"} <= set(info.arrays):
            raise SchemaError(f"'arrays' must name mean, std and only these: {', '.join(ARRAY_NAMES)}")
        with np.load(Path(folder) / ARRAYS) as npz:
            arrays = {name: npz[name] for name in info.arrays}
    except (SchemaError, OSError, KeyError, ValueError) as exc:
        raise WeightsError(f"'{folder}' is not a readable export: {exc}") from None
    return info, arrays

"""A short song after every checkpoint, to pick a checkpoint by ear (training --preview-seconds).

Every preview of a run starts from the same training clip with the same random draws and is heard through the
run's --detail, so two checkpoints' previews differ only by what the network learned in between. Each is judged
by the "still music" tests of evaluate.py's timeline against PREFIX_xmerged.wav, what the
network was trained on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from musicgen.audio.io import write_wav
from musicgen.data.training_data import TrainingData
from musicgen.formats.weights import PREVIEW_SUFFIX, Checkpoint, companion

PREVIEW_CLIP = 0  # the training clip every preview starts from
PREVIEW_RANDOM_SEED = 0


class Previewer:
    """Writes `..._Iter-N.preview.wav` beside a weight file and returns what the sidecar records of it."""

    def __init__(self, data: TrainingData, prefix: Path, seconds: float):
        from musicgen.evaluate.report import training_reference

        self.data, self.prefix, self.seconds = data, prefix, seconds
        self.reference = training_reference(prefix)
        self.detail, self.detail_fitted = None, False  # the run's --detail, fitted once, at the first preview

    def __call__(self, ckpt: Checkpoint) -> dict:
        """Generate, write and judge the preview of the checkpoint just saved (ckpt.weights)."""
        from musicgen.evaluate.measures import measure_window
        from musicgen.generate.generation import (Draws, fastest_engine, features_to_audio, make_detail,
                                                  normalised_seeds, song_features, stateful_model)

        model = ckpt.model
        rng = np.random.default_rng(PREVIEW_RANDOM_SEED)
        seeds = normalised_seeds(self.data.inputs([PREVIEW_CLIP], model.block, ckpt.code), ckpt)
        blocks = max(1, model.block.blocks_in(self.seconds))
        network = fastest_engine(stateful_model(ckpt, 1), rng)
        out = song_features(network, ckpt, seeds, seeds.shape[1] + blocks, rng=rng, echo=False, draws=Draws.of(ckpt))
        if not self.detail_fitted:
            self.detail, self.detail_fitted = make_detail(ckpt.detail, ckpt, self.data, self.prefix), True
        audio = features_to_audio(out[0], ckpt, rng, self.detail)
        path = companion(ckpt.weights, PREVIEW_SUFFIX)
        rate = model.block.sample_rate
        write_wav(path, audio, rate)
        seconds = len(audio) / rate
        record = {"file": path.name, "seconds": seconds, "seed_clip": PREVIEW_CLIP}
        if self.reference is not None:
            window = measure_window(audio, rate, 0.0, seconds, self.reference, block_size=model.block.hop)
            record.update(music=window.alive, failed=window.failed,
                          measures=window.as_dict())
        return record

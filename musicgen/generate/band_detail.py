"""Detail within mel bands for a "logmel" network's songs, lent by the training music (generate.py --detail nearest)
or learnt from it (--detail learned, for a "frames" network's fine frames too).

Spread linearly over its bins, a band's level fills the gaps between an organ's partials: the
music itself, sent through 64 bands and back, measures 11-19x its own spectral flatness, over
evaluate.py's 10x line, so no 64-band network could pass on organ chorales whatever it learnt.
The training blocks keep what the bands lose. Each block of a song takes the per-bin deviation
(from its own bands spread back) of the training block whose bands are nearest the song's, and
keeps following that block's successors while they stay near, so a held chord keeps its partials
instead of trading them every block. The bands, so the music's course, stay the network's.

The learnt detail lends nothing: a linear map from a block's bands to each bin's deviation from those bands
spread back, fitted by least squares on the training blocks (a decoder learnt from the user's music, in one pass
over it). A piano's partials follow its fundamentals' bands, so the map puts them where they were in the music
of the same bands, and each band is then brought back to its own level; on the music itself, with the map fitted
on the other pieces of its set, the round trip comes 0.2-3.0 dB closer than the linear spread (docs/RESULTS.md).
A "frames" network's fine frames take the same map, from each frame's bands to its bins, fitted on the dataset's
clips as audio: its stored frames keep only their bands.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from musicgen.audio.frames import frame_spec, log_bin_chunks
from musicgen.audio.io import read_audio
from musicgen.audio.representation import band_bins, from_log_magnitudes, log_magnitudes
from musicgen.audio.spectra import LOG_FLOOR, band_rms, from_log, mel_inverse
from musicgen.config import BlockSpec
from musicgen.data.training_data import TrainingData
from musicgen.errors import DatasetError
from musicgen.formats.dataset import merged_audio_path

# The successor of the block lent last is kept while its squared distance to the song's block is
# within this factor of the nearest's: runs of one passage's partials rather than a new one every block.
KEEP_FOLLOWING = 1.5
CLIPS_PER_READ = 8  # an hour's compact clips, 0.9 MB each, are read this many at a time
SONG_BLOCKS_PER_SEARCH = 128  # song blocks against every training block at once: 128 x 29,000 floats


@dataclass
class BandDetail:
    """Every training block's normalised bands, and the data to fetch a chosen block's bins from."""

    bands: np.ndarray  # (clips * blocks_per_clip, bands) float32, normalised as the network's values
    data: TrainingData
    block: BlockSpec
    mean: np.ndarray  # the network's statistics: the search runs on normalised bands, as the network weighs them
    std: np.ndarray

    @property
    def blocks_per_clip(self) -> int:
        return self.data.x.shape[1]

    def nearest_run(self, song: np.ndarray) -> np.ndarray:
        """(T,) training block lent to each of a song's (T, bands) normalised blocks."""
        squared = np.square(self.bands).sum(axis=1)
        picks, last = [], -1
        for start in range(0, len(song), SONG_BLOCKS_PER_SEARCH):
            part = song[start:start + SONG_BLOCKS_PER_SEARCH].astype(np.float32)
            distance = squared[None, :] - 2.0 * part @ self.bands.T + np.square(part).sum(axis=1, keepdims=True)
            for row in distance:
                best = int(row.argmin())
                follow = last + 1
                if last >= 0 and follow % self.blocks_per_clip and row[follow] <= KEEP_FOLLOWING * max(row[best], 1e-6):
                    best = follow
                picks.append(best)
                last = best
        return np.asarray(picks, dtype=np.int64)

    def offsets(self, picks: np.ndarray) -> np.ndarray:
        """(T, bins) log offsets of the training blocks `picks` from their own bands spread back."""
        out = np.empty((len(picks), self.block.bins), dtype=np.float32)
        clips = picks // self.blocks_per_clip
        unique = np.unique(clips)
        for start in range(0, len(unique), CLIPS_PER_READ):
            rows = unique[start:start + CLIPS_PER_READ]
            bins = _log_bins(self.data, rows)
            for k, clip in enumerate(rows):
                where = np.flatnonzero(clips == clip)
                chosen = bins[k, picks[where] % self.blocks_per_clip]
                spread = band_bins(from_log_magnitudes(chosen, self.block), self.block)
                out[where] = np.maximum(chosen, np.log(LOG_FLOOR)) - np.log(spread + LOG_FLOOR)
        return out

    def lend(self, values: np.ndarray) -> np.ndarray:
        """(T, bins) log offsets for a song's (T, bands) log bands: to_signal's `detail`."""
        return self.offsets(self.nearest_run(((np.asarray(values) - self.mean) / self.std).astype(np.float32)))


def _log_bin_chunks(data: TrainingData) -> Iterator[np.ndarray]:
    """The log magnitudes of every block of `data`, CLIPS_PER_READ clips at a time (_log_bins)."""
    for start in range(0, data.clips, CLIPS_PER_READ):
        yield _log_bins(data, np.arange(start, min(start + CLIPS_PER_READ, data.clips)))


def _log_bins(data: TrainingData, rows: np.ndarray) -> np.ndarray:
    """(len(rows), blocks, bins) float32 log magnitudes of every block the clips `rows` hold."""
    values = data.x.read_finite(rows)
    return values.astype(np.float32) if data.store == "logmag" else log_magnitudes(values)


# The least-squares fit is lifted by this share of its inputs' mean square: enough to keep a band that is
# silent throughout the music from an unbounded weight, too little to bias the others.
RIDGE = 1e-3


@dataclass
class LearnedDetail:
    """A linear map from a block's (or fine frame's) log bands and a constant to the log offsets of its bins from
    those bands spread back, (bands + 1, bins) float32; each offset kept within the range the music's showed."""

    weights: np.ndarray
    low: np.ndarray  # (bins,) each bin's lowest and highest offset in the music
    high: np.ndarray
    block: BlockSpec  # the bands and bins it maps: a logmel network's blocks, or a frames network's frames
    contrast: float = 1.0  # how much weights, low and high were scaled from the fit (with_contrast)

    def with_contrast(self, contrast: float) -> LearnedDetail:
        """The same map with its offsets scaled by `contrast` (the scaled clip of the scaled prediction): a
        least-squares fit predicts them shrunk towards their mean; lend brings each band back to its level."""
        if contrast == self.contrast:
            return self
        factor = contrast / self.contrast
        return dataclasses.replace(self, weights=self.weights * factor, low=self.low * factor,
                                   high=self.high * factor, contrast=contrast)

    def lend(self, values: np.ndarray) -> np.ndarray:
        """(N, bins) log offsets for a song's log bands, (T, bands) or (T, frames x bands) for N = T x frames:
        to_signal's `detail`; each band comes out at the level the song gives it."""
        bands = np.asarray(values, dtype=np.float32).reshape(-1, self.block.bands)
        offsets = np.clip(bands @ self.weights[:-1] + self.weights[-1], self.low, self.high)
        # The map predicts a mean of logs, which sits below the log of the mean: unchecked, a quiet song's bands
        # came out up to 4.5 dB quieter than the song's own. Each band is brought to its level (its bins' RMS).
        spread = band_bins(bands, self.block)
        level = from_log(bands) / np.maximum(band_rms(spread * np.exp(offsets), self.block), 1e-12)
        return offsets + np.log(np.maximum(level @ mel_inverse(self.block), 1e-12))


def learned_detail(data: TrainingData, block: BlockSpec) -> LearnedDetail:
    """The map of LearnedDetail for a logmel network's `block`s, fitted on every block of `data` in one pass."""
    return fit_learned_detail(_log_bin_chunks(data), block)


def learned_frame_detail(prefix: Path, block: BlockSpec) -> LearnedDetail:
    """The map of LearnedDetail for a frames network's fine frames, fitted on the dataset's clips as audio
    (PREFIX_xmerged.wav: the stored frames keep only their bands). DatasetError if that file is not there."""
    merged = merged_audio_path(prefix)
    if not merged.is_file():
        raise DatasetError(f"--detail learned fits its map on '{merged}', which is not there; "
                           f"convert the music again (convert_directory.py --store frames)")
    samples, _ = read_audio(merged, block.sample_rate, resample=True)
    spec = frame_spec(block)
    return fit_learned_detail(log_bin_chunks(samples, spec), spec.mel_block())


def fit_learned_detail(chunks: Iterable[np.ndarray], block: BlockSpec) -> LearnedDetail:
    """The map of LearnedDetail fitted on the blocks of every (..., bins) chunk of log magnitudes (the normal
    equations in float64, lifted by RIDGE).

    The map reads log bands, not the network's normalised values: a band nearly constant in the music has a
    tiny spread, and a song's band divided by it would be read far outside anything the map was fitted on."""
    gram = cross = low = high = None
    for chunk in chunks:
        log_bins = np.asarray(chunk, dtype=np.float32).reshape(-1, block.bins)
        bands = from_log_magnitudes(log_bins, block)
        offsets = np.maximum(log_bins, np.log(LOG_FLOOR)) - np.log(band_bins(bands, block) + LOG_FLOOR)
        inputs = np.hstack([bands, np.ones((len(bands), 1), np.float32)]).astype(np.float64)
        if gram is None:
            gram, cross, low, high = 0.0, 0.0, offsets.min(axis=0), offsets.max(axis=0)
        gram, cross = gram + inputs.T @ inputs, cross + inputs.T @ offsets
        low, high = np.minimum(low, offsets.min(axis=0)), np.maximum(high, offsets.max(axis=0))
    if gram is None:
        raise ValueError("no blocks to fit the detail to")
    lift = RIDGE * np.trace(gram) / len(gram)
    weights = np.linalg.solve(gram + lift * np.eye(len(gram)), cross).astype(np.float32)
    return LearnedDetail(weights=weights, low=low.astype(np.float32), high=high.astype(np.float32), block=block)


def band_detail(data: TrainingData, block: BlockSpec, mean: np.ndarray, std: np.ndarray) -> BandDetail:
    """Every block of `data` as `block`'s bands normalised by the network's `mean` and `std`, ready to lend."""
    parts = [((from_log_magnitudes(log_bins, block) - mean) / std).reshape(-1, block.bands).astype(np.float32)
             for log_bins in _log_bin_chunks(data)]
    return BandDetail(bands=np.concatenate(parts), data=data, block=block, mean=np.asarray(mean, dtype=np.float32),
                      std=np.asarray(std, dtype=np.float32))

"""Detail within mel bands for a "logmel" network's songs, lent by the training music (generate.py --detail nearest).

Spread linearly over its bins, a band's level fills the gaps between an organ's partials: the
music itself, sent through 64 bands and back, measures 11-19x its own spectral flatness, over
evaluate.py's 10x line, so no 64-band network could pass on organ chorales whatever it learnt.
The training blocks keep what the bands lose. Each block of a song takes the per-bin deviation
(from its own bands spread back) of the training block whose bands are nearest the song's, and
keeps following that block's successors while they stay near, so a held chord keeps its partials
instead of trading them every block. The bands, so the music's course, stay the network's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from musicgen.audio.representation import band_bins, from_log_magnitudes, log_magnitudes
from musicgen.audio.spectra import LOG_FLOOR
from musicgen.config import BlockSpec
from musicgen.data.training_data import TrainingData

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

    def lend(self, song: np.ndarray) -> np.ndarray:
        """(T, bins) log offsets for a song's (T, bands) normalised blocks: to_signal's `detail`."""
        return self.offsets(self.nearest_run(song))


def _log_bins(data: TrainingData, rows: np.ndarray) -> np.ndarray:
    """(len(rows), blocks, bins) float32 log magnitudes of every block the clips `rows` hold."""
    values = data.x.read_finite(rows)
    return values.astype(np.float32) if data.store == "logmag" else log_magnitudes(values)


def band_detail(data: TrainingData, block: BlockSpec, mean: np.ndarray, std: np.ndarray) -> BandDetail:
    """Every block of `data` as `block`'s bands normalised by the network's `mean` and `std`, ready to lend."""
    parts = []
    for start in range(0, data.clips, CLIPS_PER_READ):
        rows = np.arange(start, min(start + CLIPS_PER_READ, data.clips))
        bands = from_log_magnitudes(_log_bins(data, rows), block)
        parts.append(((bands - mean) / std).reshape(-1, block.bands).astype(np.float32))
    return BandDetail(bands=np.concatenate(parts), data=data, block=block)

"""evaluate.py's work: measure songs against the training music, print a table, draw the comparison."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from musicgen import schema
from musicgen.atomic import check_writable
from musicgen.audio.io import read_audio
from musicgen.config import AUDIO_SUFFIXES, BUNDLED_MUSIC
from musicgen.errors import AudioDecodeError, DatasetError, WeightsError
from musicgen.evaluate.measures import (ANALYSIS_RATE, COPY_DISTANCE_DB, FLATNESS_TOLERANCE, LOOP_LIMIT,
                                        LOUDNESS_TOLERANCE_DB, MOVE_SHARE, Reference, SignalMeasures, Verdict,
                                        WindowMeasures, analyse_reference, measure, noise_like, timeline,
                                        to_analysis_rate, verdict)
from musicgen.formats.dataset import merged_audio_path
from musicgen.formats.songs import SongInfo, UnreadableSidecar, read_song_info, song_info_path
from musicgen.formats.weights import read_checkpoint
from musicgen.memory import require_memory
from musicgen.schema import SchemaError

log = logging.getLogger(__name__)


@dataclass
class Report:
    """Measures of every song and of the reference points, with each song's verdict."""

    reference: SignalMeasures
    noise: SignalMeasures
    silence: SignalMeasures
    songs: list[SignalMeasures]
    verdicts: list[Verdict]
    starts: list[float]  # where each song's measured part begins: the end of its seed's echo, or 0
    timelines: list[list[WindowMeasures]]  # each song's 10 s windows from there on
    reference_paths: list[Path] = field(default_factory=list)  # where the training music was read from

    def as_dict(self) -> dict:
        """JSON-ready: the rows of the table, the verdicts and the timelines."""
        return {
            "reference_paths": [str(p) for p in self.reference_paths],
            "reference": self.reference.as_dict(), "white_noise": self.noise.as_dict(),
            "silence": self.silence.as_dict(),
            "songs": [dict(s.as_dict(), music_like=v.music_like, tests=vars(v), measured_from=start,
                           timeline=[w.as_dict() for w in windows],
                           music_seconds=music_seconds(windows))
                      for s, v, start, windows in zip(self.songs, self.verdicts, self.starts, self.timelines)],
        }


def training_reference(prefix: Path) -> Reference | None:
    """The training music of the tensors at `prefix` (their PREFIX_xmerged.wav) analysed as evaluate.py does; None
    where it is not there or cannot be read (a note says so: it judges songs, it never stops them)."""
    merged = merged_audio_path(prefix)
    if not merged.is_file():
        return None
    try:
        return analyse_reference(to_analysis_rate(*read_audio(merged)))
    except (AudioDecodeError, OSError) as exc:
        log.warning(f"note: '{merged}' cannot be read ({exc}); songs are not judged against it")
        return None


def judge_song(samples: np.ndarray, rate: int, start: float, reference: Reference, hop_seconds: float
               ) -> tuple[float, float]:
    """(seconds still music, seconds judged) of a song from `start` seconds on, by evaluate.py's timeline."""
    windows = timeline(samples, rate, start, reference, block_size=max(1, round(hop_seconds * rate)))
    return music_seconds(windows), float(sum(w.end - w.start for w in windows))


def music_seconds(windows: list[WindowMeasures]) -> float:
    """How many of the timeline's seconds are still music."""
    return float(sum(w.end - w.start for w in windows if w.alive))


def reference_files(paths: list[Path]) -> list[Path]:
    """Expand folders into their audio files (sorted); every path must exist."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        elif path.is_file():
            files.append(path)
        else:
            raise DatasetError(f"reference '{path}' does not exist (run convert_directory.py first, or pass "
                               f"--reference with your training music)")
    if not files:
        raise DatasetError(f"no audio files in {', '.join(map(str, paths))}")
    return files


def training_music(song: Path) -> Path | None:
    """The music the song's network learnt from, as its dataset keeps it (PREFIX_xmerged.wav): the dataset its
    weight file records, or, that file gone or unreadable, the one the song's sidecar says it was seeded from.
    None when neither says, or the file is gone."""
    try:
        info = read_song_info(song)
    except SchemaError:
        return None
    if info is None:
        return None
    prefix = None
    if info.weights:
        try:
            prefix = read_checkpoint(Path(info.weights)).data_prefix
        except WeightsError:
            prefix = None
    if prefix is None and info.data:
        prefix = Path(info.data)
    merged = None if prefix is None else merged_audio_path(prefix)
    return merged if merged is not None and merged.is_file() else None


def default_reference(songs: list[Path]) -> list[Path]:
    """What songs are measured against without --reference: the music their network learnt from (one for all
    of them: DatasetError when they name different music), or the bundled music when none says (with a note)."""
    found = {song: training_music(song) for song in songs}
    first: dict[Path, Path] = {}  # each piece of music by where it really is, as the first song named it
    for m in found.values():
        if m is not None:
            first.setdefault(m.resolve(), m)
    music = sorted(first.values())
    if len(music) > 1:
        raise DatasetError(f"the songs come from networks trained on different music ({', '.join(map(str, music))}); "
                           "evaluate them apart, or pass --reference")
    unknown = [song.name for song, m in found.items() if m is None]
    if not music:
        log.warning(f"note: {'no song says' if len(songs) > 1 else f'{songs[0].name} does not say'} which music its "
                    f"network learnt from (or that music is gone); measured against the bundled music in "
                    f"{BUNDLED_MUSIC}: pass --reference with the training music")
        return [BUNDLED_MUSIC]
    if unknown:
        log.warning(f"note: {', '.join(unknown)} {'does' if len(unknown) == 1 else 'do'} not say which music "
                    f"{'its' if len(unknown) == 1 else 'their'} network learnt from; measured against {music[0]}, "
                    "the others'")
    return music


def load_reference(paths: list[Path]) -> Reference:
    """The training music: every file at ANALYSIS_RATE, concatenated, analysed once."""
    parts = [to_analysis_rate(*read_audio(f, ANALYSIS_RATE)) for f in reference_files(paths)]
    return analyse_reference(np.concatenate(parts))


def sidecar_times(song: Path) -> tuple[float, float]:
    """(where the seed's echo ends, seconds per block) from a song's sidecar; (0, 0.25) without one, or with
    one that cannot be read (said in a note)."""
    try:
        info = read_song_info(song)
    except UnreadableSidecar:
        log.warning(f"note: '{song_info_path(song)}' cannot be read; it is ignored, and the whole song measured "
                    "(its seed's echo included)")
        info = None
    except SchemaError as exc:
        raise DatasetError(f"'{song_info_path(song)}' is damaged: {exc}; delete it to measure the whole "
                           "song") from None
    info = info or SongInfo()
    return info.echo_seconds, info.step_seconds


# What measuring a song holds at once (spectrograms at several resolutions, the timeline's
# windows, the nearest-excerpt search): about 116 MB per minute of song, measured.
MEASURE_BYTES_PER_SECOND = 2_000_000


def evaluate_songs(songs: list[Path], reference_paths: list[Path] | None = None, *,
                   hop_seconds: float | None = None, whole: bool = False, plot: Path | None = None) -> Report:
    """Measure each song (and white noise and silence) against the training music (by default the music the
    songs' network learnt from); optionally plot.

    A song with a sidecar (generate.py writes one) is measured after its seed's echo unless
    `whole`, with the block length the sidecar gives unless `hop_seconds` is set (else 0.25 s).
    """
    for song in songs:
        if not song.is_file():
            raise DatasetError(f"song '{song}' does not exist")
    if plot is not None:
        check_writable(plot.parent)
    reference_paths = list(reference_paths or default_reference(songs))
    reference = load_reference(reference_paths)
    measured, mels, starts, timelines = [], [], [], []
    for song in songs:
        samples, rate = read_audio(song, ANALYSIS_RATE)
        require_memory(int(len(samples) / rate * MEASURE_BYTES_PER_SECOND), f"measuring '{song.name}'",
                       "measure a shorter part of it (sox SONG PART trim 0 600)")
        echo, hop = sidecar_times(song)
        start = 0.0 if whole else min(echo, len(samples) / rate)
        block = max(1, round((hop_seconds or hop) * rate))
        m, mel = measure(song.name, samples[int(round(start * rate)):], rate, reference, block_size=block)
        measured.append(m)
        mels.append(mel)
        starts.append(start)
        timelines.append(timeline(samples, rate, start, reference, block_size=block))
    seconds = max([m.seconds for m in measured] + [1.0])
    noise, noise_mel = measure("white noise (training loudness)", noise_like(reference, seconds), ANALYSIS_RATE,
                               reference)
    silence, _ = measure("silence", np.zeros(int(seconds * ANALYSIS_RATE), np.float32), ANALYSIS_RATE, reference)
    report = Report(reference=reference.measures, noise=noise, silence=silence, songs=measured,
                    verdicts=[verdict(m, reference, noise, silence) for m in measured], starts=starts,
                    timelines=timelines, reference_paths=reference_paths)
    if plot is not None:
        from musicgen.evaluate.picture import plot_evaluation

        plot_evaluation(report, reference, mels, noise_mel, plot)
    return report


def _fmt(value: float | None, spec: str, width: int) -> str:
    return f"{'-':>{width}}" if value is None else format(value, spec)


def format_table(report: Report) -> str:
    """A fixed-width table: one row per song, then the reference points, then each song's verdict."""
    train = report.reference
    header = (f"{'':32} {'loudness':>9} {'vs train':>9} {'flatness':>9} {'centroid':>9} {'mel dist':>9} "
              f"{'seam clicks':>11} {'nearest':>8} {'change':>7} {'at end':>7} {'loop':>5}\n"
              f"{'':32} {'dBFS':>9} {'dB':>9} {'':>9} {'Hz':>9} {'dB':>9} {'dB':>11} {'train dB':>8} "
              f"{'dB/s':>7} {'dB/s':>7} {'':>5}")
    rows = [f"measured against the training music in {', '.join(map(str, report.reference_paths))}", header] \
        if report.reference_paths else [header]
    for m in report.songs + [train, report.noise, report.silence]:
        rows.append(f"{m.name[:32]:32} {m.rms_dbfs:9.1f} {m.rms_dbfs - train.rms_dbfs:+9.1f} {m.flatness:9.4f} "
                    f"{m.centroid_hz:9.0f} {m.mel_distance_db:9.1f} {_fmt(m.seam_click_db, '+11.1f', 11)} "
                    f"{_fmt(m.nearest_excerpt_db if m is not train else None, '8.1f', 8)} "
                    f"{_fmt(m.change_db, '7.1f', 7)} {_fmt(m.end_change_db, '7.1f', 7)} {_fmt(m.loop, '5.2f', 5)}")
    rows.append("")
    for m, v, start in zip(report.songs, report.verdicts, report.starts):
        ratio = m.flatness / max(train.flatness, 1e-12)
        checks = [f"loudness {'ok' if v.loudness_ok else 'off'} ({m.rms_dbfs - train.rms_dbfs:+.1f} dB)",
                  f"flatness {'ok' if v.flatness_ok else 'off'} ({ratio:.2g}x the training's)",
                  f"mel distance {m.mel_distance_db:.1f} dB vs noise {report.noise.mel_distance_db:.1f} "
                  f"and silence {report.silence.mel_distance_db:.1f}"]
        near_copy = m.nearest_excerpt_db is not None and m.nearest_excerpt_db < COPY_DISTANCE_DB
        copy = (f"; nearest training excerpt at {m.nearest_excerpt_at:.1f} s, {m.nearest_excerpt_db:.1f} dB away"
                + (" (close to a verbatim copy)" if near_copy else ""))
        moves = ("" if m.change_db is None or train.change_db is None else
                 f"; it moves {m.change_db:.1f} dB/s (the training music {train.change_db:.1f}), "
                 f"{m.end_change_db:.1f} in its last quarter")
        where = f" (after the seed's {start:.1f} s echo)" if start else ""
        rows.append(f"{m.name}{where}: {'MUSIC-LIKE' if v.music_like else 'NOT music-like'}: " + ", ".join(checks)
                    + copy + moves)
    for m, start, windows in zip(report.songs, report.starts, report.timelines):
        rows += ["", format_timeline(m.name, start, windows)]
    return "\n".join(rows)


def format_timeline(name: str, start: float, windows: list[WindowMeasures]) -> str:
    """One line per 10 s window: its measures and whether it is still music; then the total."""
    since = "after the seed" if start else "from the start"
    rows = [f"{name}, timeline {since} (still music: within {LOUDNESS_TOLERANCE_DB:g} dB, "
            f"{FLATNESS_TOLERANCE:g}x flatness, moves >= {100 * MOVE_SHARE:.0f}% of the music's change, "
            f"loop < {LOOP_LIMIT}, no copy):"]
    for w in windows:
        rows.append(f"  {w.start:6.1f}-{w.end:6.1f} s  {w.rms_db_vs_train:+5.1f} dB  "
                    f"flatness {w.flatness_ratio:5.1f}x  "
                    f"change {100 * w.change_share:4.0f}%  loop {w.loop:5.2f}  nearest {w.nearest_excerpt_db:5.1f} dB  "
                    + ("music" if w.alive else "not music (" + ", ".join(w.failed) + ")"))
    total = sum(w.end - w.start for w in windows)
    rows.append(f"  music for {music_seconds(windows):.0f} of {total:.0f} seconds {since}")
    return "\n".join(rows)


def format_json(report: Report) -> str:
    """The report as indented JSON; a measure that is not a number (NaN: too short to measure) is null."""
    return schema.json_text(report.as_dict())

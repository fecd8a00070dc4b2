#!/usr/bin/env python3
"""Build an hour-long library of public-domain music in two styles, to train on a large library.

`chorale`: J. S. Bach's four-part chorales played on a church organ; `quartet`: string quartet
movements by Haydn, Mozart and Beethoven on violins, viola and cello. The scores come from the
corpus that music21's PyPI wheel ships (public-domain works); music21 writes each as a General MIDI
file, FluidSynth renders it with the MIT-licensed FluidR3_GM soundfont, sox trims and
peak-normalises it, lame encodes it. Works are taken in a fixed order until each style has
--minutes of music, so the same command makes the same library. The audio is not committed: the
folder's SOURCES.md says what it holds and under which licence, and manifest.tsv lists every file.
Needs: music21 (pip), fluidsynth, fluid-soundfont-gm, sox, lame.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from make_default_dataset import SOUNDFONT, RenderTooLong, midi_to_mp3

ORGAN, VIOLIN, VIOLA, CELLO = 19, 40, 41, 42  # General MIDI programs (0-based)


@dataclass(frozen=True)
class Style:
    """Which corpus works a style draws from, what plays them and at what tempo when the score gives none."""

    composers: tuple[str, ...]
    pattern: str  # the corpus paths (relative to the corpus folder) this style takes
    programs: tuple[int, ...]  # one per part, top to bottom; the last repeats for any further parts
    quarters_per_minute: int


STYLES = {
    "chorale": Style(("bach",), r"^bach/bwv\d+\.\d+\.mxl$", (ORGAN,), 80),
    "quartet": Style(("haydn", "mozart", "beethoven"), r"^(haydn|mozart|beethoven)/[^/]+/movement\d\.mxl$",
                     (VIOLIN, VIOLIN, VIOLA, CELLO), 120),
}


def corpus_works(style: Style) -> list[str]:
    """The style's corpus paths, in a fixed order (composer, then natural order of the name)."""
    from music21 import corpus

    def natural(path: str) -> list:
        return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path)]

    works = []
    for composer in style.composers:
        relative = sorted((str(p).split("/corpus/", 1)[1] for p in corpus.getComposer(composer)), key=natural)
        works += [path for path in relative if re.match(style.pattern, path)]
    return works


def write_midi(work: str, style: Style, midi: Path) -> tuple[str, float] | None:
    """The score as a General MIDI file played by the style's instruments; its title and length in
    seconds, or None when music21 cannot write it (some scores have repeat marks it cannot expand)."""
    from music21 import corpus, instrument, tempo

    score = corpus.parse(work)
    for k, part in enumerate(score.parts):
        for old in part.recurse().getElementsByClass(instrument.Instrument):
            old.activeSite.remove(old)
        player = instrument.Instrument()
        player.midiProgram = style.programs[min(k, len(style.programs) - 1)]
        part.insert(0, player)
    if not any(mark.number for mark in score.recurse().getElementsByClass(tempo.MetronomeMark)):
        score.parts[0].insert(0, tempo.MetronomeMark(number=style.quarters_per_minute))
    try:
        score.write("midi", fp=str(midi))
    except Exception:  # music21 raises many unrelated classes for scores it cannot lay out as MIDI
        return None
    title = score.metadata.title if score.metadata and score.metadata.title else work
    return str(title), max(entry["endTimeSeconds"] for entry in score.secondsMap)


def build_style(name: str, style: Style, out: Path, minutes: float, tmp: Path) -> list[tuple[str, str, str, float]]:
    """Render the style's works in order until it holds `minutes` of music; (file, work, title, seconds) each."""
    rows, total = [], 0.0
    for work in corpus_works(style):
        if total >= 60 * minutes:
            break
        stem = f"{name}_" + re.sub(r"[^A-Za-z0-9.]+", "_", work.removesuffix(".mxl")).lower()
        mp3 = out / f"{stem}.mp3"
        written = write_midi(work, style, tmp / "piece.mid")
        if written is None:
            print(f"skipped {work}: music21 cannot write it as MIDI", file=sys.stderr)
            continue
        title, expected = written
        tags = (title, work.split("/")[0].capitalize(),
                "public-domain work (music21 corpus); FluidR3_GM soundfont (MIT)")
        try:
            # FluidSynth renders some well-formed files forever (Haydn's Op. 1 No. 1 minuet wrote 4.6 GB).
            # A real render can run to 3x what music21 reckons the score lasts (Op. 1 No. 1's finale:
            # 193 s for 66 s), so the guard allows 10x: at FluidSynth's ~100x real time, seconds of waiting.
            seconds = midi_to_mp3(tmp / "piece.mid", mp3, tmp, tags, max_seconds=60 + 10 * expected)
        except RenderTooLong as exc:
            print(f"skipped {work}: {exc}", file=sys.stderr)
            continue
        rows.append((mp3.name, work, title, seconds))
        total += seconds
        print(f"{mp3}  {seconds:6.1f} s  ({name}: {total / 60:.1f} of {minutes:g} min)", flush=True)
    if total < 60 * minutes:
        print(f"{name}: the corpus holds only {total / 60:.1f} min of it", file=sys.stderr)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "library",
                   help="folder for the mp3s (default: datasets/library)")
    p.add_argument("--minutes", type=float, default=30.0, help="minutes of music per style (default: 30)")
    p.add_argument("--styles", nargs="+", choices=sorted(STYLES), default=sorted(STYLES))
    args = p.parse_args(argv)
    if not SOUNDFONT.exists():
        sys.exit(f"{SOUNDFONT} missing: sudo apt-get install -y fluidsynth fluid-soundfont-gm sox lame")
    try:
        import music21  # noqa: F401  (only this script needs it, so it is not in requirements.txt)
    except ImportError:
        sys.exit("music21 missing: .venv/bin/pip install music21 (or make library)")
    args.out.mkdir(parents=True, exist_ok=True)
    start, rows = time.perf_counter(), []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.styles:
            rows += [(name, *row) for row in build_style(name, STYLES[name], args.out, args.minutes, Path(tmp))]
    lines = ["file\tstyle\tcorpus work\ttitle\tseconds"] + [
        f"{file}\t{style}\t{work}\t{title}\t{seconds:.1f}" for style, file, work, title, seconds in rows]
    (args.out / "manifest.tsv").write_text("\n".join(lines) + "\n")
    music = sum(row[-1] for row in rows)
    elapsed = time.perf_counter() - start
    print(f"{len(rows)} files, {music / 60:.1f} min of music in {elapsed / 60:.1f} min "
          f"({music / elapsed:.0f}x real time); list: {args.out / 'manifest.tsv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

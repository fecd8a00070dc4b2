#!/usr/bin/env python3
"""Re-create the bundled datasets: public-domain pieces rendered to mp3.

`--set piano` (the default) writes datasets/training_data/ (three piano pieces);
`--set ensemble` writes datasets/ensemble_data/ (three band arrangements with drums).
Each piece is an arrangement written for this project (notes below) of a
public-domain composition, written as a General MIDI file, rendered with
FluidSynth and the MIT-licensed FluidR3_GM soundfont, peak-normalised with sox
and encoded with lame. Needs: fluidsynth, fluid-soundfont-gm, sox, lame.
"""

from __future__ import annotations

import argparse
import re
import struct
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
TICKS = 480  # MIDI ticks per quarter note
NOTE_INDEX = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}

# Voices are "NOTE/BEATS" tokens; chords join notes with '+'; 'R' is a rest.
MINUET_A = (
    "D5/1 G4/.5 A4/.5 B4/.5 C5/.5 | D5/1 G4/1 G4/1 | E5/1 C5/.5 D5/.5 E5/.5 F#5/.5 | G5/1 G4/1 G4/1 | "
    "C5/1 D5/.5 C5/.5 B4/.5 A4/.5 | B4/1 C5/.5 B4/.5 A4/.5 G4/.5 | F#4/1 G4/.5 A4/.5 B4/.5 G4/.5 | A4/3 | "
    "D5/1 G4/.5 A4/.5 B4/.5 C5/.5 | D5/1 G4/1 G4/1 | E5/1 C5/.5 D5/.5 E5/.5 F#5/.5 | G5/1 G4/1 G4/1 | "
    "C5/1 D5/.5 C5/.5 B4/.5 A4/.5 | B4/1 C5/.5 B4/.5 A4/.5 G4/.5 | A4/1 B4/.5 A4/.5 G4/.5 F#4/.5 | G4/3"
)
MINUET_BASS = (
    "G3+B3/2 A3/1 | B3/3 | C4/3 | B3/3 | A3/3 | G3/3 | D4/1 B3/1 G3/1 | D3/1 F#3/1 A3/1 | "
    "G3+B3/2 A3/1 | B3/3 | C4/3 | B3/3 | A3/3 | G3/3 | C4/1 D4/1 D3/1 | G3/2 G2/1"
)
ODE_MELODY = (
    "F#5/1 F#5/1 G5/1 A5/1 | A5/1 G5/1 F#5/1 E5/1 | D5/1 D5/1 E5/1 F#5/1 | F#5/1.5 E5/.5 E5/2 | "
    "F#5/1 F#5/1 G5/1 A5/1 | A5/1 G5/1 F#5/1 E5/1 | D5/1 D5/1 E5/1 F#5/1 | E5/1.5 D5/.5 D5/2 | "
    "E5/1 E5/1 F#5/1 D5/1 | E5/1 F#5/.5 G5/.5 F#5/1 D5/1 | E5/1 F#5/.5 G5/.5 F#5/1 E5/1 | D5/1 E5/1 A4/2 | "
    "F#5/1 F#5/1 G5/1 A5/1 | A5/1 G5/1 F#5/1 E5/1 | D5/1 D5/1 E5/1 F#5/1 | E5/1.5 D5/.5 D5/2"
)
ODE_BASS = (
    "D3/2 A3+F#3/2 | A2/2 E3+C#4/2 | D3/2 A3+F#3/2 | A2/2 E3+C#4/2 | "
    "D3/2 A3+F#3/2 | A2/2 E3+C#4/2 | D3/2 A3+F#3/2 | A2/2 D3+A3/2 | "
    "A2/2 E3+C#4/2 | A2/2 E3+C#4/2 | A2/2 E3+C#4/2 | D3/2 A2/2 | "
    "D3/2 A3+F#3/2 | A2/2 E3+C#4/2 | D3/2 A3+F#3/2 | A2/2 D3+A3/2"
)
CANON_BASS = "D3/2 A2/2 B2/2 F#2/2 G2/2 D2/2 G2/2 A2/2"
CANON_CHORDS = ("D4+F#4+A4/2 C#4+E4+A4/2 B3+D4+F#4/2 C#4+F#4+A4/2 "
                "B3+D4+G4/2 A3+D4+F#4/2 B3+D4+G4/2 C#4+E4+A4/2")
CANON_LINE1 = "F#5/2 E5/2 D5/2 C#5/2 B4/2 A4/2 B4/2 C#5/2"
CANON_LINE2 = "D5/2 C#5/2 B4/2 A4/2 G4/2 F#4/2 G4/2 E4/2"
CANON_LINE3 = "D5/1 F#5/1 A5/1 G5/1 F#5/1 D5/1 F#5/1 E5/1 D5/1 B4/1 D5/1 A5/1 G5/1 B5/1 A5/1 G5/1"
CANON_REST = "R/16"

PIANO = [
    {
        "file": "minuet_in_g.mp3",
        "title": "Minuet in G major, BWV Anh. 114",
        "composer": "Christian Petzold (attr. J. S. Bach)",
        "bpm": 112,
        "voices": [(MINUET_A + " | " + MINUET_A, 92), (MINUET_BASS + " | " + MINUET_BASS, 64)],
    },
    {
        "file": "ode_to_joy.mp3",
        "title": "Ode to Joy (Symphony No. 9, theme)",
        "composer": "Ludwig van Beethoven",
        "bpm": 120,
        "voices": [(ODE_MELODY + " | " + ODE_MELODY, 92), (ODE_BASS + " | " + ODE_BASS, 62)],
    },
    {
        "file": "canon_in_d.mp3",
        "title": "Canon in D",
        "composer": "Johann Pachelbel",
        "bpm": 72,
        "voices": [
            (" ".join([CANON_BASS] * 5), 70),
            (" ".join([CANON_CHORDS] * 5), 48),
            (" ".join([CANON_REST, CANON_LINE1, CANON_LINE2, CANON_LINE3, CANON_LINE1]), 88),
            (" ".join([CANON_REST, CANON_REST, CANON_LINE1, CANON_LINE2, CANON_LINE3]), 72),
        ],
    },
]


def octave(text: str, shift: int) -> str:
    """The same voice `shift` octaves up (down if negative); rests and lengths stay."""
    return re.sub(r"([A-G][#b]?)(\d)", lambda m: f"{m.group(1)}{int(m.group(2)) + shift}", text)


def bars(pattern: str, chords: str, table: dict[str, str]) -> str:
    """One bar of `pattern` per chord name, with 'X' standing for that chord's notes."""
    return " | ".join(pattern.replace("X", table[name]) for name in chords.split())


# The ensemble set: band arrangements with a General MIDI drum kit on channel 10 (index 9),
# written with the drum keys' note names: C2 kick, D2 snare, F#2 closed hi-hat, A#2 open
# hi-hat, C#3 crash, D#3 ride.
DRUMS = 9
GM = {"banjo": 105, "trumpet": 56, "clarinet": 71, "tuba": 58, "fiddle": 110, "acoustic_bass": 32,
      "piccolo": 72, "brass": 61, "organ": 16}
TRIADS = {"C": "C4+E4+G4", "C7": "A#3+C4+E4+G4", "F": "A3+C4+F4", "G": "B3+D4+G4"}
ROOT_FIFTH = {"C": "C3/2 G2/2", "C7": "C3/2 G2/2", "F": "F2/2 C3/2", "G": "G2/2 D3/2"}
WALKING = {"C": "C3/1 G2/1 C3/1 G2/1", "F": "F2/1 C3/1 F2/1 C3/1", "G": "G2/1 D3/1 G2/1 D3/1"}

SAINTS_MELODY = (
    "R/1 C5/1 E5/1 F5/1 | G5/4 | R/1 C5/1 E5/1 F5/1 | G5/4 | R/1 C5/1 E5/1 F5/1 | G5/2 E5/2 | "
    "C5/2 E5/2 | D5/4 | R/1 E5/1 E5/1 D5/1 | C5/3 C5/1 | E5/2 G5/2 | G5/1 F5/3 | "
    "R/1 E5/1 F5/1 G5/1 | E5/2 C5/2 | D5/4 | C5/4"
)
SAINTS_CHORDS = "C C C C C C C G C C7 F F C G C C"
SAINTS_ROCK = "C2+F#2/.5 F#2/.5 D2+F#2/.5 F#2/.5 C2+F#2/.5 F#2/.5 D2+F#2/.5 A#2/.5"
SAINTS_DRUMS = " | ".join(["C#3+C2/.5 F#2/.5 D2+F#2/.5 F#2/.5 C2+F#2/.5 F#2/.5 D2+F#2/.5 A#2/.5"] + [SAINTS_ROCK] * 15)

SUSANNA_VERSE = (
    "E5/1 G5/1 G5/1.5 A5/.5 | G5/1 E5/1 C5/1.5 D5/.5 | E5/1 E5/1 D5/1 C5/1 | D5/3 C5/.5 D5/.5 | "
    "E5/1 G5/1 G5/1.5 A5/.5 | G5/1 E5/1 C5/1.5 D5/.5 | E5/1 E5/1 D5/1 D5/1 | C5/3 C5/.5 D5/.5"
)
SUSANNA_CHORUS = (
    "F5/2 F5/2 | A5/1 A5/2 A5/1 | G5/1 G5/1 E5/1 C5/1 | D5/3 C5/.5 D5/.5 | "
    "E5/1 G5/1 G5/1.5 A5/.5 | G5/1 E5/1 C5/1.5 D5/.5 | E5/1 E5/1 D5/1 D5/1 | C5/4"
)
SUSANNA_CHORDS = "C C C G C C G C F F C G C C G C"
SUSANNA_TRAIN = "C2+D#3/.5 D#3/.5 D2+D#3/.5 D#3/.5 C2+D#3/.5 D#3/.5 D2+D#3/.5 D2/.25 D2/.25"

YANKEE_VERSE = (
    "C5/1 C5/1 D5/1 E5/1 | C5/1 E5/1 D5/2 | C5/1 C5/1 D5/1 E5/1 | C5/2 B4/2 | "
    "C5/1 C5/1 D5/1 E5/1 | F5/1 E5/1 D5/1 C5/1 | B4/1 G4/1 A4/1 B4/1 | C5/2 C5/2"
)
YANKEE_CHORUS = (
    "A4/1.5 B4/.5 A4/1 G4/1 | A4/1 B4/1 C5/2 | G4/1.5 A4/.5 G4/1 F4/1 | E4/2 G4/2 | "
    "A4/1.5 B4/.5 A4/1 G4/1 | A4/1 B4/1 C5/1 A4/1 | G4/1 C5/1 B4/1 D5/1 | C5/2 C5/2"
)
YANKEE_CHORDS = "C G C G C F G C F F C C F F G C"
YANKEE_MARCH = "C2+D2/.5 D2/.25 D2/.25 D2/.5 D2/.5 C2+D2/.5 D2/.25 D2/.25 D2/1"

ENSEMBLE = [
    {
        "file": "saints_go_marching_in.mp3",
        "title": "When the Saints Go Marching In",
        "composer": "traditional",
        "bpm": 150,
        "voices": [
            (" | ".join([SAINTS_MELODY] * 3), 96, 0, GM["trumpet"]),
            (" | ".join(["R/64", octave(SAINTS_MELODY, -1), SAINTS_MELODY]), 80, 1, GM["clarinet"]),
            (" | ".join([bars("R/1 X/1 R/1 X/1", SAINTS_CHORDS, TRIADS)] * 3), 72, 2, GM["banjo"]),
            (" | ".join([bars("X", SAINTS_CHORDS, {**ROOT_FIFTH})] * 3), 92, 3, GM["tuba"]),
            (" | ".join([SAINTS_DRUMS] * 3), 88, DRUMS, 0),
        ],
    },
    {
        "file": "oh_susanna.mp3",
        "title": "Oh! Susanna",
        "composer": "Stephen Foster",
        "bpm": 130,
        "voices": [
            (" | ".join([SUSANNA_VERSE, SUSANNA_CHORUS] * 2 + [SUSANNA_CHORUS]), 96, 0, GM["fiddle"]),
            (" | ".join([bars("R/.5 X/.5 R/.5 X/.5 R/.5 X/.5 R/.5 X/.5", SUSANNA_CHORDS, TRIADS)] * 2
                        + [bars("R/.5 X/.5 R/.5 X/.5 R/.5 X/.5 R/.5 X/.5", " ".join(SUSANNA_CHORDS.split()[8:]),
                                TRIADS)]), 70, 1, GM["banjo"]),
            (" | ".join([bars("X", SUSANNA_CHORDS, WALKING)] * 2
                        + [bars("X", " ".join(SUSANNA_CHORDS.split()[8:]), WALKING)]), 96, 2, GM["acoustic_bass"]),
            (" | ".join([SUSANNA_TRAIN] * 40), 84, DRUMS, 0),
        ],
    },
    {
        "file": "yankee_doodle.mp3",
        "title": "Yankee Doodle",
        "composer": "traditional",
        "bpm": 120,
        "voices": [
            (" | ".join([YANKEE_VERSE, YANKEE_CHORUS] * 2), 100, 0, GM["piccolo"]),
            (" | ".join([bars("X/2 X/2", YANKEE_CHORDS, TRIADS)] * 2), 76, 1, GM["brass"]),
            (" | ".join([bars("X", YANKEE_CHORDS, ROOT_FIFTH)] * 2), 92, 2, GM["tuba"]),
            (" | ".join([YANKEE_MARCH] * 32), 90, DRUMS, 0),
        ],
    },
]

SETS = {"piano": (PIANO, "training_data"), "ensemble": (ENSEMBLE, "ensemble_data")}


def midi_number(name: str) -> int:
    """'F#4' -> 66 (C4 = 60)."""
    pitch = NOTE_INDEX[name[0]] + name[1:-1].count("#") - name[1:-1].count("b")
    return 12 * (int(name[-1]) + 1) + pitch


def voice_events(text: str, velocity: int, channel: int = 0) -> list[tuple[int, int, bytes]]:
    """Parse one voice into (tick, order, midi bytes); note-offs sort before note-ons."""
    events, tick = [], 0
    for token in text.replace("|", " ").split():
        notes, beats = token.split("/")
        length = round(float(beats) * TICKS)
        if notes != "R":
            for note in notes.split("+"):
                key = midi_number(note)
                events.append((tick, 1, bytes([0x90 | channel, key, velocity])))
                events.append((tick + int(length * 0.95), 0, bytes([0x80 | channel, key, 0])))
        tick += length
    return events


def varlen(value: int) -> bytes:
    """MIDI variable-length quantity."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def midi_file(piece: dict) -> bytes:
    """A format-0 Standard MIDI File; a voice is (notes, velocity[, channel, GM program])."""
    voices = [(v[0], v[1], *(v[2:] or (0, 0))) for v in piece["voices"]]
    events = [e for text, vel, channel, _ in voices for e in voice_events(text, vel, channel)]
    events.sort(key=lambda e: (e[0], e[1]))
    tempo = round(60_000_000 / piece["bpm"])
    programs = dict(sorted({channel: program for _, _, channel, program in voices}.items()))
    track = b"\x00\xff\x51\x03" + tempo.to_bytes(3, "big")
    track += b"".join(b"\x00" + bytes([0xC0 | channel, program]) for channel, program in programs.items())
    last = 0
    for tick, _, data in events:
        track += varlen(tick - last) + data
        last = tick
    track += varlen(2 * TICKS) + b"\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS)
    return header + b"MTrk" + struct.pack(">I", len(track)) + track


RENDER_RATE = 44100


class RenderTooLong(Exception):
    """FluidSynth went on rendering past the longest the piece can be (it renders some files forever)."""


def run(argv: list[str]) -> None:
    """Run a tool; stop with its stderr if it fails."""
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"{argv[0]} failed: {proc.stderr.strip()}")


def fluidsynth(mid: Path, raw: Path, max_seconds: float | None) -> None:
    """Render `mid` to a 16-bit stereo WAV; RenderTooLong as soon as it holds more than `max_seconds`.

    The guard watches the file, not the clock: FluidSynth renders ~100x faster than real time, so a
    runaway render is caught in seconds rather than after the piece's own length."""
    argv = ["fluidsynth", "-ni", "-g", "0.6", "-r", str(RENDER_RATE), "-F", str(raw), str(SOUNDFONT), str(mid)]
    limit = None if max_seconds is None else 44 + max_seconds * RENDER_RATE * 4
    raw.unlink(missing_ok=True)  # the last piece's render would trip the guard before FluidSynth starts
    with open(raw.with_suffix(".log"), "w+") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            while proc.poll() is None:
                if limit is not None and raw.exists() and raw.stat().st_size > limit:
                    raise RenderTooLong(f"FluidSynth renders it past {max_seconds:.0f} s")
                time.sleep(0.2)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if proc.returncode != 0:
            log.seek(0)
            sys.exit(f"fluidsynth failed: {log.read().strip()}")


def midi_to_mp3(mid: Path, out: Path, tmp: Path, tags: tuple[str, str, str], max_seconds: float | None = None) -> float:
    """MIDI -> FluidSynth WAV -> sox trimmed, peak-normalised WAV -> lame mp3 tagged (title, artist,
    comment); the seconds of music. RenderTooLong if FluidSynth renders more than `max_seconds`."""
    raw, norm = tmp / "raw.wav", tmp / "norm.wav"
    fluidsynth(mid, raw, max_seconds)
    run(["sox", str(raw), str(norm), "silence", "1", "0.01", "0.1%", "reverse", "silence", "1", "0.01",
         "0.1%", "reverse", "gain", "-n", "-1"])
    title, artist, comment = tags
    run(["lame", "--quiet", "-b", "128", "--tt", title, "--ta", artist, "--tc", comment, str(norm), str(out)])
    with wave.open(str(norm)) as w:
        return w.getnframes() / w.getframerate()


def render(piece: dict, out_dir: Path, tmp: Path) -> Path:
    """One piece's MIDI file, rendered to OUT_DIR/<file>.mp3."""
    mid = tmp / "piece.mid"
    mid.write_bytes(midi_file(piece))
    out = out_dir / piece["file"]
    midi_to_mp3(mid, out, tmp, (piece["title"], piece["composer"],
                                "public-domain work; rendering CC0; FluidR3_GM soundfont (MIT)"))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--set", choices=sorted(SETS), default="piano",
                   help="piano: datasets/training_data (the default dataset); ensemble: datasets/ensemble_data")
    p.add_argument("--out", type=Path, default=None, help="folder for the mp3s (default: the set's folder)")
    args = p.parse_args(argv)
    pieces, folder = SETS[args.set]
    args.out = args.out or Path(__file__).parent / folder
    if not SOUNDFONT.exists():
        sys.exit(f"{SOUNDFONT} missing: sudo apt-get install -y fluidsynth fluid-soundfont-gm sox lame")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for piece in pieces:
            print(render(piece, args.out, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

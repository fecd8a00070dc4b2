#!/usr/bin/env python3
"""Build the development sets of recorded music from Debian's game-data packages.

Two styles, each four 50.5 s excerpts (3 min 22 s: five 10 s training clips each, and the block after
the last, which convert_directory.py needs whole) of recorded soundtracks under the GPL:
`orchestral` from wesnoth-1.16-music (Battle for Wesnoth's orchestral score) and `band` from
hedgewars-data (Hedgewars' rock, electronic and pop tracks). The packages are fetched with
`apt-get download` and unpacked with `dpkg-deb`, so no game is installed; sox cuts each excerpt
to a 44.1 kHz stereo WAV. The audio is not committed: this script re-creates it, with a
SOURCES.md (titles, authors, licence) beside it. Needs apt-get, dpkg-deb and sox.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

EXCERPT_START, EXCERPT_SECONDS = 20.0, 50.5
WESNOTH = "usr/share/games/wesnoth/1.16/data/core/music"
HEDGEWARS = "usr/share/games/hedgewars/Data/Music"

# style -> (package, folder in it, licence, [(file, title, author)])
STYLES = {
    "orchestral": ("wesnoth-1.16-music", WESNOTH, "GPL-2+ (Debian's copyright file of wesnoth-1.16-music)", [
        ("battle.ogg", "Battle", "the Battle for Wesnoth project"),
        ("heroes_rite.ogg", "Heroes' Rite", "the Battle for Wesnoth project"),
        ("northerners.ogg", "Northerners", "the Battle for Wesnoth project"),
        ("legends_of_the_north.ogg", "Legends of the North", "the Battle for Wesnoth project"),
    ]),
    "band": ("hedgewars-data", HEDGEWARS, "GPL-2 (Debian's copyright file of hedgewars-data, `Files: *`)", [
        ("Rock.ogg", "Rock", "HSR (the package's credits.txt)"),
        ("City.ogg", "City", "HSR (the package's credits.txt)"),
        ("Freeway.ogg", "Freeway", "the Hedgewars project"),
        ("Brick.ogg", "Brick", "the Hedgewars project"),
    ]),
}


def run(argv: list[str], cwd: Path | None = None) -> None:
    """Run a tool; exit with its message if it fails."""
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"{argv[0]} failed: {(proc.stderr or proc.stdout).strip()[-500:]}")


def fetch(package: str, folder: str, names: list[str], work: Path) -> Path:
    """Download `package` and unpack only `names` from `folder`; the folder they are in."""
    run(["apt-get", "download", package], cwd=work)
    deb = next(work.glob(f"{package}_*.deb"))
    members = [f"./{folder}/{name}" for name in names]
    tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    proc = subprocess.run(["tar", "-x", "-C", str(work), *members], stdin=tar.stdout, capture_output=True,
                          text=True, check=False)
    tar.stdout.close()
    if tar.wait() != 0 or proc.returncode != 0:
        sys.exit(f"cannot unpack {deb.name}: {proc.stderr.strip()[-500:]}")
    return work / folder


def sources_note(style: str, package: str, licence: str, tracks: list[tuple[str, str, str]]) -> str:
    rows = "\n".join(f"| {Path(name).stem}.wav | {title} | {author} | `{name}` |" for name, title, author in tracks)
    return (f"# Recorded music, style `{style}`: sources and licence\n\n"
            f"Four {EXCERPT_SECONDS:g} s excerpts (from {EXCERPT_START:g} s in) of recorded game music, "
            f"re-created by `python3 datasets/make_recorded_dataset.py --style {style}` from the Debian "
            f"package `{package}`. Licence: {licence}.\n\n"
            "| file | title | author | file in the package |\n| --- | --- | --- | --- |\n"
            f"{rows}\n")


def build(style: str, out: Path) -> list[Path]:
    """Write one style's excerpts and SOURCES.md into `out`."""
    package, folder, licence, tracks = STYLES[style]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        source = fetch(package, folder, [name for name, _, _ in tracks], Path(tmp))
        for name, _, _ in tracks:
            target = out / f"{Path(name).stem}.wav"
            run(["sox", "-R", str(source / name), "-r", "44100", "-b", "16", str(target),
                 "trim", str(EXCERPT_START), str(EXCERPT_SECONDS)])
            written.append(target)
    (out / "SOURCES.md").write_text(sources_note(style, package, licence, tracks))
    return written


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--style", choices=sorted(STYLES), nargs="+", default=sorted(STYLES),
                   help="which styles to build (default: all)")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "recorded",
                   help="each style goes into OUT/STYLE (default: datasets/recorded)")
    args = p.parse_args(argv)
    for style in args.style:
        for path in build(style, args.out / style):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

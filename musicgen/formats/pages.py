"""The pages to listen on: gen_songs/index.html (every song, newest first) and weights/index.html (every
checkpoint with its preview). Plain HTML and CSS that open from the file system with no server, rewritten
atomically after every song or checkpoint from what the files' own sidecars say."""

from __future__ import annotations

import html
import logging
from pathlib import Path
from urllib.parse import quote

from musicgen.atomic import write_atomic
from musicgen.formats.songs import SONG_RE, SongInfo, UnreadableSidecar, read_song_info
from musicgen.formats.weights import PREVIEW_SUFFIX, companion, list_weight_files, read_checkpoint
from musicgen.schema import SchemaError

log = logging.getLogger(__name__)
PAGE_NAME = "index.html"
AUDIO_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "ogg": "audio/ogg", "flac": "audio/flac"}

STYLE = """
body { font: 15px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 60em; padding: 0 1em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.05em; margin: 0 0 .4em; }
article { border-top: 1px solid #ddd; padding: 1em 0; }
audio { width: 100%; } img { max-width: 100%; display: block; margin: .5em 0; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .15em 1em; margin: 0; }
dt { color: #666; } dd { margin: 0; }
.music { color: #176b2c; } .not-music { color: #a3261b; } .unjudged { color: #666; }
"""


def _page(title: str, intro: str, articles: list[str]) -> str:
    body = "\n".join(articles) if articles else "<p>Nothing here yet.</p>"
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{html.escape(title)}"
            f"</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{html.escape(title)}</h1>\n<p>{intro}</p>\n"
            f"{body}\n</body>\n</html>\n")


def _src(path: Path) -> str:
    """A file beside the page as a relative address: every byte of the name that a URL cannot hold escaped."""
    return html.escape(quote(path.name), quote=True)


def _facts(rows: list[tuple[str, str]]) -> str:
    return "<dl>" + "".join(f"<dt>{html.escape(k)}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"


def _verdict(music: float | None, judged: float | None) -> str:
    if music is None or not judged:
        return '<span class="unjudged">not judged</span>'
    kind = "music" if music >= judged - 1e-6 else "not-music"
    return f'<span class="{kind}">music for {music:.0f} of {judged:.0f} s</span>'


def _song_number(path: Path) -> int:
    return int(SONG_RE.match(path.name).group(1))


def _song_article(song: Path, info: SongInfo | None, note: str | None) -> str:
    rows = []
    if info is not None:
        rows.append(("verdict", _verdict(info.music_seconds, info.judged_seconds)))
        if info.seconds is not None:
            rows.append(("length", f"{info.seconds:.1f} s, the echo of its seed the first {info.echo_seconds:.1f} s"))
        if info.weights:
            rows.append(("network", html.escape(f"{Path(info.weights).name}, iteration {info.iteration}")))
        seed = (f"{Path(info.prime).name} from {info.prime_start:g} s" if info.prime else
                f"training clip {info.seed_clip}" if info.seed_clip is not None else None)
        if seed:
            rows.append(("seed", html.escape(seed)))
        if info.random_seed is not None:
            rows.append(("random seed", str(info.random_seed)))
        if info.temperature is not None:
            tail = "" if info.tail_noise in (None, 1.0) else f" (a code's detail at {info.tail_noise:g} of it)"
            if info.noise_memory:
                tail += f", the detail's noise carrying {info.noise_memory:g} of the last block's"
            rows.append(("temperature", f"{info.temperature:g}{tail}"))
    if note:
        rows.append(("sidecar", html.escape(note)))
    kind = AUDIO_TYPES.get(song.suffix.lstrip(".").lower(), "audio/wav")
    picture = song.with_suffix(".png")
    image = f'<img src="{_src(picture)}" alt="waveform and spectrogram of {html.escape(song.name)}">' \
        if picture.is_file() else ""
    return (f'<article id="{html.escape(song.stem)}">\n<h2>{html.escape(song.name)}</h2>\n'
            f'<audio controls preload="metadata"><source src="{_src(song)}" type="{kind}"></audio>\n'
            f"{image}\n{_facts(rows)}\n</article>")


def write_songs_page(folder: Path) -> Path:
    """Rewrite FOLDER/index.html: every generated_songN there, newest first, with its player, picture and facts."""
    songs = [p for p in folder.iterdir() if (m := SONG_RE.match(p.name)) and m.group(2) not in ("json", "png")]
    articles = []
    for song in sorted(songs, key=_song_number, reverse=True):
        note = None
        try:
            info = read_song_info(song)
        except (UnreadableSidecar, SchemaError) as exc:
            info, note = None, f"unreadable ({exc})"
        articles.append(_song_article(song, info, note))
    intro = ("The songs generate.py wrote here, newest first. The verdict is evaluate.py's: for how many of the "
             "seconds after the echo of its seed a song is still music, beside the music its network learnt from.")
    return _write(folder / PAGE_NAME, _page("Songs", intro, articles))


def write_weights_page(folder: Path) -> Path:
    """Rewrite FOLDER/index.html: every weight file there, newest first, with its preview song and loss plot."""
    articles = []
    for weights in sorted(list_weight_files(folder), key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            ckpt = read_checkpoint(weights)
        except Exception as exc:  # a damaged sidecar is listed as such, never a failed page
            articles.append(f"<article><h2>{html.escape(weights.name)}</h2><p>unreadable: "
                            f"{html.escape(str(exc))}</p></article>")
            continue
        model = ckpt.model
        rows = [("network", html.escape(f"{model.label}, {model.hidden} units, {model.block.describe()}")),
                ("iteration", str(ckpt.iteration))]
        if ckpt.last_loss is not None:
            rows.append(("last loss", f"{ckpt.last_loss:.4g}"))
        preview = companion(weights, PREVIEW_SUFFIX)
        player = ""
        if ckpt.preview and preview.is_file():
            seconds = float(ckpt.preview.get("seconds") or 0.0)
            alive = ckpt.preview.get("music")
            music = None if alive is None else (seconds if alive else 0.0)
            rows.insert(0, ("preview", _verdict(music, seconds)))
            player = f'<audio controls preload="metadata"><source src="{_src(preview)}" type="audio/wav"></audio>\n'
        plot = companion(weights, ".png")
        image = f'<img src="{_src(plot)}" alt="loss of {html.escape(weights.name)}">' if plot.is_file() else ""
        articles.append(f'<article id="{html.escape(weights.stem)}">\n<h2>{html.escape(weights.name)}</h2>\n'
                        f"{player}{image}\n{_facts(rows)}\n</article>")
    intro = ("The checkpoints training wrote here, newest first, each with its preview song (the same seed and "
             "draws for every checkpoint, so they differ only by what the network learnt) and its loss.")
    return _write(folder / PAGE_NAME, _page("Checkpoints", intro, articles))


def keep_page_current(write, folder: Path) -> None:
    """write(folder), the page being a convenience: a disk that refuses it is a warning, not a failed run."""
    try:
        write(folder)
    except OSError as exc:
        log.warning(f"note: '{folder / PAGE_NAME}' was not updated ({exc.strerror or exc})")


def _write(path: Path, text: str) -> Path:
    write_atomic(path, lambda part: part.write_text(text, encoding="utf-8"))
    return path

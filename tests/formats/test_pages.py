"""The pages to listen on (gen_songs/index.html, weights/index.html): what they list, and that a real browser
(headless Chromium) finds every song, preview and picture on them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from musicgen.config import BlockSpec, ModelConfig
from musicgen.formats.pages import PAGE_NAME, write_songs_page
from musicgen.formats.songs import SongInfo, song_info_path, write_song

from helpers import decoded, temp_leftovers, train_config

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def songs_folder(tmp_path) -> Path:
    """Three songs of real music: two with sidecars (one judged still music, one not), one with a damaged one."""
    folder = tmp_path / "gen_songs"
    music = decoded(tmp_path, "minuet_in_g.mp3", 10.0, 8.0, rate=8000)
    block = BlockSpec(sample_rate=8000, block_size=1000)
    for k, (music_s, judged_s) in enumerate([(3.0, 3.0), (1.0, 3.0), (None, None)]):
        info = SongInfo(echo_seconds=5.0, block=block, seconds=8.0, iteration=k, seed_clip=k, random_seed=7,
                        weights=f"weights/LSTM_NP_Weights_Iter-{k}.weights.h5", temperature=1.6,
                        music_seconds=music_s, judged_seconds=judged_s)
        from musicgen.plots import plot_song

        write_song(folder, music * (0.5 + 0.2 * k), 8000, info=info,
                   draw=lambda png: plot_song(music, 8000, png, "a song", echo_seconds=5.0))
    song_info_path(folder / "generated_song3.wav").write_text("{not json")
    return folder


def test_the_songs_page_lists_every_song_newest_first_with_its_verdict(tmp_path):
    folder = songs_folder(tmp_path)
    text = write_songs_page(folder).read_text()
    assert [text.index(f'src="generated_song{n}.wav"') for n in (3, 2, 1)] == sorted(
        text.index(f'src="generated_song{n}.wav"') for n in (3, 2, 1))
    assert "music for 3 of 3 s" in text and "music for 1 of 3 s" in text and "unreadable" in text
    assert text.count("<audio") == 3 and text.count("<img") == 3 and "training clip 1" in text
    assert not temp_leftovers(folder)  # written atomically


def browser_check(page: Path, tmp_path: Path) -> dict:
    """Load `page` in headless Chromium; what each picture and audio source came to."""
    harness = tmp_path / "harness.html"
    harness.write_text(f"""<!DOCTYPE html><html><body><iframe id="f" src="{page.as_uri()}"></iframe><script>
const f = document.getElementById("f");
f.onload = () => setTimeout(() => {{
  const d = f.contentDocument;
  const out = document.createElement("pre"); out.id = "result";
  out.textContent = JSON.stringify({{
    images: [...d.images].map(i => [i.getAttribute("src"), i.complete && i.naturalWidth > 0]),
    audio: [...d.querySelectorAll("audio")].map(a => [a.querySelector("source").getAttribute("src"), a.readyState,
                                                      a.error ? a.error.code : null])}});
  document.body.appendChild(out);
}}, 2000);
</script></body></html>""")
    out = subprocess.run([CHROMIUM, *chromium_flags(tmp_path), "--allow-file-access-from-files",
                          "--virtual-time-budget=15000", "--dump-dom", harness.as_uri()],
                         capture_output=True, text=True, timeout=120)
    start = out.stdout.index('<pre id="result">') + len('<pre id="result">')
    return json.loads(out.stdout[start:out.stdout.index("</pre>", start)].replace("&quot;", '"'))


def chromium_flags(tmp_path: Path) -> list[str]:
    # No network here: Chromium's background connections are switched off, and it runs as root without a sandbox.
    return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'chromium'}"]


def assert_everything_resolves(found: dict, audio: int, images: int) -> None:
    assert len(found["audio"]) == audio and len(found["images"]) == images, found
    assert all(ok for _, ok in found["images"]), found
    # HAVE_METADATA or more: the browser read the file's header and knows its length.
    assert all(state >= 1 and error is None for _, state, error in found["audio"]), found


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (make test installs it)")
def test_chromium_finds_every_song_and_picture_on_the_songs_page(tmp_path):
    folder = songs_folder(tmp_path)
    page = write_songs_page(folder)
    assert_everything_resolves(browser_check(page, tmp_path), audio=3, images=3)
    # The check fails where a file is missing.
    (folder / "generated_song2.png").unlink()
    found = browser_check(page, tmp_path)
    assert [ok for src, ok in found["images"] if src == "generated_song2.png"] == [False]
    (folder / "generated_song2.png").unlink(missing_ok=True)
    write_songs_page(folder)
    shot = tmp_path / "songs_page.png"
    subprocess.run([CHROMIUM, *chromium_flags(tmp_path), "--window-size=1000,1300", f"--screenshot={shot}",
                    page.as_uri()], capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 10_000


@pytest.mark.trains
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (make test installs it)")
def test_the_weights_page_plays_every_checkpoints_preview(small_data, tmp_path):
    from musicgen.train.loop import train

    cfg = train_config(small_data, tmp_path / "w", n_iter=2, n_epochs=1, preview_seconds=2.0, keep_every=1)
    train(cfg, ModelConfig(hidden=16), verbose=0)
    page = tmp_path / "w" / PAGE_NAME
    assert page.is_file()  # training keeps it current after every checkpoint
    text = page.read_text()
    assert text.count(".preview.wav") == 2 and "Iter-2" in text.split("Iter-1")[0]  # newest first
    assert_everything_resolves(browser_check(page, tmp_path), audio=2, images=2)


@pytest.mark.trains
def test_songs_are_judged_and_kept_even_when_their_training_music_is_damaged(small_data, tmp_path, caplog):
    from musicgen.config import GenerateConfig
    from musicgen.formats.dataset import merged_audio_path
    from musicgen.generate.generation import generate
    from musicgen.train.loop import train

    result = train(train_config(small_data, tmp_path / "w", n_iter=1, n_epochs=1), ModelConfig(hidden=16), verbose=0)
    cfg = GenerateConfig(seconds=14.0, random_seed=0, out_dir=tmp_path / "songs")
    judged = generate(result.checkpoint, cfg)[0]
    assert judged.judged_seconds and 0 <= judged.music_seconds <= judged.judged_seconds
    # Songs of a network whose training music cannot be read are written all the same, unjudged, with a note.
    copy = tmp_path / "data" / small_data.name
    copy.parent.mkdir()
    for part in small_data.parent.glob(f"{small_data.name}_*"):
        shutil.copy(part, copy.parent / part.name)
    merged_audio_path(copy).write_bytes(b"RIFF not a wav")
    unjudged = generate(result.checkpoint, GenerateConfig(seconds=14.0, random_seed=0, data_prefix=copy,
                                                          out_dir=tmp_path / "songs"))[0]
    assert unjudged.path.is_file() and unjudged.judged_seconds is None and "cannot be read" in caplog.text
    assert "not judged" in (tmp_path / "songs" / PAGE_NAME).read_text()

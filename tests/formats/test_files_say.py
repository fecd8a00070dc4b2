"""The files say what a user would otherwise type: generate.py and re_train.py take the tensors a weight file
was trained on, evaluate.py judges a song against the music its network learnt from, and train.py,
generate.py and convert_directory.py report in JSON for other scripts."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from helpers import run_script, tone
from musicgen.config import BUNDLED_MUSIC, DEFAULT_DATA, ModelConfig
from musicgen.formats.dataset import merged_audio_path
from musicgen.errors import DatasetError, WeightsError
from musicgen.schema import SchemaError
from musicgen.evaluate.report import default_reference
from musicgen.formats.weights import Checkpoint


def _json(out) -> dict:
    """A script's stdout as its one JSON object (nothing else may be printed there)."""
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


@pytest.mark.script
def test_a_weight_file_names_its_tensors_and_a_song_its_music(small_data, tmp_path):
    weights_dir, songs = tmp_path / "w", tmp_path / "songs"
    tiny = ["--hidden", "8", "-n", "1", "-e", "1", "--weights-dir", weights_dir]
    trained = _json(run_script("train.py", "--data", small_data, *tiny, "--json"))
    weights = Path(trained["checkpoint"])
    assert weights.is_file() and trained["iteration"] == 1 and trained["loss"] > 0 and not trained["interrupted"]

    # No --data: the song is seeded from the tensors the weight file was trained on, and says so.
    made = _json(run_script("generate.py", "--weights", weights, "--seconds", "1", "--out-dir", songs, "--json"))
    [song] = made["songs"]
    assert Path(song["path"]).is_file() and Path(song["plot"]).is_file()
    assert song["seconds"] == pytest.approx(1.0, abs=0.2)
    assert json.loads(Path(song["sidecar"]).read_text())["data"] == str(small_data)

    again = _json(run_script("re_train.py", "--weights", weights, *tiny[2:], "--json"))
    assert again["iteration"] == 2
    assert json.loads(Path(again["checkpoint"]).with_suffix("").with_suffix(".json").read_text())[
        "training"]["data_prefix"] == str(small_data)

    # No --reference: the song is judged against the music its network learnt from.
    judged = _json(run_script("evaluate.py", song["path"], "--json"))
    assert judged["reference_paths"] == [str(merged_audio_path(small_data))]
    table = run_script("evaluate.py", song["path"])
    assert f"measured against the training music in {merged_audio_path(small_data)}" in table.stdout


@pytest.mark.script
def test_a_weight_file_whose_tensors_are_gone_says_which_and_how_to_override(small_data, tmp_path):
    moved = tmp_path / "moved"
    moved.mkdir()
    for path in small_data.parent.glob(small_data.name + "_*"):
        shutil.copy(path, moved / path.name)
    weights_dir = tmp_path / "w"
    trained = _json(run_script("train.py", "--data", moved / small_data.name, "--hidden", "8", "-n", "1", "-e", "1",
                               "--weights-dir", weights_dir, "--json"))
    shutil.rmtree(moved)
    out = run_script("generate.py", "--weights", trained["checkpoint"], "--seconds", "1", "--out-dir", tmp_path / "s")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert str(moved / small_data.name) in out.stderr
    given = run_script("generate.py", "--weights", trained["checkpoint"], "--seconds", "1", "--out-dir", tmp_path / "s",
                       "--data", small_data, "--json")
    assert Path(_json(given)["songs"][0]["path"]).is_file()


@pytest.mark.script
def test_convert_reports_in_json(tmp_path):
    (tmp_path / "in").mkdir()
    tone(tmp_path / "in" / "a.wav", 3.0)
    (tmp_path / "in" / "b.mp3").write_bytes(b"not audio")
    done = _json(run_script("convert_directory.py", "--input", tmp_path / "in", "--output", tmp_path / "d",
                            "--block-size", "2000", "--clip-len", "1", "--json"))
    assert [u["source"] for u in done["used"]] == [str(tmp_path / "in" / "a.wav")]
    assert [s["source"] for s in done["skipped"]] == ["b.mp3"] and done["clips"] == done["shape"][0] > 0
    assert str(merged_audio_path(tmp_path / "d")) in done["outputs"] and all(Path(p).is_file() for p in done["outputs"])


def test_weight_files_from_before_the_record_take_the_original_tensors():
    ckpt = Checkpoint(model=ModelConfig(), iteration=1, epoch=1, mean=None, std=None)
    assert ckpt.data_prefix == DEFAULT_DATA and ckpt.normalisation == "bin"
    ckpt.training = {"normalisation": "sideways"}
    with pytest.raises(WeightsError, match="normalisation"):
        ckpt.normalisation
    ckpt.training = {"data_prefix": "datasets/mine"}
    assert ckpt.data_prefix == Path("datasets/mine")
    for damaged in (5, ["x"], ""):
        ckpt.training = {"data_prefix": damaged}
        with pytest.raises(WeightsError, match="--data"):
            ckpt.data_prefix


def _song(folder: Path, name: str, **info) -> Path:
    song = folder / f"{name}.wav"
    tone(song, 0.5)
    if info:
        song.with_suffix(".json").write_text(json.dumps(info))
    return song


def test_songs_of_networks_trained_on_different_music_need_a_reference(tmp_path, caplog):
    for name in ("a", "b"):
        tone(merged_audio_path(tmp_path / name), 0.5)
    one = _song(tmp_path, "one", weights="gone.weights.h5", data=str(tmp_path / "a"))
    two = _song(tmp_path, "two", data=str(tmp_path / "b"))
    same = _song(tmp_path, "same", data=str(tmp_path / ".." / tmp_path.name / "a"))
    assert default_reference([one, same]) == [merged_audio_path(tmp_path / "a")]
    with pytest.raises(DatasetError, match="different music"):
        default_reference([one, two])
    plain = _song(tmp_path, "plain")
    with caplog.at_level(logging.WARNING):
        assert default_reference([plain]) == [BUNDLED_MUSIC]
        assert default_reference([one, plain]) == [merged_audio_path(tmp_path / "a")]
    assert "plain.wav does not say" in caplog.text and "--reference" in caplog.text


def test_song_sidecars_of_every_earlier_version_read_as_one_record(tmp_path):
    from musicgen.config import BlockSpec
    from musicgen.formats.songs import SongInfo, UnreadableSidecar, read_song_info, song_info_from_doc

    block = BlockSpec(block_size=11025, overlap=True, representation="logmel", bands=64)
    # As the main before the record wrote it (a dict literal with the block's keys among the rest).
    written = {"weights": "weights/LSTM_NP_Weights_Iter-6.weights.h5", "iteration": 6, "cell": "lstm",
               "output": "mixture", "prenet_dropout": 0.0, "seed_clip": 3, "data": "datasets/np_overlap",
               "prime": None, "prime_start": 0.0, "echo_seconds": 10.0, "seconds": 50.0, **block.to_doc(),
               "temperature": 1.6, "bound": 0.0, "detail": "nearest", "random_seed": 0, "format": "wav"}
    info = song_info_from_doc(written)
    assert (info.block, info.step_seconds, info.seed_clip) == (block, block.hop_seconds, 3)
    assert info.weights == written["weights"]
    # Today's sidecars add the song's verdict (a fine code's tail noise and its memory, a learnt detail's
    # contrast) to what earlier ones said.
    assert song_info_from_doc(info.to_doc()) == info
    assert set(info.to_doc()) == set(written) | {"music_seconds", "judged_seconds", "tail_noise", "noise_memory",
                                                  "detail_contrast"}
    # The first sidecars said only where the echo ends and a block's length.
    assert song_info_from_doc({"echo_seconds": 5.0, "hop_seconds": 0.5}).step_seconds == 0.5
    # Values of the wrong kind that do not change a measure are ignored; ones that do are refused.
    assert song_info_from_doc({"seed_clip": "three", "temperature": 2}).temperature == 2.0
    assert song_info_from_doc({"seed_clip": "three"}).seed_clip is None
    with pytest.raises(SchemaError, match="echo_seconds"):
        song_info_from_doc({"echo_seconds": -1})
    song = tmp_path / "generated_song1.wav"
    assert read_song_info(song) is None
    song.with_suffix(".json").write_text("[1]")
    with pytest.raises(UnreadableSidecar):
        read_song_info(song)
    assert SongInfo().step_seconds == 0.25

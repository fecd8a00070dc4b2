"""--store frames and --representation frames: fine frames stored at conversion, a code of them fitted
when training starts, carried by the weight file, and decoded by Griffin-Lim over the frames."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from musicgen.audio.frame_code import cosine_basis, cosine_code, cosine_shape_problem, fit_code
from musicgen.audio.frames import block_frame_values
from musicgen.audio.io import from_int16, read_audio, read_pcm_wav
from musicgen.config import CODE_LEAD, BlockSpec, ModelConfig
from musicgen.data.convert import convert_directory
from musicgen.data.training_data import load_training_data
from musicgen.errors import DatasetError
from musicgen.evaluate.fidelity import fidelity
from musicgen.evaluate.measures import power_spectrogram, spectral_flatness, to_analysis_rate
from musicgen.generate.band_detail import learned_frame_detail
from musicgen.generate.resynthesis import round_trip

from helpers import convert_minuet, music_excerpt, run_script, small_config, train_config

FRAMES = dict(block_size=1024, frame=512, bands=32)  # 8 kHz: 8 frames of 64 ms every 16 ms to a block of 128 ms


def flatness(samples: np.ndarray) -> float:
    """evaluate.py's spectral flatness of 8 kHz samples."""
    return spectral_flatness(power_spectrogram(to_analysis_rate(samples, 8000)))


def frames_config(root, **block):
    cfg = small_config(root, **{**FRAMES, **block})
    return dataclasses.replace(cfg, audio=dataclasses.replace(cfg.audio, store="frames"))


@pytest.fixture(scope="module")
def frames_data(tmp_path_factory):
    """9.2 s of the bundled minuet at 8 kHz, stored as fine frames."""
    return convert_minuet(frames_config(tmp_path_factory.mktemp("frames")))


def test_a_conversion_stores_each_blocks_fine_frames_as_the_music_has_them(frames_data):
    data = load_training_data(frames_data.output_prefix)
    block = data.block
    assert data.store == "frames" and (block.frame, block.bands, block.frames_per_block) == (512, 32, 8)
    assert data.x.shape == (data.clips, data.clip_blocks + 1, 8 * 32)
    pcm, _ = read_pcm_wav(frames_data.input_dir / "wave" / "minuet.wav")
    samples = from_int16(pcm)
    for clip in (0, data.clips - 1):  # the first clip's frames reach back into silence, the others into music
        start = clip * data.clip_blocks * block.block_size
        want = block_frame_values(samples, start, data.clip_blocks + 1, block)
        np.testing.assert_allclose(data.x.read([clip])[0], want, atol=0.01, rtol=1e-3)  # float16
    info = json.loads(open(f"{frames_data.output_prefix}_info.json").read())
    assert info["store"] == "frames" and info["frame"] == 512 and info["bands"] == 32


@pytest.mark.parametrize("block, what", [(dict(block_size=1000), "1000 samples"), (dict(overlap=True), "overlapping"),
                                         (dict(frame=510), "510")])
def test_blocks_that_fine_frames_cannot_tile_are_refused_before_any_work(tmp_path, block, what):
    cfg = frames_config(tmp_path, **block)
    cfg.input_dir.mkdir()
    music_excerpt(cfg.input_dir / "minuet.mp3", 4.0)
    with pytest.raises(DatasetError, match=what):
        convert_directory(cfg, progress=False)
    assert not cfg.output_prefix.parent.exists() or not list(cfg.output_prefix.parent.iterdir())


def test_a_code_finds_the_subspace_its_values_vary_in(rng):
    directions = np.linalg.qr(rng.normal(size=(40, 3)))[0].T  # 3 orthonormal directions in 40 values
    values = rng.normal(size=(2000, 3)) * [5.0, 2.0, 1.0] @ directions + 7.0
    code = fit_code(np.array_split(values, 7), 3)
    np.testing.assert_allclose(code.decode(code.encode(values)), values, atol=1e-3)
    np.testing.assert_allclose(np.abs(code.basis @ directions.T), np.eye(3), atol=0.02)  # the largest first
    again = fit_code([values], 3)
    np.testing.assert_array_equal(code.basis, again.basis)  # the same music, the same signs
    wild = code.decode(np.full((1, 3), 1e3, dtype=np.float32))  # a draw far beyond anything the music did
    assert np.all(wild >= values.min(axis=0) - 1e-4) and np.all(wild <= values.max(axis=0) + 1e-4)


def test_a_cosine_code_keeps_each_frames_smooth_shape_and_needs_no_fit(rng):
    bands, frames, per_frame = 32, 8, 6
    smooth = np.cos(np.outer(rng.uniform(0, 2, size=(400 * frames)), np.linspace(0, np.pi, bands)))  # slow over bands
    blocks = (smooth + 3.0).reshape(400, frames * bands)
    code = cosine_code(np.array_split(blocks, 5), bands, frames, frames * per_frame)
    assert code.basis.shape == (frames * per_frame, frames * bands)
    np.testing.assert_allclose(code.basis @ code.basis.T, np.eye(frames * per_frame), atol=1e-5)
    back = code.decode(code.encode(blocks))
    assert np.abs(back - blocks).max() < 0.2  # slow shapes need few coefficients...
    spiky = blocks.copy()
    spiky[:, ::7] += 2.0
    assert np.abs(code.decode(code.encode(spiky)) - spiky).max() > 0.5  # ...and a comb of partials needs more
    assert np.array_equal(code.basis, cosine_code([blocks[::-1]], bands, frames, frames * per_frame).basis)
    together = cosine_code([blocks], bands, frames, 4 * per_frame, times=4)  # smooth in time too: half the values
    np.testing.assert_allclose(together.basis @ together.basis.T, np.eye(4 * per_frame), atol=1e-5)
    assert np.abs(together.decode(together.encode(blocks)) - blocks).max() > np.abs(back - blocks).max()
    assert cosine_shape_problem(bands, frames, 50, 4) and cosine_shape_problem(bands, frames, 8 * 33)
    assert cosine_shape_problem(bands, frames, 48, 9) and not cosine_shape_problem(bands, frames, 48, 4)


def test_a_learned_detail_brings_another_pieces_fine_frames_nearer_than_the_smooth_spread(frames_data, canon_8k,
                                                                                           tmp_path):
    """Fitted on the minuet's audio, the map from a frame's bands to its bins gives the canon back closer to itself
    at the longer windows, where the smooth spread fills the gaps between the partials."""
    block = dataclasses.replace(load_training_data(frames_data.output_prefix).block, representation="frames")
    detail = learned_frame_detail(frames_data.output_prefix, block)
    assert detail.weights.shape == (32 + 1, 512 // 2 + 1) and np.isfinite(detail.weights).all()
    smooth = fidelity(canon_8k, round_trip(canon_8k, block, np.random.default_rng(0))).lsd_db
    learned = fidelity(canon_8k, round_trip(canon_8k, block, np.random.default_rng(0), lend=detail.lend)).lsd_db
    assert learned[1] < smooth[1] - 2.0 and learned[2] < smooth[2] - 2.0, (smooth, learned)
    sharper = detail.with_contrast(1.5)  # --detail-contrast: more contrast within the bands, and back again
    rebuilt = {name: round_trip(canon_8k, block, np.random.default_rng(0), lend=lend.lend)
               for name, lend in (("fitted", detail), ("sharper", sharper))}
    assert flatness(rebuilt["sharper"]) < 0.9 * flatness(rebuilt["fitted"])
    np.testing.assert_allclose(sharper.with_contrast(1.0).weights, detail.weights, rtol=1e-5, atol=1e-6)
    with pytest.raises(DatasetError, match="convert_directory.py --store frames"):
        learned_frame_detail(tmp_path / "np_array", block)  # no clips as audio to fit on


@pytest.mark.script
def test_a_cosine_coded_network_rebuilds_its_basis_from_its_settings(frames_data, tmp_path):
    from musicgen.formats.weights import read_checkpoint

    out = run_script("train.py", "--data", frames_data.output_prefix, "--representation", "frames", "--code", 12,
                     "--code-basis", "dct", "-n", 1, "-e", 1, "--hidden", 8, "--weights-dir", tmp_path / "w",
                     "--img-dir", tmp_path / "img", "--preview-seconds", 0)
    assert out.returncode == 1 and "12 values do not divide among 8 frames" in out.stderr, out.stderr[-2000:]
    assert not (tmp_path / "w").exists() or not list((tmp_path / "w").glob("*.weights.h5"))
    out = run_script("train.py", "--data", frames_data.output_prefix, "--representation", "frames", "--code", 48,
                     "--code-basis", "dct", "--code-times", 4, "-n", 1, "-e", 1, "--hidden", 8, "--detail", "learned",
                     "--weights-dir", tmp_path / "w", "--img-dir", tmp_path / "img", "--preview-seconds", 2)
    assert out.returncode == 0, out.stderr[-2000:]
    weights = next((tmp_path / "w").glob("*.weights.h5"))
    sidecar = json.loads(weights.with_name(weights.name.replace(".weights.h5", ".json")).read_text())
    assert "basis" not in sidecar["code"] and sidecar["model"]["code_basis"] == "dct"
    ckpt = read_checkpoint(weights)
    assert ckpt.code.basis.shape == (48, 8 * 32) and ckpt.model.block.feature_dim == 48
    # 4 cosines over the frames x 12 over the bands
    np.testing.assert_allclose(ckpt.code.basis, cosine_basis(32, 8, 48, 4))
    assert ckpt.detail == "learned"  # its training chose the songs' detail: generate.py's default and the preview's
    assert read_audio(weights.parent / sidecar["preview"]["file"])[0].std() > 1e-3
    for detail in ([], ["--detail", "smooth"]):
        proc = run_script("generate.py", "--weights", weights, "--data", frames_data.output_prefix, "--seconds", 3,
                          "--random-seed", 1, *detail, "--out-dir", tmp_path / "songs")
        assert proc.returncode == 0, proc.stderr[-2000:]
    shaped, _ = read_audio(tmp_path / "songs" / "generated_song1.wav")
    smooth, _ = read_audio(tmp_path / "songs" / "generated_song2.wav")
    assert [json.loads((tmp_path / "songs" / f"generated_song{k}.json").read_text())["detail"] for k in (1, 2)] \
        == ["learned", "smooth"]
    # The same draws through the learnt map from each frame's bands to its bins: partials, not a wash.
    assert np.std(shaped) > 1e-3 and flatness(shaped) < 0.8 * flatness(smooth), (flatness(shaped), flatness(smooth))


@pytest.mark.script
@pytest.mark.trains
def test_a_frames_network_trains_carries_its_code_and_generates(frames_data, tmp_path):
    from musicgen.formats.weights import read_checkpoint
    from musicgen.train.loop import train

    model = ModelConfig(hidden=8, output="mixture", components=2, block=BlockSpec(representation="frames", code=24))
    weights = train(train_config(frames_data.output_prefix, tmp_path / "w", n_iter=1, n_epochs=1, temperature=0.7,
                                 tail_noise=0.3, noise_memory=0.6, detail="learned", detail_contrast=1.3), model,
                           verbose=0).checkpoint
    ckpt = read_checkpoint(weights)
    assert ckpt.model.block.feature_dim == 24 and ckpt.code.basis.shape == (24, 8 * 32)
    assert ckpt.mean.shape == (24,) and ckpt.model.block.bands == 32  # the data's bands, not the flag's default
    assert ckpt.code.low.shape == ckpt.code.high.shape == (8 * 32,)
    proc = run_script("generate.py", "--weights", weights, "--data", frames_data.output_prefix, "--seconds", 3,
                      "--random-seed", 1, "--out-dir", tmp_path / "songs")
    assert proc.returncode == 0, proc.stderr[-2000:]
    song, rate = read_audio(tmp_path / "songs" / "generated_song1.wav")
    assert rate == 8000 and len(song) == ckpt.model.block.blocks_in(3.0) * 1024 and np.std(song) > 1e-3
    said = json.loads((tmp_path / "songs" / "generated_song1.json").read_text())
    drawn = ("temperature", "tail_noise", "noise_memory", "detail_contrast")
    assert [said[key] for key in drawn] == [0.7, 0.3, 0.6, 1.3]  # the network's own, as its training chose
    exported = run_script("export.py", "--weights", weights, "--data", frames_data.output_prefix,
                          "--output", tmp_path / "exported")
    assert exported.returncode == 0, exported.stderr[-2000:]
    with np.load(tmp_path / "exported" / "player.npz") as arrays:  # a player draws the detail as generate.py does
        np.testing.assert_allclose(arrays["noise"], [1.0] * CODE_LEAD + [0.3] * (24 - CODE_LEAD))
        np.testing.assert_allclose(arrays["memory"], [0.0] * CODE_LEAD + [0.6] * (24 - CODE_LEAD))
        fitted = learned_frame_detail(frames_data.output_prefix, ckpt.model.block)  # the map at its contrast
        np.testing.assert_allclose(arrays["detail_weights"], 1.3 * fitted.weights, rtol=1e-4, atol=1e-6)
    primed = run_script("generate.py", "--weights", weights, "--prime", frames_data.input_dir / "minuet.mp3",
                        "--prime-start", 2, "--seconds", 2, "--out-dir", tmp_path / "songs")
    assert primed.returncode == 0, primed.stderr[-2000:]
    again = run_script("re_train.py", "--weights", weights, "--data", frames_data.output_prefix, "-n", 1, "-e", 1,
                       "--weights-dir", tmp_path / "w2", "--preview-seconds", 0)
    assert again.returncode == 0, again.stderr[-2000:]
    child = read_checkpoint(next((tmp_path / "w2").glob("*.weights.h5")))
    np.testing.assert_array_equal(child.code.basis, ckpt.code.basis)  # the parent's code, not a new fit
    # and the parent's way of drawing and hearing songs
    assert (child.temperature, child.tail_noise, child.noise_memory, child.detail, child.detail_contrast) \
        == (0.7, 0.3, 0.6, "learned", 1.3)


@pytest.mark.script
def test_frames_and_other_representations_refuse_each_others_data_in_one_line(frames_data, small_data, tmp_path):
    wrong = run_script("train.py", "--data", small_data, "--representation", "frames", "-n", 1, "-e", 1,
                       "--weights-dir", tmp_path / "w")
    assert wrong.returncode == 1 and "--store frames" in wrong.stderr and "Traceback" not in wrong.stderr
    other = run_script("train.py", "--data", frames_data.output_prefix, "--representation", "logmel", "-n", 1, "-e", 1,
                       "--weights-dir", tmp_path / "w")
    assert other.returncode == 1 and "--representation frames" in other.stderr and "Traceback" not in other.stderr
    too_many = run_script("train.py", "--data", frames_data.output_prefix, "--representation", "frames", "--code", 300,
                          "-n", 1, "-e", 1, "--weights-dir", tmp_path / "w")
    assert too_many.returncode == 1 and "--code 300" in too_many.stderr

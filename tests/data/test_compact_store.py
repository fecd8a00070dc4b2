"""convert_directory.py --store logmag: float16 log magnitudes in one file, X and Y read from it."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from musicgen.audio.representation import from_fft_features
from musicgen.config import BlockSpec, ModelConfig
from musicgen.data.convert import convert_directory
from musicgen.data.training_data import feature_stats, load_training_data
from musicgen.errors import DatasetError
from musicgen.train.loop import train

from helpers import music_excerpt, run_script, small_config, train_config

LOGMEL = dict(representation="logmel", bands=24)


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """The same 9.2 s of real music (overlapping blocks) converted both ways: (fft, logmag) prefixes."""
    root = tmp_path_factory.mktemp("compact")
    fft = small_config(root, overlap=True)
    fft.input_dir.mkdir()
    music_excerpt(fft.input_dir / "minuet.mp3", 9.2)
    convert_directory(fft, progress=False)
    compact = dataclasses.replace(fft, output_prefix=root / "compact" / "np_array",
                                  audio=dataclasses.replace(fft.audio, store="logmag"))
    convert_directory(compact, progress=False)
    return fft.output_prefix, compact.output_prefix


def copied(prefix: Path, folder: Path) -> Path:
    """A copy of the dataset at `prefix` in `folder` (to damage); its prefix there."""
    folder.mkdir()
    for path in prefix.parent.glob(f"{prefix.name}_*"):
        (folder / path.name).write_bytes(path.read_bytes())
    return folder / prefix.name


def tensor_bytes(prefix: Path) -> int:
    return sum(p.stat().st_size for p in prefix.parent.glob(f"{prefix.name}_[xy]*.npy"))


def test_one_float16_file_at_a_fourteenth_of_the_bytes(both):
    fft, compact = both
    assert not Path(f"{compact}_y.npy").exists()
    x = np.load(f"{compact}_x.npy")
    gruv = np.load(f"{fft}_x.npy")
    assert x.dtype == np.float16
    # One block more a clip (Y's last), the non-negative frequencies only, 2 bytes instead of 4, no Y file.
    assert x.shape == (gruv.shape[0], gruv.shape[1] + 1, 1000 // 2 + 1)
    assert tensor_bytes(compact) < tensor_bytes(fft) / 14
    assert json.loads(Path(f"{compact}_info.json").read_text())["store"] == "logmag"


def test_x_and_y_are_the_log_magnitudes_of_gruvs_tensors(both):
    fft, compact = both
    old, new = load_training_data(fft), load_training_data(compact)
    assert (new.clips, new.clip_blocks, new.block, new.store) == (old.clips, old.clip_blocks, old.block, "logmag")
    block = dataclasses.replace(old.block, representation="logmag")
    rows = np.array([3, 0, 2, 2])
    zero, one = np.zeros(block.bins, np.float32), np.ones(block.bins, np.float32)
    x, y = new.pairs(rows, block, zero, one)
    # float16 keeps a log magnitude to 1/1024 of its size: under 0.1 dB.
    np.testing.assert_allclose(x, from_fft_features(old.x[rows], block), atol=8e-3, rtol=1e-3)
    np.testing.assert_allclose(y, from_fft_features(old.y[rows], block), atol=8e-3, rtol=1e-3)
    np.testing.assert_array_equal(y[:, :-1], x[:, 1:])
    np.testing.assert_array_equal(new.inputs(rows, block), x)
    # Consecutive clips: Y's last block is the next clip's first.
    np.testing.assert_array_equal(new.pairs([0], block, zero, one)[1][0, -1], new.inputs([1], block)[0, 0])
    # Bands come from the stored magnitudes as they come from the FFT values.
    bands = dataclasses.replace(old.block, **LOGMEL)
    np.testing.assert_allclose(feature_stats(new, bands).mean, feature_stats(old, bands).mean, atol=2e-3)
    np.testing.assert_allclose(new.mean, feature_stats(old, block).mean, atol=2e-3)


def test_shards_of_the_compact_store_read_as_one(both, tmp_path):
    _, compact = both
    info = json.loads(Path(f"{compact}_info.json").read_text())
    cfg = small_config(tmp_path, overlap=True)
    cfg = dataclasses.replace(cfg, input_dir=compact.parent.parent / "in", shard_size=3,
                              audio=dataclasses.replace(cfg.audio, store="logmag"))
    convert_directory(cfg, progress=False)
    shards = json.loads(Path(f"{cfg.output_prefix}_info.json").read_text())["shards"]
    assert [sorted(s) for s in shards] == [["clips", "x"]] * len(shards) and len(shards) > 1
    assert sum(s["clips"] for s in shards) == info["clips"]
    whole, sharded = load_training_data(compact), load_training_data(cfg.output_prefix)
    rows = np.arange(info["clips"])[::-1]
    np.testing.assert_array_equal(sharded.x[rows], whole.x[rows])


@pytest.mark.trains
def test_a_network_trains_on_it_as_on_gruvs_tensors(both, tmp_path):
    fft, compact = both
    model = ModelConfig(cell="lstm", hidden=32, output="gaussian", block=BlockSpec(**LOGMEL))
    losses = [train(train_config(prefix, tmp_path / prefix.parent.name, n_iter=1, n_epochs=3), model,
                    verbose=0).history["loss"] for prefix in (fft, compact)]
    assert losses[0][-1] < losses[0][0]
    np.testing.assert_allclose(losses[1], losses[0], rtol=0.01)


@pytest.mark.script
@pytest.mark.trains
def test_a_network_of_fft_values_is_refused_in_one_line(both, tmp_path):
    fft, compact = both
    proc = run_script("train.py", "--data", compact, "-n", "1", "-e", "1", "--hidden", "8",
                      "--weights-dir", tmp_path, "--img-dir", tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "--store logmag" in proc.stderr
    assert not list(tmp_path.glob("*.weights.h5"))
    weights = train(train_config(fft, tmp_path / "w", n_iter=1, n_epochs=1), ModelConfig(hidden=8), verbose=0)
    proc = run_script("generate.py", "--weights", weights.checkpoint, "--data", compact, "--out-dir", tmp_path)
    assert proc.returncode == 1 and "--store logmag" in proc.stderr and proc.stderr.strip().count("\n") == 0


@pytest.mark.parametrize("damage, message", [
    ({"store": "mel"}, "store"),
    ({"block_size": None}, "block_size"),
])
def test_a_damaged_compact_info_file_is_refused(both, tmp_path, damage, message):
    prefix = copied(both[1], tmp_path / "copy")
    info_path = Path(f"{prefix}_info.json")
    info = json.loads(info_path.read_text())
    for key, value in damage.items():
        if value is None:
            del info[key]
        else:
            info[key] = value
    info_path.write_text(json.dumps(info))
    with pytest.raises(DatasetError, match=message):
        load_training_data(prefix)


def test_a_float32_file_where_float16_belongs_is_refused(both, tmp_path):
    prefix = copied(both[1], tmp_path / "copy")
    x = Path(f"{prefix}_x.npy")
    np.save(x, np.load(x).astype(np.float32))
    with pytest.raises(DatasetError, match="float16"):
        load_training_data(prefix)


def test_converting_over_gruvs_dataset_removes_its_y_file(both, tmp_path):
    fft, _ = both
    cfg = small_config(tmp_path, overlap=True)
    cfg = dataclasses.replace(cfg, input_dir=fft.parent.parent / "in")
    convert_directory(cfg, progress=False)
    assert Path(f"{cfg.output_prefix}_y.npy").exists()
    convert_directory(dataclasses.replace(cfg, audio=dataclasses.replace(cfg.audio, store="logmag")), progress=False)
    assert not Path(f"{cfg.output_prefix}_y.npy").exists()
    assert load_training_data(cfg.output_prefix).store == "logmag"

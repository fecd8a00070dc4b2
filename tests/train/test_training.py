import hashlib
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from musicgen.config import ModelConfig
from musicgen.errors import WeightsError
from musicgen.models.model import build_model
from musicgen.formats.weights import list_weight_files, load_weights, read_checkpoint
from musicgen.train.loop import train

from helpers import REPO, ctrl_c_as_from_a_terminal, run_script, temp_leftovers, train_config

TINY = dict(hidden=64)


@pytest.fixture(scope="module")
def trained(small_data, tmp_path_factory):
    """One LSTM trained for 2 iterations of 2 epochs; tests copy what they change."""
    wdir = tmp_path_factory.mktemp("weights")
    result = train(train_config(small_data, wdir), ModelConfig(cell="lstm", **TINY), verbose=0)
    return result, wdir


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.trains
def test_loss_falls_and_checkpoint_files_are_written(small_data, tmp_path, cell):
    tracked = (REPO / "img" / f"{cell}_model_plot.png").read_bytes()
    cfg = train_config(small_data, tmp_path, n_iter=3, n_epochs=4, img_dir=None)
    result = train(cfg, ModelConfig(cell=cell, **TINY), verbose=0)
    loss = result.history["loss"]
    assert len(loss) == 12
    assert loss[-1] < 0.8 * loss[0], loss
    label = cell.upper()
    # Only the latest iteration is kept: disk use does not grow per iteration.
    assert [p.name for p in list_weight_files(tmp_path)] == [f"{label}_NP_Weights_Iter-3.weights.h5"]
    for suffix in (".json", ".loss.csv", ".png"):
        assert (tmp_path / f"{label}_NP_Weights_Iter-3{suffix}").stat().st_size > 0
    csv = (tmp_path / f"{label}_NP_Weights_Iter-3.loss.csv").read_text().splitlines()
    assert csv[0] == "epoch,loss,learning_rate" and len(csv) == 13
    # The diagram goes beside the weights; the README's pictures in img/ are not redrawn by a run.
    assert (tmp_path / f"{cell}_model_plot.png").read_bytes()[:4] == b"\x89PNG"
    assert (REPO / "img" / f"{cell}_model_plot.png").read_bytes() == tracked
    meta = json.loads((tmp_path / f"{label}_NP_Weights_Iter-3.json").read_text())
    assert meta["model"]["cell"] == cell and meta["model"]["block_size"] == 1000
    assert meta["iteration"] == 3 and meta["epoch"] == 12
    assert "accuracy" not in json.dumps(meta["history"])


@pytest.mark.trains
def test_keep_every_keeps_milestones(small_data, tmp_path):
    train(train_config(small_data, tmp_path, n_iter=4, n_epochs=1, keep_every=2), ModelConfig(**TINY), verbose=0)
    assert [p.name for p in list_weight_files(tmp_path)] == [
        "LSTM_NP_Weights_Iter-2.weights.h5", "LSTM_NP_Weights_Iter-4.weights.h5"]


@pytest.mark.trains
def test_clipnorm_caps_each_update_and_the_weight_file_records_it(small_data, tmp_path):
    def fall(**kw):
        result = train(train_config(small_data, tmp_path / str(kw), n_iter=1, n_epochs=3, **kw), ModelConfig(**TINY),
                       verbose=0)
        return result.history["loss"][0] - result.history["loss"][-1], read_checkpoint(result.checkpoint)

    free, _ = fall()
    capped, ckpt = fall(clipnorm=1e-6)  # gradients scaled down to a millionth: RMSprop's steps all but vanish
    assert free > 0 and abs(capped) < 0.1 * free, (free, capped)
    assert ckpt.training["clipnorm"] == 1e-6


@pytest.mark.trains
def test_validation_split_records_validation_loss(small_data, tmp_path):
    result = train(train_config(small_data, tmp_path, n_iter=1, validation_split=0.25), ModelConfig(**TINY),
                   verbose=0)
    assert len(result.history["val_loss"]) == 2
    assert (tmp_path / "LSTM_NP_Weights_Iter-1.loss.csv").read_text().startswith("epoch,loss,val_loss")


@pytest.mark.trains
def test_weight_file_rebuilds_an_identical_model(trained, small_data):
    result, wdir = trained
    ckpt = read_checkpoint(result.checkpoint)
    rebuilt = build_model(ckpt.model)
    load_weights(rebuilt, result.checkpoint)
    x = np.load(f"{small_data}_x.npy")[:2]
    x = (x - ckpt.mean) / ckpt.std
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), result.model.predict(x, verbose=0), atol=1e-5)


@pytest.mark.trains
def test_retrain_continues_numbering_improves_and_overwrites_nothing(trained, small_data, tmp_path):
    result, wdir = trained
    start = result.checkpoint
    assert start.name == "LSTM_NP_Weights_Iter-2.weights.h5"
    before = hashlib.sha256(start.read_bytes()).hexdigest()
    loaded_loss = read_checkpoint(start).last_loss
    cfg = train_config(small_data, wdir, n_iter=3, n_epochs=2)
    again = train(cfg, ModelConfig(cell="lstm"), resume=start, verbose=0)
    assert again.checkpoint.name == "LSTM_NP_Weights_Iter-5.weights.h5"
    assert hashlib.sha256(start.read_bytes()).hexdigest() == before
    ckpt = read_checkpoint(again.checkpoint)
    assert ckpt.parent == start.name and ckpt.epoch == 10 and len(ckpt.history["loss"]) == 10
    assert ckpt.last_loss < loaded_loss


@pytest.mark.trains
def test_a_new_run_never_overwrites_an_existing_iteration(small_data, tmp_path):
    squatter = tmp_path / "LSTM_NP_Weights_Iter-1.weights.h5"
    squatter.write_bytes(b"the user's own file")
    result = train(train_config(small_data, tmp_path, n_iter=1, n_epochs=1), ModelConfig(**TINY), verbose=0)
    assert result.checkpoint.name == "LSTM_NP_Weights_Iter-1_v2.weights.h5"
    assert squatter.read_bytes() == b"the user's own file"


@pytest.mark.slow
def test_mismatches_are_clear_errors(trained, small_data, tmp_path):
    result, _ = trained
    with pytest.raises(WeightsError, match="holds a LSTM network; use re_train.py"):
        train(train_config(small_data, tmp_path), ModelConfig(cell="gru"), resume=result.checkpoint, verbose=0)
    from musicgen.data.convert import convert_directory

    from helpers import small_config

    cfg = small_config(tmp_path, block_size=500)
    cfg.input_dir.mkdir()
    (cfg.input_dir / "a.wav").symlink_to(next((small_data.parent.parent / "in" / "wave").glob("*.wav")))
    convert_directory(cfg, progress=False)
    with pytest.raises(WeightsError, match="1000 samples at 8000 Hz but the data has hard-edged blocks of 500"):
        train(train_config(cfg.output_prefix, tmp_path), ModelConfig(), resume=result.checkpoint, verbose=0)

    corrupt = tmp_path / "LSTM_NP_Weights_Iter-9.weights.h5"
    corrupt.write_bytes(b"\x89HDF\r\n" + b"junk" * 100)
    (tmp_path / "LSTM_NP_Weights_Iter-9.json").write_text(
        result.checkpoint.with_name("LSTM_NP_Weights_Iter-2.json").read_text())
    with pytest.raises(WeightsError, match="sha256 differs"):
        train(train_config(small_data, tmp_path), ModelConfig(), resume=corrupt, verbose=0)
    # A sidecar from before digests were recorded: the weights themselves are then what fails.
    meta = json.loads(corrupt.with_name("LSTM_NP_Weights_Iter-9.json").read_text())
    del meta["digest"]
    corrupt.with_name("LSTM_NP_Weights_Iter-9.json").write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="cannot load"):
        train(train_config(small_data, tmp_path), ModelConfig(), resume=corrupt, verbose=0)


@pytest.mark.script
def test_sigint_mid_training_leaves_a_loadable_checkpoint(small_data, tmp_path):
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "train.py"), "-n", "500", "-e", "1", "-b", "4", "--hidden", "64",
         "--data", small_data, "--weights-dir", tmp_path, "--img-dir", tmp_path / "img"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
        preexec_fn=ctrl_c_as_from_a_terminal)
    deadline = time.monotonic() + 120
    while not list_weight_files(tmp_path) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "interrupted: last completed iteration" in out and "Traceback" not in out
    files = list_weight_files(tmp_path)
    assert len(files) == 1
    ckpt = read_checkpoint(files[0])
    model = build_model(ckpt.model)
    load_weights(model, files[0])
    assert ckpt.iteration >= 1
    assert not temp_leftovers(tmp_path)


@pytest.mark.script
def test_cli_errors_are_one_line(trained, small_data, tmp_path):
    result, wdir = trained
    cases = [
        (["re_train.py", "--weights-dir", wdir, "--data", small_data], "no terminal for the menu; pass --weights"),
        (["re_train.py", "--weights-dir", tmp_path / "empty", "--data", small_data], "no weight files"),
        (["re_train_gru.py", "--weights", result.checkpoint, "--data", small_data], "use re_train.py"),
        (["re_train.py", "--weights", tmp_path / "nope.weights.h5"], "does not exist"),
        (["re_train.py", "--weights", result.checkpoint, "--hidden", "128", "--data", small_data],
         "--hidden 128 does not match"),
        (["train.py", "--data", tmp_path / "missing"], "run convert_directory.py first"),
    ]
    for args, message in cases:
        # Every case also points the output folders at tmp_path, so nothing reaches the repository.
        out = run_script(*args, "--img-dir", tmp_path / "img", *(
            [] if "--weights-dir" in args else ["--weights-dir", tmp_path / "w"]))
        assert out.returncode == 1, (args, out.stderr)
        assert message in out.stderr, (args, out.stderr)
        assert "Traceback" not in out.stderr and "termios" not in out.stderr
    for bad in (["-n", "0"], ["--validation-split", "1.5"], ["--lr", "-1"], ["-b", "x"]):
        out = run_script("train_gru.py", *bad)
        assert out.returncode == 2 and "error:" in out.stderr


@pytest.mark.script
def test_help_lists_the_original_flags():
    out = run_script("re_train_gru.py", "--help")
    for flag in ("-n N_ITER", "-e N_EPOCHS", "-b N_BATCH", "--weights PATH", "--data PREFIX", "--hidden",
                 "--layers", "--lr", "--validation-split", "--weights-dir"):
        assert flag in out.stdout


@pytest.mark.script
def test_arrow_key_menu_picks_the_weight_file_to_continue(trained, small_data, tmp_path):
    import shutil

    from helpers import DOWN, ENTER, run_in_pty

    result, wdir = trained
    for name in ("LSTM_NP_Weights_Iter-2", "LSTM_NP_Weights_Iter-7"):
        for suffix in (".weights.h5", ".json"):
            shutil.copy(result.checkpoint.with_name("LSTM_NP_Weights_Iter-2" + suffix), tmp_path / (name + suffix))
    # Iter-7 is a copy that claims iteration 7; choosing it (second entry) must continue at 8.
    meta = json.loads((tmp_path / "LSTM_NP_Weights_Iter-7.json").read_text())
    meta["iteration"] = 7
    (tmp_path / "LSTM_NP_Weights_Iter-7.json").write_text(json.dumps(meta))
    code, screen = run_in_pty("re_train.py", "-n", "1", "-e", "1", "--data", small_data, "--weights-dir", tmp_path,
                              "--img-dir", tmp_path / "img", keys=[DOWN, ENTER], wait_for="Choose the weight file")
    assert code == 0, screen
    assert "LSTM_NP_Weights_Iter-2.weights.h5" in screen and "LSTM 64x1" in screen
    assert (tmp_path / "LSTM_NP_Weights_Iter-8.weights.h5").exists()
    assert not (tmp_path / "LSTM_NP_Weights_Iter-3.weights.h5").exists()
    # The chosen starting file is left as it was.
    assert read_checkpoint(tmp_path / "LSTM_NP_Weights_Iter-7.weights.h5").iteration == 7


def test_a_signal_during_a_save_waits_for_the_save_to_finish():
    import os
    import threading

    from musicgen.signals import signals_deferred

    finished = []
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with signals_deferred():
            # Sent from another thread, as a signal TensorFlow's threads receive would arrive.
            sender = threading.Thread(target=os.kill, args=(os.getpid(), signal.SIGINT))
            sender.start()
            sender.join()
            time.sleep(0.2)  # the handler has run by now; without the deferral this raises here
            finished.append(True)
    assert finished == [True]
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.trains
def test_global_normalisation_shares_one_scale_and_generation_uses_it(small_data, tmp_path):
    result = train(train_config(small_data, tmp_path, n_iter=1, normalisation="global"), ModelConfig(**TINY),
                   verbose=0)
    ckpt = read_checkpoint(result.checkpoint)
    per_bin = read_checkpoint(train(train_config(small_data, tmp_path / "bin", n_iter=1), ModelConfig(**TINY),
                                    verbose=0).checkpoint)
    assert np.ptp(ckpt.std) == 0 and np.ptp(per_bin.std) > 0
    # The shared scale keeps the data's total variance: its square is the mean per-bin variance.
    assert ckpt.std[0] ** 2 == pytest.approx(np.mean(np.square(per_bin.std, dtype=np.float64)), rel=1e-5)
    assert ckpt.training["normalisation"] == "global"


@pytest.mark.script
def test_a_preset_sets_defaults_and_flags_override_it(small_data, tmp_path):
    preset = tmp_path / "quick.toml"
    preset.write_text('n_iter = 1\nn_epochs = 3\nlr = 0.01\nhidden = 32\nnormalisation = "global"\n')
    common = ["--data", small_data, "--img-dir", tmp_path / "img", "--config", preset]
    out = run_script("train.py", *common, "--weights-dir", tmp_path / "a")
    assert out.returncode == 0, out.stderr
    meta = json.loads((tmp_path / "a" / "LSTM_NP_Weights_Iter-1.json").read_text())
    assert len(meta["history"]["loss"]) == 3 and meta["model"]["hidden"] == 32
    assert meta["training"]["lr"] == 0.01 and meta["training"]["normalisation"] == "global"
    out = run_script("train.py", *common, "--weights-dir", tmp_path / "b", "-e", "1")
    assert out.returncode == 0, out.stderr
    assert len(json.loads((tmp_path / "b" / "LSTM_NP_Weights_Iter-1.json").read_text())["history"]["loss"]) == 1
    for text, message in (('n_iters = 2\n', "unknown option(s) n_iters"), ('lr = -1\n', "preset value lr"),
                          ('normalisation = "loud"\n', "choose from"), ('n_iter = \n', "cannot read preset")):
        preset.write_text(text)
        out = run_script("train.py", *common, "--weights-dir", tmp_path / "c")
        assert out.returncode == 2 and message in out.stderr, out.stderr
        assert "Traceback" not in out.stderr


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "config").glob("*.toml")))
def test_every_preset_is_valid(name):
    import tomllib

    from musicgen.cli.args import parse_with_preset
    from musicgen.cli.train_args import build_parser

    path = REPO / "config" / name
    args = parse_with_preset(build_parser("gru" if "gru" in name else "lstm", resume=False), ["--config", str(path)])
    for key, value in tomllib.loads(path.read_text()).items():
        assert getattr(args, key) == value


@pytest.mark.trains
def test_resuming_records_the_parents_normalisation_and_reads_the_old_spelling(trained, small_data, tmp_path):
    result, _ = trained
    parent = read_checkpoint(result.checkpoint)
    assert parent.training["normalisation"] == "bin"
    child = train(train_config(small_data, tmp_path, n_iter=1, n_epochs=1, normalisation="global"),
                  ModelConfig(cell="lstm"), resume=parent, verbose=0)
    meta = json.loads(child.checkpoint.with_name(child.checkpoint.name.replace(".weights.h5", ".json")).read_text())
    assert meta["training"]["normalisation"] == "bin" and "normalisation" in meta and "normalization" not in meta
    np.testing.assert_array_equal(read_checkpoint(child.checkpoint).std, parent.std)
    meta["normalization"] = meta.pop("normalisation")  # as sidecars before this spelling wrote it
    sidecar = child.checkpoint.with_name(child.checkpoint.name.replace(".weights.h5", ".json"))
    sidecar.write_text(json.dumps(meta))
    np.testing.assert_array_equal(read_checkpoint(child.checkpoint).std, parent.std)

"""Flags built from the config dataclasses: no flag given means the dataclass' own defaults, each flag
reaches its field, and presets name flags as users write them."""

from pathlib import Path

import pytest

from musicgen.cli.args import config_from, parse_with_preset
from musicgen.cli.train_args import build_parser as train_parser
from musicgen.config import AudioConfig, BlockSpec, ConvertConfig, GenerateConfig, ModelConfig, TrainConfig

from helpers import script_parser


def test_no_flags_give_the_original_defaults():
    convert = parse_with_preset(script_parser("convert_directory"), [])
    audio = config_from(AudioConfig, convert, block=config_from(BlockSpec, convert))
    assert config_from(ConvertConfig, convert, audio=audio) == ConvertConfig()
    assert config_from(GenerateConfig, parse_with_preset(script_parser("generate"), [])) == GenerateConfig()
    train = parse_with_preset(train_parser("lstm", resume=False), [])
    assert config_from(TrainConfig, train) == TrainConfig()
    assert config_from(ModelConfig, train, block=config_from(BlockSpec, train)) == ModelConfig()


def test_each_flag_reaches_its_field_and_a_resumed_shape_is_left_to_the_weight_file():
    args = parse_with_preset(train_parser("gru", resume=True),
                             ["-n", "7", "--data", "d/p", "--representation", "logmag", "--prenet-dropout", "0.2"])
    train = config_from(TrainConfig, args)
    model = config_from(ModelConfig, args, cell="gru", block=config_from(BlockSpec, args))
    assert train.n_iter == 7 and train.data_prefix == Path("d/p")
    assert model.block.representation == "logmag" and model.prenet_dropout == 0.2
    assert model.hidden == ModelConfig.hidden  # --hidden not given: None, the field keeps its default


def test_a_preset_names_flags_by_their_long_name_or_their_setting(tmp_path):
    preset = tmp_path / "p.toml"
    preset.write_text('data = "elsewhere"\nno_echo = true\nformat = "mp3"\ncount = 3\n')
    cfg = config_from(GenerateConfig, parse_with_preset(script_parser("generate"), ["--config", str(preset)]))
    assert (cfg.data_prefix, cfg.echo, cfg.song_format, cfg.count) == (Path("elsewhere"), False, "mp3", 3)
    preset.write_text('echo = false\nout_dir = "o"\n')
    cfg = config_from(GenerateConfig, parse_with_preset(script_parser("generate"), ["--config", str(preset),
                                                                                      "--out-dir", "p"]))
    assert cfg.echo is False and cfg.out_dir == Path("p")  # the command line wins


def test_a_preset_that_sets_one_flag_twice_is_refused(tmp_path, capsys):
    preset = tmp_path / "p.toml"
    preset.write_text('data = "a"\ndata_prefix = "b"\n')
    with pytest.raises(SystemExit) as stop:
        parse_with_preset(script_parser("generate"), ["--config", str(preset)])
    assert stop.value.code == 2 and "twice" in capsys.readouterr().err


def _edges(how):
    """The extreme values a flag accepts (just inside an open end)."""
    import math

    low = math.nextafter(how.low, math.inf) if how.low_open else how.low
    high = math.nextafter(how.high, -math.inf) if how.high_open else how.high
    return [low, high]


@pytest.mark.parametrize("cls", [ModelConfig, BlockSpec])
def test_every_value_a_flag_accepts_reads_back_from_the_weight_file_that_records_it(cls):
    import dataclasses

    from musicgen.formats.weights import _model_config, model_doc

    for f in dataclasses.fields(cls):
        how = f.metadata.get("option")
        if how is None or how.low is None:
            continue
        for value in _edges(how):
            value = type(f.default)(value) if isinstance(f.default, int) else value
            if cls is ModelConfig:
                model = dataclasses.replace(ModelConfig(), **{f.name: value})
            else:
                model = ModelConfig(block=dataclasses.replace(BlockSpec(), **{f.name: value}))
            assert _model_config(model_doc(model)) == model, (f.name, value)


def test_a_conversion_whose_clips_a_weight_file_could_not_record_is_refused(tmp_path):
    from musicgen.config import MAX_CLIP_BLOCKS
    from musicgen.data.convert import convert_directory
    from musicgen.errors import DatasetError

    audio = AudioConfig(block=BlockSpec(block_size=8), clip_len=20.0)
    assert audio.clip_blocks > MAX_CLIP_BLOCKS
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.wav").write_bytes(b"")
    with pytest.raises(DatasetError, match="--clip-len 20 makes clips of 110250 blocks"):
        convert_directory(ConvertConfig(input_dir=tmp_path / "in", output_prefix=tmp_path / "np", audio=audio),
                          progress=False)

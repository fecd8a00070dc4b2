"""config: every setting declared once, its default inside its own range, its block format's sizes derived."""

from __future__ import annotations

import dataclasses

import pytest

from musicgen import config
from musicgen.config import BlockSpec, ModelConfig

CONFIGS = [config.BlockSpec, config.AudioConfig, config.ConvertConfig, config.ModelConfig, config.TrainConfig,
           config.GenerateConfig, config.EvaluateConfig]


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_every_default_is_inside_its_own_range_and_choices(cls):
    for f in dataclasses.fields(cls):
        opt = f.metadata.get("option")
        if opt is None or f.default is None or isinstance(f.default, (bool, tuple)):
            continue
        if opt.choices is not None:
            assert f.default in opt.choices, f.name
        elif isinstance(f.default, (int, float)):
            assert opt.inside(f.default), f.name


def test_every_flag_is_declared_once():
    flags = {}
    for cls in (config.TrainConfig, config.ModelConfig, config.BlockSpec):
        for f in dataclasses.fields(cls):
            opt = f.metadata.get("option")
            for flag in opt.flags if opt else ():
                assert flag not in flags, (flag, f.name, flags.get(flag))
                flags[flag] = f.name


def test_the_originals_defaults_and_what_a_network_sees_of_a_block():
    block = BlockSpec()
    assert (block.sample_rate, block.block_size, block.overlap, block.representation) == (44100, 11025, False, "fft")
    assert ModelConfig().feature_dim == 2 * 11025 and ModelConfig().hidden == 1024
    assert BlockSpec(representation="logmel", bands=64).feature_dim == 64
    assert BlockSpec(overlap=True).hop == 11025 // 2
    assert config.CELL_NAMES == {"lstm": "LSTM", "gru": "GRU"}

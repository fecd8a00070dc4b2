"""The example player's decoder (examples/onnx_player.py: numpy and scipy only) turns what export.py writes of
every block format into the sound the toolkit's own decoder makes of it, on real music."""

from __future__ import annotations

import dataclasses
import importlib.util
import types

import numpy as np
import pytest

from musicgen.audio.frame_code import fit_code
from musicgen.audio.frames import frame_spec, log_bin_chunks
from musicgen.audio.representation import log_magnitudes, to_signal
from musicgen.audio.spectra import mel_filterbank
from musicgen.audio.streaming import SignalStream
from musicgen.config import BlockSpec
from musicgen.evaluate.fidelity import fidelity
from musicgen.export.decoder import decoder_for
from musicgen.generate.band_detail import fit_learned_detail

from helpers import FFT_BLOCKS, MAGNITUDE_BLOCKS, REPO, STREAM_RATE as RATE, fft_values, representation_values


def player_module():
    spec = importlib.util.spec_from_file_location("onnx_player", REPO / "examples" / "onnx_player.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


player = player_module()


def played(values, block, code=None, run=8, seed=0, **extra):
    """What the player makes of these blocks' values, pushed `run` blocks at a time as its songs push them; `extra`
    arrays beside the decoder's own (a learnt detail's)."""
    decoder, arrays = decoder_for(block, code)
    arrays.update(extra)
    export = types.SimpleNamespace(decoder=dataclasses.asdict(decoder), arrays=arrays)
    dec = player.Decoder(export, np.random.default_rng(seed))
    parts = [dec.push(values[i:i + run]) for i in range(0, len(values), run)]
    return np.concatenate([*parts, dec.flush()])[decoder.lead:]


@pytest.mark.parametrize("name", FFT_BLOCKS)
def test_fft_blocks_play_exactly_as_the_toolkit_decodes_them(canon_8k, name):
    block = FFT_BLOCKS[name]
    values = fft_values(canon_8k, block)
    np.testing.assert_allclose(played(values, block), to_signal(values, block), atol=1e-5)


@pytest.mark.parametrize("name", MAGNITUDE_BLOCKS)
def test_magnitude_blocks_play_as_generate_stream_decodes_them(canon_8k, name):
    """Given the same random starting phases, the player's Griffin-Lim is generate.py --stream's, sample for sample."""
    block = MAGNITUDE_BLOCKS[name]
    values = representation_values(canon_8k, block)
    stream = SignalStream(block, np.random.default_rng(0))
    ours = np.concatenate([*[stream.push(values[i:i + 8]) for i in range(0, len(values), 8)], stream.flush()])
    got = played(values, block, seed=0)
    assert len(got) == len(ours) and np.isfinite(got).all()
    # All but the end: at the end of a song of fine frames --stream plays silent frames past it, the player does not.
    end = len(ours) - 2 * block.block_size
    # Float rounding grows through the momentum rounds here and there: the difference is weighed as a whole.
    assert np.sqrt(np.mean(np.square(got[:end] - ours[:end]))) < 1e-2 * np.sqrt(np.mean(np.square(ours[:end])))
    assert all(g < d + 0.3 for g, d in zip(fidelity(canon_8k, got).lsd_db, fidelity(canon_8k, ours).lsd_db))


@pytest.mark.parametrize("name", ["logmel, overlapping (the main preset's)", "fine frames (the fine preset's)"])
def test_a_learned_detail_plays_as_generate_stream_shapes_it(canon_8k, name):
    block = MAGNITUDE_BLOCKS[name]
    values = representation_values(canon_8k, block)
    if block.representation == "frames":  # the map of each fine frame's bands, fitted on the frames' bins
        spec = frame_spec(block)
        detail = fit_learned_detail(log_bin_chunks(canon_8k, dataclasses.replace(spec, bands=0)), spec.mel_block())
    else:
        detail = fit_learned_detail([log_magnitudes(fft_values(canon_8k, block))], block)
    stream = SignalStream(block, np.random.default_rng(0))
    ours = np.concatenate([*[stream.push(values[i:i + 8], detail.lend(values[i:i + 8]))
                             for i in range(0, len(values), 8)], stream.flush()])
    got = played(values, block, detail_weights=detail.weights, detail_low=detail.low, detail_high=detail.high,
                 detail_filters=mel_filterbank(detail.block))
    assert len(got) == len(ours)
    end = len(ours) - 2 * block.block_size  # fine frames: --stream plays silent frames past a song's end
    assert np.sqrt(np.mean(np.square(got[:end] - ours[:end]))) < 1e-2 * np.sqrt(np.mean(np.square(ours[:end])))
    smooth = played(values, block)  # and the detail is heard: the partials come back
    assert np.sqrt(np.mean(np.square(got - smooth))) > 0.1 * np.sqrt(np.mean(np.square(smooth)))


def test_the_player_draws_each_value_at_the_exported_noise():
    """player.npz's `noise` (a code's --tail-noise): each value's normal draw scaled by its entry."""
    card = {"block_values": 4, "output": "gaussian", "paired": False, "log_scale_range": (-5.0, 2.0)}
    rng = np.random.default_rng(0)
    drawn = np.stack([player.draw(np.zeros(8, np.float32), card, 2.0, rng, np.array([1.0, 1.0, 0.25, 0.25]))
                      for _ in range(8000)])
    np.testing.assert_allclose(drawn.std(axis=0), [2.0, 2.0, 0.5, 0.5], rtol=0.04)


def test_the_player_carries_the_exported_memory_of_each_values_noise():
    """player.npz's `memory` (a code's --noise-memory): each value's draw correlates with its last by its entry, its
    spread as before."""
    card = {"block_values": 3, "output": "gaussian", "paired": False, "log_scale_range": (-5.0, 2.0)}
    rng, carry = np.random.default_rng(0), player.NoiseMemory(np.array([0.0, 0.5, 0.9]))
    drawn = np.stack([player.draw(np.zeros(6, np.float32), card, 2.0, rng, 1.0, carry) for _ in range(20000)])
    np.testing.assert_allclose(drawn.std(axis=0), 2.0, rtol=0.06)
    lag = np.mean(drawn[1:] * drawn[:-1], axis=0) / np.mean(drawn * drawn, axis=0)
    np.testing.assert_allclose(lag, [0.0, 0.5, 0.9], atol=0.03)


def test_a_coded_block_is_decoded_through_its_code_before_it_is_played(canon_8k):
    block = MAGNITUDE_BLOCKS["fine frames (the fine preset's)"]
    frames = representation_values(canon_8k, block)
    code = fit_code([frames], 96)
    _, arrays = decoder_for(block, code)
    arrays.update(mean=np.zeros(96, np.float32), std=np.ones(96, np.float32))
    decoded = player.block_values(code.encode(frames), arrays)
    np.testing.assert_allclose(decoded, code.decode(code.encode(frames)), atol=1e-4)
    rebuilt = to_signal(code.decode(code.encode(frames)), block, rng=np.random.default_rng(0))
    got = played(decoded, block)
    assert all(f < n + 0.5 for f, n in zip(fidelity(canon_8k, got).lsd_db, fidelity(canon_8k, rebuilt).lsd_db))


def test_hard_edged_magnitude_blocks_play_their_magnitudes(canon_8k):
    block = BlockSpec(sample_rate=RATE, block_size=1000, representation="logmag")
    values = representation_values(canon_8k, block)
    got = played(values, block).reshape(-1, block.block_size)
    # Every bin but the two whose phase a real signal cannot choose (0 Hz and Nyquist), as the toolkit's own.
    np.testing.assert_allclose(np.log(np.abs(np.fft.rfft(got)) + 1e-3)[:, 1:-1], values[:, 1:-1], atol=1e-3)

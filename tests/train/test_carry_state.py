"""--carry-state (truncated backpropagation through time): clips in order, the state carried between them."""

from __future__ import annotations

import numpy as np
import pytest

from musicgen.config import BlockSpec, ModelConfig
from musicgen.data.training_data import stream_order
from musicgen.errors import DatasetError
from musicgen.models.model import build_model, build_training_model, reset_states
from musicgen.train.loop import train

from helpers import train_config


def test_stream_order_reads_stretches_side_by_side():
    order = stream_order(np.arange(10), 3)
    assert order.reshape(-1, 3).tolist() == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]  # clip 9 is left out
    assert stream_order(np.arange(4), 1).tolist() == [0, 1, 2, 3]


@pytest.mark.slow
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_each_batch_continues_from_the_state_the_last_one_left_in_both_passes(cell, rng):
    # Scheduled sampling runs the network twice; both passes must start from the carried state, so with
    # the mix off (inference) two clips in a row compute what the network computes over both at once.
    cfg = ModelConfig(cell=cell, hidden=16, block=BlockSpec(representation="logmel", bands=6), output="gaussian")
    model, single = build_training_model(cfg, 0.5, stateful=True, batch_size=2)
    single.layers[-1].set_weights([w + rng.normal(0, 0.3, w.shape).astype(np.float32)
                                   for w in single.layers[-1].get_weights()])  # the output layer starts at zero
    plain = build_model(cfg)
    plain.set_weights(single.get_weights())
    x = rng.normal(size=(2, 6, 6)).astype(np.float32)
    whole = plain(x).numpy()
    first, second = model(x[:, :3]).numpy(), model(x[:, 3:]).numpy()
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, atol=1e-5)
    reset_states(model)
    np.testing.assert_allclose(model(x[:, 3:]).numpy(), plain(x[:, 3:]).numpy(), atol=1e-5)


@pytest.mark.trains
def test_training_with_carried_state_learns_and_writes_a_plain_weight_file(small_data, tmp_path):
    cfg = train_config(small_data, tmp_path, n_iter=1, n_epochs=4, n_batch=2, carry_state=True,
                       scheduled_sampling=0.5)
    result = train(cfg, ModelConfig(hidden=32, output="gaussian"), verbose=0)
    loss = result.history["loss"]
    assert loss[-1] < loss[0], loss
    from musicgen.generate.generation import load_generator

    ckpt, network = load_generator(result.checkpoint, 1)  # generation's own network takes the weights
    assert ckpt.training["carry_state"] is True
    with pytest.raises(DatasetError, match="--carry-state"):
        train(train_config(small_data, tmp_path / "v", carry_state=True, validation_split=0.25), ModelConfig(hidden=8),
              verbose=0)

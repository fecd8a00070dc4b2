"""The fast layers must be the stock Keras layers in everything but speed, and every engine of a
cell (stock Keras, our TensorFlow loop, the numpy step) the same function."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from musicgen.config import BlockSpec, ModelConfig
from musicgen.models.blas_network import BlasNetwork
from musicgen.models.cells import CELLS, cell_module
from musicgen.models.layers import TimeDistributedDense
from musicgen.models.model import build_model

LAYER_PAIRS = [(cell_module(c).Layer, cell_module(c).STOCK) for c in CELLS] + \
    [(TimeDistributedDense, keras.layers.Dense)]


@pytest.mark.parametrize("cell", CELLS)
def test_the_three_engines_of_a_cell_compute_the_same_function(rng, cell):
    """Stock Keras (the GPU engine), our TensorFlow loop (training on CPU) and the numpy step
    (generation on CPU), from one set of weights, over 9 steps from a non-zero state."""
    module = cell_module(cell)
    stock, fast = module.STOCK(16, return_sequences=True), module.Layer(16, return_sequences=True)
    for layer in (stock, fast):
        layer.build((None, None, 10))
    stock.set_weights([w + rng.normal(0, 0.3, w.shape).astype(np.float32) for w in stock.get_weights()])
    fast.set_weights(stock.get_weights())
    x = rng.normal(size=(3, 9, 10)).astype(np.float32)
    initial = [rng.normal(0, 0.5, (3, 16)).astype(np.float32) for _ in range(module.STATES)]
    engines = {"stock": stock(x, initial_state=initial).numpy(), "tensorflow": fast(x, initial_state=initial).numpy()}
    weights = module.numpy_weights(fast)
    projected = x @ weights.kernel + weights.bias
    state, steps = tuple(initial), []
    for t in range(x.shape[1]):
        state = module.numpy_step(projected[:, t], state, weights)
        steps.append(state[0])
    engines["numpy"] = np.stack(steps, axis=1)
    assert engines["stock"].std() > 0.1  # every unit in play, not saturated at a fixed point
    for name in ("tensorflow", "numpy"):
        np.testing.assert_allclose(engines[name], engines["stock"], rtol=1e-5, atol=1e-5, err_msg=name)


def test_the_folded_feedback_refuses_a_network_that_is_not_linear_between_output_and_input():
    cfg = ModelConfig(hidden=8, block=BlockSpec(block_size=6), clip_blocks=2)
    model = build_model(cfg, batch_size=1, stateful=True)
    network = BlasNetwork(model)
    network.reset(1)
    assert network.feedback()[0].shape == (8, 32)
    model.get_layer("time_distributed_dense_out").activation = keras.activations.relu
    with pytest.raises(ValueError, match="linear"):
        BlasNetwork(model).feedback()


@pytest.mark.parametrize("fast, stock", LAYER_PAIRS)
@pytest.mark.parametrize("jit", [False, True])
def test_outputs_and_gradients_equal_the_stock_layer(rng, fast, stock, jit):
    kwargs = {} if stock is keras.layers.Dense else {"return_sequences": True}
    a, b = fast(16, **kwargs), stock(16, **kwargs)
    a.build((None, None, 10))
    b.build((None, None, 10))
    b.set_weights([w + rng.normal(0, 0.3, w.shape).astype(np.float32) for w in b.get_weights()])
    a.set_weights(b.get_weights())
    x = tf.constant(rng.normal(size=(3, 7, 10)).astype(np.float32))
    target = tf.constant(rng.normal(size=(3, 7, 16)).astype(np.float32))
    weight = tf.range(1.0, 8.0)[None, :, None]  # every time step's gradient differs

    def grads(layer):
        @tf.function(jit_compile=jit)
        def f():
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(x)
                loss = tf.reduce_sum((y - target) ** 2 * weight)
            return [y] + tape.gradient(loss, [x] + layer.trainable_variables)

        return f()

    for got, want in zip(grads(a), grads(b)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-4 * float(np.abs(want).max()))


@pytest.mark.parametrize("fast, stock", LAYER_PAIRS)
def test_under_bfloat16_the_fast_layers_still_match_the_float32_stock_layer(rng, fast, stock):
    """--precision bfloat16: the same sums in bfloat16, so agreement to bfloat16's 8-bit mantissa."""
    kwargs = {} if stock is keras.layers.Dense else {"return_sequences": True}
    b = stock(16, **kwargs)
    b.build((None, None, 10))
    b.set_weights([w + rng.normal(0, 0.3, w.shape).astype(np.float32) for w in b.get_weights()])
    a = fast(16, dtype="mixed_bfloat16", **kwargs)
    a.build((None, None, 10))
    a.set_weights(b.get_weights())
    assert all(v.dtype == "float32" for v in a.weights)  # weights stay float32: the files are the same kind
    x = tf.constant(rng.normal(size=(3, 7, 10)).astype(np.float32))
    target = tf.constant(rng.normal(size=(3, 7, 16)).astype(np.float32))

    def grads(layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.cast(layer(x), tf.float32)
            loss = tf.reduce_sum((y - target) ** 2)
        return [y] + [tf.cast(g, tf.float32) for g in tape.gradient(loss, [x] + layer.trainable_variables)]

    for got, want in zip(grads(a), grads(b)):
        scale = float(np.abs(want.numpy()).max())
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=0.05, atol=0.03 * scale)

"""The fast layers must be the stock Keras layers in everything but speed."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from musicgen.layers import ProjectedGRU, ProjectedLSTM, TimeDistributedDense


@pytest.mark.parametrize("fast, stock", [(ProjectedLSTM, keras.layers.LSTM), (ProjectedGRU, keras.layers.GRU),
                                         (TimeDistributedDense, keras.layers.Dense)])
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


@pytest.mark.parametrize("fast, stock", [(ProjectedLSTM, keras.layers.LSTM), (ProjectedGRU, keras.layers.GRU),
                                         (TimeDistributedDense, keras.layers.Dense)])
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

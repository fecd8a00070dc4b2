"""keras LSTM and GRU layers whose input projection is one matmul over all time steps.

On CPU, Keras 3 runs a generic loop that multiplies every step's input by the
input kernel separately: with the default 1024 units that streams a 16 MB
kernel from memory 40 times per clip for a handful of rows. Here the input
projection of the whole sequence is one large matmul and the loop keeps only
`h @ recurrent_kernel`. The weights are the stock layers' own variables, so
files stay plain Keras weights, and tests check the outputs against the stock
layers. With a GPU the stock layers run cuDNN, which is faster still; they are used as is.
"""

from __future__ import annotations

import functools

import keras
from keras import ops


@functools.cache
def _gpu_present() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


def _use_stock(layer, mask) -> bool:
    return (mask is not None or _gpu_present() or layer.go_backwards or layer.unroll
            or layer.dropout or layer.recurrent_dropout or not layer.use_bias)


def _scan(step, initial_state: tuple, projected):
    """Run `step(state, z) -> state` over time; return Keras' (last, outputs, states) for h = state[0]."""
    import tensorflow as tf

    states = tf.scan(step, ops.transpose(projected, (1, 0, 2)), initializer=initial_state)
    outputs = ops.transpose(states[0], (1, 0, 2))
    return outputs[:, -1], outputs, [s[-1] for s in states]


@keras.saving.register_keras_serializable(package="musicgen")
class ProjectedLSTM(keras.layers.LSTM):
    """keras.layers.LSTM (gate order i, f, c, o) with the input matmul hoisted out of the loop."""

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if _use_stock(self, mask):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        cell = self.cell
        projected = ops.matmul(sequences, cell.kernel) + cell.bias

        def step(state, z_x):
            h, c = state
            z = z_x + ops.matmul(h, cell.recurrent_kernel)
            i, f, g, o = ops.split(z, 4, axis=-1)
            c = cell.recurrent_activation(f) * c + cell.recurrent_activation(i) * cell.activation(g)
            h = cell.recurrent_activation(o) * cell.activation(c)
            return h, c

        return _scan(step, tuple(initial_state), projected)


@keras.saving.register_keras_serializable(package="musicgen")
class ProjectedGRU(keras.layers.GRU):
    """keras.layers.GRU (reset_after, gate order z, r, h) with the input matmul hoisted out of the loop."""

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if _use_stock(self, mask) or not self.reset_after:
            return super().inner_loop(sequences, initial_state, mask, training=training)
        cell = self.cell
        input_bias, recurrent_bias = cell.bias[0], cell.bias[1]
        projected = ops.matmul(sequences, cell.kernel) + input_bias
        state0 = initial_state[0] if isinstance(initial_state, (list, tuple)) else initial_state

        def step(state, z_x):
            (h,) = state
            x_z, x_r, x_h = ops.split(z_x, 3, axis=-1)
            r_z, r_r, r_h = ops.split(ops.matmul(h, cell.recurrent_kernel) + recurrent_bias, 3, axis=-1)
            z = cell.recurrent_activation(x_z + r_z)
            r = cell.recurrent_activation(x_r + r_r)
            candidate = cell.activation(x_h + r * r_h)
            return (z * h + (1.0 - z) * candidate,)

        return _scan(step, (state0,), projected)

"""The GRU cell (keras' reset_after form, gate order z, r, h; sigmoid gates, tanh candidate):
its Keras layer, its TensorFlow time loop and its numpy step."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops
from scipy.special import expit as sigmoid

from musicgen.models.cells import NumpyWeights, use_stock_loop

GATES, STATES = 3, 1
STOCK = keras.layers.GRU


def recurrence(projected, h0, recurrent_kernel, recurrent_bias):
    """GRU time loop over pre-projected inputs, with a hand-written backward pass.

    As for the LSTM, the recurrent kernel's gradient is one matmul after the loop.
    Returns hs (batch, time, units), h_T.
    """
    import tensorflow as tf

    @tf.custom_gradient
    def run(projected, h0, kernel, bias):
        x_seq = tf.transpose(projected, (1, 0, 2))
        zeros = tf.zeros_like(h0)

        def forward(state, m_x):
            h = state[0]
            x_z, x_r, x_h = tf.split(m_x, 3, axis=-1)
            r_z, r_r, r_h = tf.split(tf.matmul(h, kernel) + bias, 3, axis=-1)
            z = tf.sigmoid(x_z + r_z)
            r = tf.sigmoid(x_r + r_r)
            candidate = tf.tanh(x_h + r * r_h)
            return z * h + (1.0 - z) * candidate, z, r, candidate, r_h

        hs, zs, rs, cands, r_hs = tf.scan(forward, x_seq, initializer=(h0, zeros, zeros, zeros, zeros))

        def grad(d_out, d_h_last):
            h_prev = tf.concat([h0[None], hs[:-1]], axis=0)
            kernel_t = tf.transpose(kernel)

            def backward(carry, elems):
                dh_next = carry[0]
                dh_out, z, r, cand, r_h, hp = elems
                dh = dh_out + dh_next
                d_pre_z = dh * (hp - cand) * z * (1.0 - z)
                d_pre_h = dh * (1.0 - z) * (1.0 - cand * cand)
                d_pre_r = d_pre_h * r_h * r * (1.0 - r)
                d_m_h = tf.concat([d_pre_z, d_pre_r, d_pre_h * r], axis=-1)
                d_m_x = tf.concat([d_pre_z, d_pre_r, d_pre_h], axis=-1)
                return dh * z + tf.matmul(d_m_h, kernel_t), d_m_h, d_m_x

            units3 = tf.shape(kernel)[1]
            empty = tf.zeros(tf.stack([tf.shape(h0)[0], units3]), h0.dtype)
            dh_prevs, d_m_hs, d_m_xs = tf.scan(
                backward, (tf.transpose(d_out, (1, 0, 2)), zs, rs, cands, r_hs, h_prev),
                initializer=(d_h_last, empty, empty), reverse=True)
            flat_dm = tf.reshape(d_m_hs, (-1, units3))
            d_kernel = tf.matmul(tf.reshape(h_prev, (-1, tf.shape(h0)[1])), flat_dm, transpose_a=True)
            return (tf.transpose(d_m_xs, (1, 0, 2)), dh_prevs[0], d_kernel, tf.reduce_sum(flat_dm, axis=0))

        return (tf.transpose(hs, (1, 0, 2)), hs[-1]), grad

    return run(projected, h0, recurrent_kernel, recurrent_bias)


@keras.saving.register_keras_serializable(package="musicgen")
class ProjectedGRU(keras.layers.GRU):
    """keras.layers.GRU with the input matmul hoisted out of the loop and `recurrence` inside it."""

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if use_stock_loop(self, mask) or not self.reset_after:
            return super().inner_loop(sequences, initial_state, mask, training=training)
        import tensorflow as tf

        cell = self.cell
        projected = ops.matmul(sequences, cell.kernel) + cell.bias[0]
        h0 = initial_state[0] if isinstance(initial_state, (list, tuple)) else initial_state
        outputs, h = recurrence(projected, h0, tf.convert_to_tensor(cell.recurrent_kernel),
                                tf.convert_to_tensor(cell.bias[1]))
        return h, outputs, [h]


Layer = ProjectedGRU


def numpy_weights(layer) -> NumpyWeights:
    """A reset_after GRU layer's kernel, recurrent kernel and its two biases."""
    if not layer.reset_after:
        raise ValueError(f"layer '{layer.name}': only reset_after GRUs (keras' default) run on numpy")
    kernel, recurrent_kernel, bias = layer.get_weights()
    return NumpyWeights(kernel, recurrent_kernel, bias[0], bias[1])


def numpy_step(projected: np.ndarray, state: tuple, weights: NumpyWeights) -> tuple:
    """(h,) after one step, given the step's input projection x @ kernel + bias[0]."""
    (h,) = state
    x_z, x_r, x_h = np.split(projected, 3, axis=-1)
    r_z, r_r, r_h = np.split(h @ weights.recurrent_kernel + weights.recurrent_bias, 3, axis=-1)
    z = sigmoid(x_z + r_z)
    candidate = np.tanh(x_h + sigmoid(x_r + r_r) * r_h)
    return (z * h + (1.0 - z) * candidate,)

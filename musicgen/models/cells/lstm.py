"""The LSTM cell (keras' gate order i, f, c, o; sigmoid gates, tanh candidate and output):
its Keras layer, its TensorFlow time loop and its numpy step."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops
from scipy.special import expit as sigmoid

from musicgen.models.cells import NumpyWeights, use_stock_loop

GATES, STATES = 4, 2
STOCK = keras.layers.LSTM


def recurrence(projected, h0, c0, recurrent_kernel):
    """LSTM time loop over pre-projected inputs, with a hand-written backward pass.

    Autodiff through the loop would add the recurrent kernel's gradient into a
    units x 4 units buffer at every step; here it is one matmul over all steps after the
    backward loop. Returns hs (batch, time, units), h_T, c_T.
    """
    import tensorflow as tf

    @tf.custom_gradient
    def run(projected, h0, c0, kernel):
        z_seq = tf.transpose(projected, (1, 0, 2))
        zeros = tf.zeros_like(h0)

        def forward(state, z_x):
            h, c = state[0], state[1]
            i, f, g, o = tf.split(z_x + tf.matmul(h, kernel), 4, axis=-1)
            i, f, g, o = tf.sigmoid(i), tf.sigmoid(f), tf.tanh(g), tf.sigmoid(o)
            c = f * c + i * g
            tanh_c = tf.tanh(c)
            return o * tanh_c, c, i, f, g, o, tanh_c

        hs, cs, i_s, f_s, g_s, o_s, tanh_cs = tf.scan(
            forward, z_seq, initializer=(h0, c0, zeros, zeros, zeros, zeros, zeros))

        def grad(d_out, d_h_last, d_c_last):
            c_prev = tf.concat([c0[None], cs[:-1]], axis=0)
            h_prev = tf.concat([h0[None], hs[:-1]], axis=0)
            kernel_t = tf.transpose(kernel)

            def backward(carry, elems):
                dh_next, dc_next, _ = carry
                dh_out, i, f, g, o, tanh_c, cp = elems
                dh = dh_out + dh_next
                dc = dc_next + dh * o * (1.0 - tanh_c * tanh_c)
                dz = tf.concat([dc * g * i * (1.0 - i), dc * cp * f * (1.0 - f),
                                dc * i * (1.0 - g * g), dh * tanh_c * o * (1.0 - o)], axis=-1)
                return tf.matmul(dz, kernel_t), dc * f, dz

            units4 = tf.shape(kernel)[1]
            init = (d_h_last, d_c_last, tf.zeros(tf.stack([tf.shape(h0)[0], units4]), h0.dtype))
            dh_prevs, dc_prevs, dzs = tf.scan(
                backward, (tf.transpose(d_out, (1, 0, 2)), i_s, f_s, g_s, o_s, tanh_cs, c_prev),
                initializer=init, reverse=True)
            flat_h = tf.reshape(h_prev, (-1, tf.shape(h0)[1]))
            flat_dz = tf.reshape(dzs, (-1, units4))
            d_kernel = tf.matmul(flat_h, flat_dz, transpose_a=True)
            return tf.transpose(dzs, (1, 0, 2)), dh_prevs[0], dc_prevs[0], d_kernel

        return (tf.transpose(hs, (1, 0, 2)), hs[-1], cs[-1]), grad

    return run(projected, h0, c0, recurrent_kernel)


@keras.saving.register_keras_serializable(package="musicgen")
class ProjectedLSTM(keras.layers.LSTM):
    """keras.layers.LSTM with the input matmul hoisted out of the loop and `recurrence` inside it."""

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if use_stock_loop(self, mask):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        import tensorflow as tf

        cell = self.cell
        projected = ops.matmul(sequences, cell.kernel) + cell.bias
        h0, c0 = initial_state
        outputs, h, c = recurrence(projected, h0, c0, tf.convert_to_tensor(cell.recurrent_kernel))
        return h, outputs, [h, c]


Layer = ProjectedLSTM


def numpy_weights(layer) -> NumpyWeights:
    """An LSTM layer's kernel, recurrent kernel and bias."""
    kernel, recurrent_kernel, bias = layer.get_weights()
    return NumpyWeights(kernel, recurrent_kernel, bias)


def numpy_step(projected: np.ndarray, state: tuple, weights: NumpyWeights) -> tuple:
    """(h, c) after one step, given the step's input projection x @ kernel + bias."""
    h, c = state
    i, f, g, o = np.split(projected + h @ weights.recurrent_kernel, 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c), c

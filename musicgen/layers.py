"""Keras layers with the stock layers' weights, arranged for speed on 2-D matmuls.

TimeDistributedDense: a Dense applied to every time step as one (batch*time) x
features matmul. Keras' Dense on a 3-D tensor becomes a broadcasting batch
matmul that re-reads the kernel per batch item, and Keras 3's TimeDistributed
loops over the time steps.

ProjectedLSTM / ProjectedGRU: keras LSTM and GRU whose input projection is one
matmul over all time steps and whose backward pass through time is written out,
so the recurrent kernel's gradient is one matmul after the loop.

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
def gpu_present() -> bool:
    """Whether TensorFlow sees a GPU (then the stock layers run cuDNN)."""
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


def _use_stock(layer, mask) -> bool:
    return (mask is not None or gpu_present() or layer.go_backwards or layer.unroll
            or layer.dropout or layer.recurrent_dropout or not layer.use_bias)


@keras.saving.register_keras_serializable(package="musicgen")
class TimeDistributedDense(keras.layers.Dense):
    """keras Dense on (batch, time, features) as one 2-D matmul; same kernel and bias."""

    def call(self, inputs):
        shape = ops.shape(inputs)
        flat = ops.reshape(inputs, (-1, shape[-1]))
        return ops.reshape(super().call(flat), (shape[0], shape[1], self.units))


def _lstm_recurrence(projected, h0, c0, recurrent_kernel):
    """LSTM time loop over pre-projected inputs, with a hand-written backward pass.

    Autodiff through the loop would add the recurrent kernel's gradient into a
    16 MB buffer at every step; here it is one matmul over all steps after the
    backward loop. Gate order i, f, c, o and sigmoid/tanh, as keras.layers.LSTM.
    Returns hs (batch, time, units), h_T, c_T.
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


def _gru_recurrence(projected, h0, recurrent_kernel, recurrent_bias):
    """GRU (reset_after) time loop over pre-projected inputs, with a hand-written backward pass.

    As for the LSTM, the recurrent kernel's gradient is one matmul after the loop.
    Gate order z, r, h and sigmoid/tanh, as keras.layers.GRU. Returns hs, h_T.
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
class ProjectedLSTM(keras.layers.LSTM):
    """keras.layers.LSTM (gate order i, f, c, o) with the input matmul hoisted out of the loop."""

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if _use_stock(self, mask):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        import tensorflow as tf

        cell = self.cell
        if cell.activation is not keras.activations.tanh or cell.recurrent_activation is not keras.activations.sigmoid:
            return super().inner_loop(sequences, initial_state, mask, training=training)
        projected = ops.matmul(sequences, cell.kernel) + cell.bias
        h0, c0 = initial_state
        outputs, h, c = _lstm_recurrence(projected, h0, c0, tf.convert_to_tensor(cell.recurrent_kernel))
        return h, outputs, [h, c]


@keras.saving.register_keras_serializable(package="musicgen")
class ProjectedGRU(keras.layers.GRU):
    """keras.layers.GRU (reset_after, gate order z, r, h) with the input matmul hoisted out of the loop."""

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if _use_stock(self, mask) or not self.reset_after:
            return super().inner_loop(sequences, initial_state, mask, training=training)
        import tensorflow as tf

        cell = self.cell
        if cell.activation is not keras.activations.tanh or cell.recurrent_activation is not keras.activations.sigmoid:
            return super().inner_loop(sequences, initial_state, mask, training=training)
        projected = ops.matmul(sequences, cell.kernel) + cell.bias[0]
        h0 = initial_state[0] if isinstance(initial_state, (list, tuple)) else initial_state
        outputs, h = _gru_recurrence(projected, h0, tf.convert_to_tensor(cell.recurrent_kernel),
                                     tf.convert_to_tensor(cell.bias[1]))
        return h, outputs, [h]


@keras.saving.register_keras_serializable(package="musicgen")
class OwnPredictionMix(keras.layers.Layer):
    """Replaces a share of the input blocks by the network's own prediction of them (training only).

    Call with (inputs, predictions): the prediction made at step t-1 is the network's guess of
    block t. Predictions are drawn as generation draws them (a sample for a "gaussian" output)
    and are constants to the gradient. Weightless, so weight files stay the plain network's.
    """

    def __init__(self, rate: float, block_size: int, gaussian: bool, log_scale_min: float,
                 log_scale_max: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.block_size, self.gaussian = float(rate), int(block_size), bool(gaussian)
        self.log_scale_min, self.log_scale_max = float(log_scale_min), float(log_scale_max)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, predictions, training=None):
        if not training:
            return inputs
        n = self.block_size
        predictions = ops.cast(predictions, inputs.dtype)  # the output layer may compute in bfloat16
        guess = ops.stop_gradient(predictions[..., : 2 * n])
        if self.gaussian:
            log_scale = ops.clip(ops.stop_gradient(predictions[..., 2 * n:]), self.log_scale_min, self.log_scale_max)
            scale = ops.exp(ops.concatenate([log_scale, log_scale], axis=-1))
            guess = guess + scale * keras.random.normal(ops.shape(guess), dtype=guess.dtype, seed=self.seed_generator)
        shifted = ops.concatenate([inputs[:, :1], guess[:, :-1]], axis=1)
        shape = ops.shape(inputs)
        chosen = keras.random.uniform((shape[0], shape[1], 1), seed=self.seed_generator) < self.rate
        return ops.where(chosen, shifted, inputs)

    def compute_output_shape(self, inputs_shape, predictions_shape):
        return inputs_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "block_size": self.block_size,
                "gaussian": self.gaussian, "log_scale_min": self.log_scale_min,
                "log_scale_max": self.log_scale_max}

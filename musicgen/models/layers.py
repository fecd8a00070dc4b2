"""Keras layers of the network besides the recurrent ones (those live in cells/).

TimeDistributedDense: a Dense applied to every time step as one (batch*time) x
features matmul. Keras' Dense on a 3-D tensor becomes a broadcasting batch
matmul that re-reads the kernel per batch item, and Keras 3's TimeDistributed
loops over the time steps.

OwnPredictionMix: scheduled sampling's input mix, a weightless layer.

CarriedState: the state a stateful recurrent layer holds, as tensors (--carry-state training).
"""

from __future__ import annotations

from dataclasses import asdict

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="musicgen")
class TimeDistributedDense(keras.layers.Dense):
    """keras Dense on (batch, time, features) as one 2-D matmul; same kernel and bias."""

    def call(self, inputs):
        shape = ops.shape(inputs)
        flat = ops.reshape(inputs, (-1, shape[-1]))
        # A static batch size stays static: a stateful layer's state has it, and its time loop must match.
        batch = inputs.shape[0] if inputs.shape[0] is not None else shape[0]
        return ops.reshape(super().call(flat), (batch, shape[1], self.units))


@keras.saving.register_keras_serializable(package="musicgen")
class OwnPredictionMix(keras.layers.Layer):
    """Replaces a share of the input blocks by the network's own prediction of them (training only).

    Call with (inputs, predictions): the prediction made at step t-1 is the network's guess of
    block t. Predictions are drawn as generation draws them (a sample for a sampled output)
    and are constants to the gradient. Weightless, so weight files stay the plain network's.
    """

    def __init__(self, rate: float, layout, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.layout = float(rate), layout
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, predictions, training=None):
        if not training:
            return inputs
        from musicgen.models.outputs import draw_keras

        predictions = ops.stop_gradient(ops.cast(predictions, inputs.dtype))  # the output may compute in bfloat16
        guess = draw_keras(predictions, self.layout, self.seed_generator)
        shifted = ops.concatenate([inputs[:, :1], guess[:, :-1]], axis=1)
        shape = ops.shape(inputs)
        chosen = keras.random.uniform((shape[0], shape[1], 1), seed=self.seed_generator) < self.rate
        return ops.where(chosen, shifted, inputs)

    def compute_output_shape(self, inputs_shape, predictions_shape):
        return inputs_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "layout": asdict(self.layout)}

    @classmethod
    def from_config(cls, config):
        from musicgen.models.outputs import Layout

        return cls(**{**config, "layout": Layout(**config["layout"])})


@keras.saving.register_keras_serializable(package="musicgen")
class CarriedState(keras.layers.Layer):
    """The state a stateful recurrent layer holds now, as tensors: constants to the gradient, so
    backpropagation stops at the start of each batch (truncated backpropagation through time).

    Call it on the model's input (for ordering only). Weightless; the recurrent layer is held by
    a function, not as a sublayer, so the weight file stays the plain network's.
    """

    def __init__(self, recurrent, **kwargs):
        super().__init__(**kwargs)
        self._states = lambda: recurrent.states

    def call(self, inputs):
        return [ops.stop_gradient(ops.convert_to_tensor(state)) for state in self._states()]

    def compute_output_shape(self, inputs_shape):
        return [tuple(state.shape) for state in self._states()]

"""The network as one step, for running outside the toolkit: (block, state, pre-net mask) in, (distribution,
next state) out, as a TensorFlow function over the Keras model's own layers and weights.

The recurrent state of every layer travels as one flat vector (each layer's states in Keras' order: an LSTM's
h then c, a GRU's h), so a player needs to know only its width. The pre-net dropout, which stays on when songs
are made, is an input: the player draws the mask (0 for a dropped unit, 1 / (1 - rate) for a kept one) and the
step stays a pure function, the same on every runtime.
"""

from __future__ import annotations

from musicgen.models.cells import cell_module
from musicgen.models.model import network_parts

INPUTS = ("block", "state", "prenet_mask")
OUTPUTS = ("distribution", "next_state")


class SingleStep:
    """One step of `model` (built by models.model.build_model, weights loaded), with its input signature."""

    def __init__(self, model):
        self.parts = network_parts(model)
        self.block_values = int(self.parts.dense_in.kernel.shape[0])
        self.prenet_units = int(self.parts.dense_in.units)
        self.distribution_values = int(self.parts.dense_out.units)
        # (layer, cell, widths of its states) in the order the state vector holds them
        self.layers = [(layer, layer.units, cell_module(cell).STATES) for layer, cell in self.parts.recurrent]
        self.state_values = sum(units * states for _, units, states in self.layers)

    def signature(self) -> list:
        """The TensorSpecs of the step's inputs, any number of songs at once."""
        import tensorflow as tf

        widths = (self.block_values, self.state_values, self.prenet_units)
        return [tf.TensorSpec([None, width], tf.float32, name=name) for name, width in zip(INPUTS, widths)]

    def __call__(self, block, state, prenet_mask) -> dict:
        """{distribution, next_state} after one step from `block` with the layers' state `state`."""
        import tensorflow as tf

        parts = self.parts
        hidden = (tf.matmul(block, parts.dense_in.kernel) + parts.dense_in.bias) * prenet_mask
        states, start = [], 0
        for layer, units, count in self.layers:
            own = [state[:, start + k * units:start + (k + 1) * units] for k in range(count)]
            start += units * count
            hidden, carried = layer.cell(hidden, own, training=False)
            states.extend(carried if isinstance(carried, (list, tuple)) else [carried])
        distribution = tf.matmul(hidden, parts.dense_out.kernel) + parts.dense_out.bias
        return {"distribution": tf.identity(distribution, name="distribution"),
                "next_state": tf.concat(states, axis=-1, name="next_state")}

    def function(self):
        """The step as a tf.function of its signature."""
        import tensorflow as tf

        return tf.function(self.__call__, input_signature=self.signature())

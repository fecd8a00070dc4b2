"""The trained network's forward pass on numpy's BLAS, for generating block by block.

A generation step multiplies 1-8 rows by every weight matrix, so it is bound by
how fast the weights stream from memory. Two things make that fast:

- OpenBLAS streams the weights of such thin products about twice as fast as
  TensorFlow's CPU kernels (bench/bench_generate.py compares the two engines).
- When the network runs on its own output, the output Dense (units -> 22050) feeds
  the input Dense (22050 -> units) and the first recurrent layer's input kernel, all
  linear: their product is one (units x gates*units) matrix, 4 MB per gate instead of
  2 x 90 MB. The recurrence steps on that matrix alone, and the 22050 outputs of every
  step are made at the end in one large, compute-bound product.

Same weights, same gate equations as keras.layers.LSTM/GRU; tests check the outputs
against the Keras model's re-prediction over the growing sequence.
"""

from __future__ import annotations

import numpy as np

from musicgen.models.cells import cell_module
from musicgen.models.model import network_parts


class BlasNetwork:
    """Dense -> LSTM/GRU layers -> Dense of a Keras model, run on numpy with its state carried."""

    def __init__(self, model, rng: np.random.Generator | None = None):
        import keras

        parts = network_parts(model)
        dense = (parts.dense_in, parts.dense_out)
        (self.in_kernel, self.in_bias), (self.out_kernel, self.out_bias) = (d.get_weights() for d in dense)
        # The feedback fold multiplies the two Dense layers together: exact only if both are linear.
        self.linear_dense = all(d.activation is keras.activations.linear for d in dense)
        # Pre-net dropout stays on when generating, as in training (Tacotron 2).
        self.prenet_rate = parts.prenet_rate
        self.rng = rng or np.random.default_rng()
        self.cells = [cell_module(cell) for _, cell in parts.recurrent]
        self.layers = [module.numpy_weights(layer) for module, (layer, _) in zip(self.cells, parts.recurrent)]
        self.units = [weights.units for weights in self.layers]
        self.state: list[tuple[np.ndarray, ...]] = []
        self._feedback: tuple[np.ndarray, np.ndarray] | None = None

    def feedback(self) -> tuple[np.ndarray, np.ndarray]:
        """(matrix, bias) taking the last layer's hidden state to the first layer's input projection
        of the block it outputs: out @ W_in @ K = h @ (W_out @ W_in @ K)."""
        if self._feedback is None:
            # The fold is exact only when nothing but linear maps lie between the output and the
            # first layer's input projection: a sampled output or dropout must run unfolded.
            if self.prenet_rate or not self.linear_dense:
                raise ValueError("the feedback fold needs linear Dense layers and no pre-net dropout between them")
            first = self.layers[0]
            to_hidden = self.out_kernel @ self.in_kernel  # (units, units)
            matrix = to_hidden @ first.kernel
            bias = (self.out_bias @ self.in_kernel + self.in_bias) @ first.kernel + first.bias
            self._feedback = (np.ascontiguousarray(matrix, dtype=np.float32), bias.astype(np.float32))
        return self._feedback

    def reset(self, batch: int) -> None:
        """Zero the recurrent state for `batch` songs."""
        self.state = [(np.zeros((batch, u), np.float32),) * cell.STATES for cell, u in zip(self.cells, self.units)]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(batch, time, features) -> the network's outputs; the state carries on to the next call."""
        batch, steps, features = x.shape
        if not self.state or self.state[0][0].shape[0] != batch:
            self.reset(batch)
        # Each Dense and each input projection is one matmul over all steps; only h @ R loops.
        hidden = x.reshape(-1, features) @ self.in_kernel + self.in_bias
        if self.prenet_rate:
            keep = self.rng.random(hidden.shape, dtype=np.float32) >= self.prenet_rate
            hidden = hidden * keep / np.float32(1.0 - self.prenet_rate)
        for k, (cell, weights) in enumerate(zip(self.cells, self.layers)):
            projected = (hidden @ weights.kernel + weights.bias).reshape(batch, steps, -1)
            outputs = np.empty((batch, steps, self.units[k]), np.float32)
            state = self.state[k]
            for t in range(steps):
                state = cell.numpy_step(projected[:, t], state, weights)
                outputs[:, t] = state[0]
            self.state[k] = state
            hidden = outputs.reshape(batch * steps, -1)
        return (hidden @ self.out_kernel + self.out_bias).reshape(batch, steps, -1)

    def continue_own_output(self, steps: int) -> np.ndarray:
        """`steps` more blocks, each step fed the block the network output before it.

        Call after a pass over the seed; returns (batch, steps, features), the same as
        feeding each output back through __call__, with the weights read per step cut
        from all of them to the recurrent and feedback matrices.
        """
        matrix, bias = self.feedback()
        batch = self.state[0][0].shape[0]
        last_hidden = np.empty((batch, steps, self.units[-1]), np.float32)
        for t in range(steps):
            projected = self.state[-1][0] @ matrix + bias
            for k, (cell, weights) in enumerate(zip(self.cells, self.layers)):
                self.state[k] = cell.numpy_step(projected, self.state[k], weights)
                if k + 1 < len(self.layers):
                    projected = self.state[k][0] @ self.layers[k + 1].kernel + self.layers[k + 1].bias
            last_hidden[:, t] = self.state[-1][0]
        flat = last_hidden.reshape(batch * steps, -1)
        return (flat @ self.out_kernel + self.out_bias).reshape(batch, steps, -1)

"""The trained network's forward pass on numpy's BLAS, for generating block by block.

A generation step multiplies 1-8 rows by every weight matrix, so it is bound by
how fast ~214 MB of weights stream from memory. TensorFlow's CPU kernels read
them at ~10 GB/s for such thin products; OpenBLAS reaches 17-25 GB/s on the
same shapes. Same weights, same gate equations as keras.layers.LSTM/GRU; tests
check the outputs against the Keras model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit as sigmoid


@dataclass
class _Recurrent:
    cell: str
    kernel: np.ndarray  # (in, gates*units)
    recurrent_kernel: np.ndarray  # (units, gates*units)
    bias: np.ndarray  # (gates*units,)
    recurrent_bias: np.ndarray | None  # GRU reset_after only


class BlasNetwork:
    """Dense -> LSTM/GRU layers -> Dense of a Keras model, run on numpy with its state carried."""

    def __init__(self, model):
        dense = [layer for layer in model.layers if layer.name.startswith("time_distributed_dense")]
        recurrent = [layer for layer in model.layers if getattr(layer, "cell", None) is not None]
        (in_kernel, self.in_bias), (self.out_kernel, self.out_bias) = (d.get_weights() for d in dense)
        # The first product reads a (features x units) kernel for a few rows: walking it
        # as the transpose of a contiguous (units x features) array is ~1.5x faster in OpenBLAS.
        self.in_kernel_t = np.ascontiguousarray(in_kernel.T)
        self.layers = []
        for layer in recurrent:
            weights = layer.get_weights()
            if getattr(layer, "reset_after", False):
                kernel, rec, bias = weights
                self.layers.append(_Recurrent("gru", kernel, rec, bias[0], bias[1]))
            else:
                self.layers.append(_Recurrent("lstm", *weights, None))
        self.units = [layer.recurrent_kernel.shape[0] for layer in self.layers]
        self.state: list[tuple[np.ndarray, ...]] = []

    def reset(self, batch: int) -> None:
        """Zero the recurrent state for `batch` songs."""
        self.state = [(np.zeros((batch, u), np.float32),) * (2 if layer.cell == "lstm" else 1)
                      for layer, u in zip(self.layers, self.units)]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(batch, time, features) -> the network's outputs; the state carries on to the next call."""
        batch, steps, features = x.shape
        if not self.state or self.state[0][0].shape[0] != batch:
            self.reset(batch)
        # Each Dense and each input projection is one matmul over all steps; only h @ R loops.
        hidden = x.reshape(-1, features) @ self.in_kernel_t.T + self.in_bias
        for k, layer in enumerate(self.layers):
            projected = (hidden @ layer.kernel + layer.bias).reshape(batch, steps, -1)
            outputs = np.empty((batch, steps, self.units[k]), np.float32)
            state = self.state[k]
            for t in range(steps):
                state = (_lstm_step if layer.cell == "lstm" else _gru_step)(projected[:, t], state, layer)
                outputs[:, t] = state[0]
            self.state[k] = state
            hidden = outputs.reshape(batch * steps, -1)
        return (hidden @ self.out_kernel + self.out_bias).reshape(batch, steps, -1)


def _lstm_step(z_x, state, layer):
    h, c = state
    i, f, g, o = np.split(z_x + h @ layer.recurrent_kernel, 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c), c


def _gru_step(m_x, state, layer):
    (h,) = state
    x_z, x_r, x_h = np.split(m_x, 3, axis=-1)
    r_z, r_r, r_h = np.split(h @ layer.recurrent_kernel + layer.recurrent_bias, 3, axis=-1)
    z = sigmoid(x_z + r_z)
    candidate = np.tanh(x_h + sigmoid(x_r + r_r) * r_h)
    return (z * h + (1.0 - z) * candidate,)

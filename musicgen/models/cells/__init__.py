"""The recurrent cells, one module each, holding everything that knows a cell's equations.

Each module (lstm.py, gru.py) has, side by side:
  STOCK, Layer    the stock Keras layer and our subclass of it (same weights; the input
                  projection hoisted out of the time loop, the backward pass written out)
  recurrence      that TensorFlow time loop with its hand-written gradient
  numpy_weights   a layer's weights as the numpy step wants them
  numpy_step      one time step on numpy's BLAS, for generating block by block
  GATES, STATES   gate blocks in the kernels, state tensors carried

Why the loops are our own: on CPU, Keras 3 runs a generic loop that multiplies every step's
input by the input kernel separately, streaming the whole kernel from memory once per time step
for a handful of rows. Here the input projection of the whole sequence is one large matmul and
the loop keeps only `h @ recurrent_kernel`; the recurrent kernel's gradient is one matmul after
the backward loop. With a GPU the stock layers run cuDNN, which is faster still, and are used as
they are. The weights are the stock layers' own variables, so weight files stay plain Keras ones.

tests/models/test_layers.py checks that all three engines compute the same function.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import numpy as np

from musicgen.config import CELL_NAMES

CELLS = tuple(CELL_NAMES)  # the one list of cells is config.CELL_NAMES; each names a module here


@dataclass
class NumpyWeights:
    """One recurrent layer's weights for numpy_step."""

    kernel: np.ndarray  # (in, gates*units)
    recurrent_kernel: np.ndarray  # (units, gates*units)
    bias: np.ndarray  # (gates*units,): the input projection's
    recurrent_bias: np.ndarray | None = None  # GRU (reset_after) only: added inside the reset gate

    @property
    def units(self) -> int:
        """Hidden units of the layer."""
        return self.recurrent_kernel.shape[0]


def cell_module(cell: str):
    """The module of a cell name saved in a config ('lstm' or 'gru')."""
    from musicgen.errors import MusicGenError

    if cell not in CELLS:
        raise MusicGenError(f"unknown cell type '{cell}' (expected one of {', '.join(CELLS)})")
    return importlib.import_module(f".{cell}", __name__)


def cell_of_layer(layer) -> str | None:
    """'lstm' or 'gru' for a Keras recurrent layer (ours or the stock one); None for any other layer."""
    for cell in CELLS:
        if isinstance(layer, cell_module(cell).STOCK):
            return cell
    return None


def use_stock_loop(layer, mask) -> bool:
    """Whether a layer must run Keras' own loop: on a GPU (cuDNN is faster still) or with options
    the hand-written loops do not implement."""
    import keras

    from musicgen.device import gpu_present

    cell = layer.cell
    standard = cell.activation is keras.activations.tanh and cell.recurrent_activation is keras.activations.sigmoid
    return (mask is not None or gpu_present() or layer.go_backwards or layer.unroll or layer.dropout
            or layer.recurrent_dropout or not layer.use_bias or not standard)

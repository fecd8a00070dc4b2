"""The network: TimeDistributed Dense -> LSTM/GRU (one or more) -> TimeDistributed Dense."""

from __future__ import annotations

from .config import ModelConfig
from .errors import MusicGenError


def recurrent_layer(cell: str):
    """Map the cell name saved in a config to its Keras layer class."""
    from .layers import ProjectedGRU, ProjectedLSTM

    cells = {"lstm": ProjectedLSTM, "gru": ProjectedGRU}
    if cell not in cells:
        raise MusicGenError(f"unknown cell type '{cell}' (expected one of {sorted(cells)})")
    return cells[cell]


def build_model(cfg: ModelConfig, *, batch_size: int | None = None, stateful: bool = False):
    """Build the many-to-many network; stateful models carry their state across calls.

    Input and output are (batch, time, 2*block_size) normalised FFT features.
    """
    import keras

    layer = recurrent_layer(cfg.cell)
    inputs = keras.Input(batch_shape=(batch_size, None, cfg.feature_dim), name="fft_blocks")
    from .layers import TimeDistributedDense

    x = TimeDistributedDense(cfg.hidden, activation="linear", name="time_distributed_dense_in")(inputs)
    for i in range(cfg.layers):
        x = layer(cfg.hidden, return_sequences=True, stateful=stateful, name=f"{cfg.cell}_{i + 1}")(x)
    # The output layer starts at zero, not Glorot-random: random weights give every one of the
    # 22050 outputs a noise floor that training never fully removes from the near-silent high
    # bins, and songs come out hissing (evaluate.py on the bundled dataset: spectral flatness
    # 14-19x the music's after 60 epochs from a random start, 1.2-1.4x after 20 from zero).
    outputs = TimeDistributedDense(cfg.feature_dim, activation="linear", kernel_initializer="zeros",
                                   name="time_distributed_dense_out")(x)
    return keras.Model(inputs, outputs, name=f"{cfg.cell}_music")


def compile_model(model, lr: float, *, jit: bool = True) -> None:
    """Mean squared error with RMSprop, as the original; no accuracy metric for a regression.

    jit=False for distributed training: XLA cannot reach variables mirrored on other devices.
    """
    import keras

    # XLA fuses the big matmuls with the loss and optimizer: about 2x on CPU. Keras turns it
    # off by itself where cuDNN layers run.
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=lr), loss="mean_squared_error",
                  jit_compile=jit)


def count_params(cfg: ModelConfig) -> int:
    """Trainable parameters, without building the model."""
    d, h = cfg.feature_dim, cfg.hidden
    gates = 4 if cfg.cell == "lstm" else 3
    extra_bias = 0 if cfg.cell == "lstm" else gates * h  # GRU reset_after keeps two biases
    recurrent = cfg.layers * (gates * (2 * h * h + h) + extra_bias)
    return (d * h + h) + recurrent + (h * d + d)


def flops_per_block(cfg: ModelConfig) -> float:
    """Multiply-adds x2 for one training step of one block: forward plus backward.

    The first Dense needs no input gradient, so it costs 2 matmuls; every other weight 3.
    """
    d, h = cfg.feature_dim, cfg.hidden
    gates = 4 if cfg.cell == "lstm" else 3
    recurrent = cfg.layers * gates * 2 * h * h
    return 2.0 * (2 * d * h + 3 * recurrent + 3 * h * d)

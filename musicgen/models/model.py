"""The network: TimeDistributed Dense -> LSTM/GRU (one or more) -> TimeDistributed Dense."""

from __future__ import annotations

from dataclasses import dataclass

from musicgen.config import ModelConfig
from musicgen.models.cells import cell_module, cell_of_layer
from musicgen.models.outputs import initial_bias, layout, nll_loss


class _Network:
    """The layers of one network, callable on any input so that training can run them twice."""

    def __init__(self, cfg: ModelConfig, *, stateful: bool):
        import keras

        from musicgen.models.layers import TimeDistributedDense

        layer = cell_module(cfg.cell).Layer
        self.dense_in = TimeDistributedDense(cfg.hidden, activation="linear", name="time_distributed_dense_in")
        # Tacotron 2's pre-net: dropout that stays on when generating, so the network never leans
        # on every detail of a block it made itself, and each take varies.
        self.prenet = keras.layers.Dropout(cfg.prenet_dropout, name="prenet_dropout") if cfg.prenet_dropout else None
        self.recurrent = [layer(cfg.hidden, return_sequences=True, stateful=stateful, name=f"{cfg.cell}_{i + 1}")
                          for i in range(cfg.layers)]
        # The output layer starts at zero, not Glorot-random: random weights give every output a
        # noise floor that training never fully removes from the near-silent high bins, and songs
        # come out hissing (docs/RESULTS.md, "Where the main job started", has the flatness figures).
        # A sampled output also starts every scale at 1, the data's own in normalised units
        # (outputs.initial_bias sets a mixture's components apart).
        self.dense_out = TimeDistributedDense(cfg.output_dim, activation="linear", kernel_initializer="zeros",
                                              name="time_distributed_dense_out")

    def __call__(self, x, initial_states=None):
        x = self.dense_in(x)
        if self.prenet is not None:
            x = self.prenet(x)
        for k, layer in enumerate(self.recurrent):
            x = layer(x) if initial_states is None else layer(x, initial_state=initial_states[k])
        return self.dense_out(x)


def build_model(cfg: ModelConfig, *, batch_size: int | None = None, stateful: bool = False):
    """Build the many-to-many network; stateful models carry their state across calls.

    Input (batch, time, 2*block_size) normalised FFT features; output (batch, time, cfg.output_dim).
    """
    return build_training_model(cfg, batch_size=batch_size, stateful=stateful)[1]


def build_training_model(cfg: ModelConfig, scheduled_sampling: float = 0.0, *, batch_size: int | None = None,
                         stateful: bool = False):
    """(model to fit, model to save and generate with): the same layers and weights.

    With scheduled_sampling > 0 the fitted model runs the network twice (parallel scheduled
    sampling, Duckworth et al. 2019): the first pass's predictions, drawn like generation draws
    them, replace that share of the second pass's input blocks, so training sees what
    generation will feed the network.
    """
    import keras

    net = _Network(cfg, stateful=stateful)
    inputs = keras.Input(batch_shape=(batch_size, None, cfg.feature_dim), name="fft_blocks")
    outputs = net(inputs)
    single = keras.Model(inputs, outputs, name=f"{cfg.cell}_music")
    net.dense_out.bias.assign(initial_bias(cfg))
    if not scheduled_sampling:
        return single, single
    from musicgen.models.layers import CarriedState, OwnPredictionMix

    # A stateful network's two passes must both start from the state the last batch left: read
    # once, before the first pass overwrites it (the second pass's is the one that stays).
    start = None
    if stateful:
        start = [CarriedState(layer, name=f"carried_state_{k + 1}")(inputs) for k, layer in enumerate(net.recurrent)]
    first = net(inputs, start) if stateful else outputs
    mixed = OwnPredictionMix(scheduled_sampling, layout(cfg), name="scheduled_sampling")(inputs, first)
    return keras.Model(inputs, net(mixed, start), name=f"{cfg.cell}_music_scheduled"), single


@dataclass
class NetworkParts:
    """The layers of a built network, in the order a block runs through them."""

    dense_in: object
    prenet_rate: float  # the pre-net dropout's rate (0: none)
    recurrent: list  # (Keras recurrent layer, its cell's name) per layer
    dense_out: object


def network_parts(model) -> NetworkParts:
    """The Dense -> [Dropout] -> LSTM/GRU layers -> Dense of `model`; ValueError for a model of another shape."""
    import keras

    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    recurrent = [(layer, cell) for layer in model.layers if (cell := cell_of_layer(layer))]
    dropout = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    if len(dense) != 2 or not recurrent or len(dropout) > 1:
        raise ValueError(f"'{model.name}' is not Dense -> recurrent layers -> Dense")
    return NetworkParts(dense[0], float(dropout[0].rate) if dropout else 0.0, recurrent, dense[1])


def reset_states(model) -> None:
    """Zero the recurrent state of every stateful layer, so the next song (or epoch) starts fresh."""
    for layer in model.layers:
        if getattr(layer, "stateful", False):
            layer.reset_state()


def compile_model(model, lr: float, cfg: ModelConfig | None = None, *, jit: bool = True, clipnorm: float = 0.0) -> None:
    """RMSprop with mean squared error (as the original) or a sampled output's likelihood; no accuracy
    metric for a regression. clipnorm > 0 caps the global norm of each update's gradients.

    jit=False for distributed training: XLA cannot reach variables mirrored on other devices.
    """
    import keras

    loss = nll_loss(cfg) if cfg is not None and cfg.output != "mse" else "mean_squared_error"
    # XLA fuses the big matmuls with the loss and optimizer (bench/bench_train.py measures the gain).
    # Keras turns it off by itself where cuDNN layers run.
    optimizer = keras.optimizers.RMSprop(learning_rate=lr, global_clipnorm=clipnorm or None)
    model.compile(optimizer=optimizer, loss=loss, jit_compile=jit)


FLOAT_BYTES = 4


def count_params(cfg: ModelConfig) -> int:
    """Trainable parameters, without building the model."""
    d, h = cfg.feature_dim, cfg.hidden
    gates = cell_module(cfg.cell).GATES
    extra_bias = 0 if cfg.cell == "lstm" else gates * h  # GRU reset_after keeps two biases
    recurrent = cfg.layers * (gates * (2 * h * h + h) + extra_bias)
    out = cfg.output_dim
    return (d * h + h) + recurrent + (h * out + out)


def training_bytes(cfg: ModelConfig, batch: int) -> int:
    """Lower bound for training: weights, their gradients and RMSprop averages, one batch in and out."""
    return FLOAT_BYTES * (3 * count_params(cfg) + 2 * batch * cfg.clip_blocks * (cfg.feature_dim + cfg.hidden))


def generation_bytes(cfg: ModelConfig, count: int, blocks: int) -> int:
    """Lower bound for generating `count` songs of `blocks` blocks: weights, features and audio."""
    return FLOAT_BYTES * (count_params(cfg) + count * blocks * (cfg.output_dim + 2 * cfg.block.hop))


def flops_per_block(cfg: ModelConfig) -> float:
    """Multiply-adds x2 for one training step of one block: forward plus backward.

    The first Dense needs no input gradient, so it costs 2 matmuls; every other weight 3.
    """
    d, h = cfg.feature_dim, cfg.hidden
    gates = cell_module(cfg.cell).GATES
    recurrent = cfg.layers * gates * 2 * h * h
    return 2.0 * (2 * d * h + 3 * recurrent + 3 * h * cfg.output_dim)

"""What the network's output layer means, and how a block is drawn from it.

"mse": the block itself. "gaussian": a mean and a log-scale per value, each value drawn on its own.
"mixture": K such Gaussians over the whole block and K weights (a mixture density network, Bishop
1994; Graves 2013): one component is chosen per block, then its values are drawn. Independent noise
per band averages out over a block, so a "gaussian" song's overall level can only move as its mean
does; a mixture can pick a loud or a quiet, a bright or a dark block as a whole.

Functions take `xp`, numpy or keras.ops, where both training (keras) and generation (numpy) need them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from musicgen.config import CODE_LEAD, ModelConfig

# Log-scales are clipped to this range (in normalised units): the floor keeps the likelihood from
# rewarding an ever-sharper fit to near-silent bins, the ceiling keeps an untrained network's
# samples from blowing up.
LOG_SCALE_MIN, LOG_SCALE_MAX = -5.0, 2.0
# A mixture's components start at these levels (normalised units, every value alike), quiet to
# loud, so that they differ from the first update: identical components get identical gradients.
MIXTURE_START_SPREAD = 1.0


@dataclass(frozen=True)
class Layout:
    """How one output vector is laid out: `kind` (ModelConfig.output), `dim` values a block, their
    log-scales `paired` (one per FFT bin for GRUV's real and imaginary parts), `components` (mixture)."""

    kind: str
    dim: int
    paired: bool
    components: int = 1

    @property
    def sampled(self) -> bool:
        """Whether a block is drawn, not read off the output."""
        return self.kind != "mse"


def layout(cfg: ModelConfig) -> Layout:
    """The output layout of a network."""
    return Layout(cfg.output, cfg.feature_dim, cfg.block.representation == "fft",
                  cfg.components if cfg.output == "mixture" else 1)


def _scales(log_scale, paired: bool, xp):
    log_scale = xp.clip(log_scale, LOG_SCALE_MIN, LOG_SCALE_MAX)
    return xp.concatenate([log_scale, log_scale], axis=-1) if paired else log_scale


def gaussian_split(out, lay: Layout, xp):
    """A "gaussian" output -> (mean, clipped log-scale) of each of its values.

    With `paired` (GRUV's FFT values) one log-scale serves a bin's real and imaginary parts, so a bin
    whose phase the network cannot know is drawn with a random phase at the right power, instead of
    being pulled to zero as mean squared error pulls it.
    """
    return out[..., : lay.dim], _scales(out[..., lay.dim:], lay.paired, xp)


def mixture_split(out, lay: Layout, xp):
    """A "mixture" output -> (logits (..., K), means (..., K, dim), clipped log-scales (..., K, dim))."""
    k = lay.components
    shape = xp.shape(out)
    parts = xp.reshape(out[..., k:], (*shape[:-1], k, (out.shape[-1] - k) // k))
    return out[..., :k], parts[..., : lay.dim], _scales(parts[..., lay.dim:], lay.paired, xp)


def nll_loss(cfg: ModelConfig):
    """Loss of a sampled output: negative log-likelihood of the true block per value, in nats."""
    from keras import ops

    lay = layout(cfg)
    half_log_2pi = 0.5 * math.log(2.0 * math.pi)

    def gaussian(y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")  # exp() of a bfloat16 log-scale is too coarse (--precision)
        mean, log_scale = gaussian_split(y_pred, lay, ops)
        per_value = log_scale + 0.5 * ops.square(y_true - mean) * ops.exp(-2.0 * log_scale)
        return ops.mean(per_value, axis=-1) + half_log_2pi

    def mixture(y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        logits, mean, log_scale = mixture_split(y_pred, lay, ops)
        z = (ops.expand_dims(y_true, -2) - mean) * ops.exp(-log_scale)
        per_component = -ops.sum(log_scale + 0.5 * ops.square(z), axis=-1)
        joint = ops.logsumexp(ops.log_softmax(logits, axis=-1) + per_component, axis=-1)
        return -joint / lay.dim + half_log_2pi

    return mixture if lay.kind == "mixture" else gaussian


def initial_bias(cfg: ModelConfig) -> np.ndarray:
    """The output layer's starting bias: zeros, but a mixture's components start at levels spread
    from quiet to loud (MIXTURE_START_SPREAD), every scale at 1, every weight alike."""
    lay = layout(cfg)
    bias = np.zeros(cfg.output_dim, np.float32)
    if lay.kind == "mixture" and lay.components > 1:
        levels = np.linspace(-MIXTURE_START_SPREAD, MIXTURE_START_SPREAD, lay.components, dtype=np.float32)
        parts = bias[lay.components:].reshape(lay.components, -1)
        block = cfg.block
        if block.representation == "frames" and block.code and block.code_basis == "pca":
            # A principal-component code's values are its components, the most varying first (the frames' level).
            # Every one shifted alike is no block the music holds: 128 of them put the outer components so far from
            # every block that they never fitted one and were never trained (weights 0.001-0.02 after training).
            # Along the first alone they start at quiet and loud blocks. (A cosine code's first value is one
            # frame's level, and uncoded frames' are one band's: those keep the shift of every value alike.)
            parts[:, 0] = levels
        else:
            parts[:, : lay.dim] = levels[:, None]
    return bias


def has_code_tail(model: ModelConfig) -> bool:
    """Whether `model` steps through a code with detail components past CODE_LEAD (noise_factors)."""
    return model.block.representation == "frames" and model.block.code > CODE_LEAD


def noise_factors(model: ModelConfig, tail_noise: float) -> float | np.ndarray:
    """Each value's noise as a fraction of the temperature: a "frames" network's code components from
    CODE_LEAD on (the detail within its block's frames) at `tail_noise`, everything else at 1."""
    return _past_the_lead(model, tail_noise, 1.0)


def memory_factors(model: ModelConfig, memory: float) -> float | np.ndarray:
    """How much of the last block's noise each value's carries (carried_noise): a "frames" network's code
    components from CODE_LEAD on `memory`, everything else none."""
    return _past_the_lead(model, memory, 0.0)


def _past_the_lead(model: ModelConfig, detail: float, rest: float) -> float | np.ndarray:
    """`detail` for each of a "frames" network's code components from CODE_LEAD on, `rest` for every other value:
    the scalar `rest` where that is every value (no code tail, or `detail` equal to it)."""
    if detail == rest or not has_code_tail(model):
        return rest
    factors = np.full(model.block.code, detail, dtype=np.float32)
    factors[:CODE_LEAD] = rest
    return factors


def carried_noise(last: np.ndarray, fresh: np.ndarray, memory: float | np.ndarray) -> np.ndarray:
    """Standard normal noise that carries `memory` (memory_factors) of the `last` block's and the rest of `fresh`:
    each value's spread stays 1 and its correlation with its last block's is its memory."""
    return (memory * last + np.sqrt(1.0 - np.square(memory)) * fresh).astype(np.float32)


def draw_numpy(out: np.ndarray, lay: Layout, temperature: float, rng: np.random.Generator,
               noise: float | np.ndarray = 1.0, shape_noise: Callable[[np.ndarray], np.ndarray] | None = None
               ) -> np.ndarray:
    """The block generation plays from one output: the mean plus `temperature` times `noise` (noise_factors)
    times the scale in Gaussian noise (passed through `shape_noise`, given: e.g. carried_noise); a mixture first
    picks its component (weights sharpened by 1/temperature; at 0 the likeliest one's mean)."""
    if not lay.sampled:
        return out
    if lay.kind == "gaussian":
        mean, log_scale = gaussian_split(out, lay, np)
    else:
        logits, means, log_scales = mixture_split(out, lay, np)
        if temperature:
            gumbel = -np.log(-np.log(rng.uniform(np.finfo(np.float32).tiny, 1.0, logits.shape)))
            logits = logits / temperature + gumbel.astype(np.float32)
        chosen = np.argmax(logits, axis=-1)[..., None, None]
        mean = np.take_along_axis(means, chosen, axis=-2)[..., 0, :]
        log_scale = np.take_along_axis(log_scales, chosen, axis=-2)[..., 0, :]
    if not temperature:
        return mean
    shocks = rng.standard_normal(mean.shape, dtype=np.float32)
    if shape_noise is not None:
        shocks = shape_noise(shocks)
    return mean + temperature * noise * np.exp(log_scale) * shocks


def draw_keras(out, lay: Layout, seed_generator):
    """draw_numpy at temperature 1 in keras ops (scheduled sampling's draws in training)."""
    import keras
    from keras import ops

    if not lay.sampled:
        return out[..., : lay.dim]
    if lay.kind == "gaussian":
        mean, log_scale = gaussian_split(out, lay, ops)
    else:
        logits, means, log_scales = mixture_split(out, lay, ops)
        u = keras.random.uniform(ops.shape(logits), minval=1e-7, maxval=1.0, dtype=logits.dtype, seed=seed_generator)
        pick = ops.expand_dims(ops.one_hot(ops.argmax(logits - ops.log(-ops.log(u)), axis=-1), lay.components,
                                           dtype=logits.dtype), -1)
        mean, log_scale = ops.sum(means * pick, axis=-2), ops.sum(log_scales * pick, axis=-2)
    noise = keras.random.normal(ops.shape(mean), dtype=mean.dtype, seed=seed_generator)
    return mean + ops.exp(log_scale) * noise

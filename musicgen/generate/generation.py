"""Generating songs from a trained network, block by block with the recurrent state carried.

GRUV's method re-ran the network over the whole, growing sequence for every new
block and kept the last output. The network is causal, so feeding the seed once
and then one block per step with the state carried computes the same function
(tests check it) at one step per 0.25 s of audio. On CPU the steps run on
numpy's BLAS (models/blas_network.py), which streams the weights about twice as fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from musicgen.atomic import check_writable
from musicgen.audio.limiter import limit
from musicgen.audio.representation import finite_values, to_signal
from musicgen.config import ORIGINAL_SONG_BLOCKS, BlockSpec, ExportConfig, GenerateConfig
from musicgen.data.training_data import TrainingData, load_training_data, representation_mismatch, store_mismatch
from musicgen.errors import DatasetError, WeightsError
from musicgen.generate.band_detail import BandDetail, LearnedDetail, band_detail, learned_detail, learned_frame_detail
from musicgen.formats.songs import SongInfo, song_info_path
from musicgen.memory import require_memory
from musicgen.models.blas_network import BlasNetwork
from musicgen.models.model import build_model, generation_bytes, reset_states
from musicgen.models.outputs import (carried_noise, draw_numpy, has_code_tail, layout, memory_factors,
                                     noise_factors)
from musicgen.formats.weights import Checkpoint, load_weights, read_checkpoint


Detail = BandDetail | LearnedDetail  # what shapes a "logmel" song's blocks or a "frames" song's frames within bands


@dataclass
class Song:
    """One generated song and where it came from."""

    path: Path
    plot: Path | None
    seed_index: int | None  # the training clip it was seeded from; None for a --prime file
    seconds: float
    seed: str = ""  # where the seed came from, in words
    music_seconds: float | None = None  # of judged_seconds after the echo, how many are still music
    judged_seconds: float | None = None  # None: not judged (no training music to judge it against)

    def as_dict(self) -> dict:
        """JSON-ready: the song, its picture and sidecar, its length, seed and verdict."""
        return {"path": str(self.path), "plot": None if self.plot is None else str(self.plot),
                "sidecar": str(song_info_path(self.path)), "seconds": self.seconds, "seed_clip": self.seed_index,
                "seed": self.seed, "music_seconds": self.music_seconds, "judged_seconds": self.judged_seconds}

    def verdict(self) -> str:
        """"music for X of Y s", or "" where it was not judged."""
        if not self.judged_seconds:
            return ""
        return f"music for {self.music_seconds:.0f} of {self.judged_seconds:.0f} s after the echo"


def song_blocks(seconds: float | None, ckpt: Checkpoint) -> int:
    """Blocks to generate for `seconds` (None: the original's length, 49 blocks of GRUV's kind)."""
    block = ckpt.model.block
    if seconds is None:
        seconds = ORIGINAL_SONG_BLOCKS * block.block_size / block.sample_rate
    blocks = block.blocks_in(seconds)
    if blocks < 1:
        raise DatasetError(f"--seconds {seconds:g} is shorter than one block of this network ({block.hop_seconds:g} s)")
    return blocks


def pick_seeds(n_clips: int, count: int, seed_index: int | None, random_seed: int | None) -> list[int]:
    """Training clips to seed from: consecutive from --seed-index, else random without repeats."""
    if seed_index is not None:
        if not 0 <= seed_index < n_clips:
            raise DatasetError(f"--seed-index {seed_index} is out of range: the data has {n_clips} clips "
                               f"(0..{n_clips - 1})")
        return [(seed_index + k) % n_clips for k in range(count)]
    rng = np.random.default_rng(random_seed)
    return [int(i) for i in rng.choice(n_clips, size=count, replace=count > n_clips)]


# Folding the output and input layers into one feedback matrix costs one units x features x units
# product, about as long as 40 unfolded steps of the default model (bench/bench_generate.py).
FOLD_AFTER_STEPS = 40


def _step_function(model):
    """The model's compiled forward call, made once per model and kept on it.

    A fresh tf.function per song would trace the graph again every time, which
    cost more than generating a 10 s song.
    """
    step = getattr(model, "_musicgen_step", None)
    if step is None:
        import tensorflow as tf

        # On CPU, XLA speeds up a one-song step but slows a batch of songs down, so it is
        # used for single songs only.
        single = model.inputs[0].shape[0] == 1
        step = tf.function(lambda x: model(x, training=False), jit_compile=single)
        model._musicgen_step = step
    return step


def fastest_engine(model, rng: np.random.Generator | None = None):
    """What generates fastest here: the weights on numpy's BLAS on CPU, the stateful Keras model on GPU."""
    from musicgen.device import gpu_present

    return model if gpu_present() else BlasNetwork(model, rng)


@dataclass(frozen=True)
class Draws:
    """How a song's blocks are drawn from its network's outputs (Sampler): at `temperature`, a code's detail at
    `tail_noise` of it carrying `memory` of the last block's noise, every value within `bound` (or none)."""

    temperature: float = 1.0
    tail_noise: float = 1.0
    memory: float = 0.0
    bound: float | None = None

    @classmethod
    def of(cls, ckpt: Checkpoint, cfg: GenerateConfig | None = None) -> Draws:
        """The network's own draws (its training's choices), each overridden by its generate.py flag, given."""
        def given(flag: str, own):
            value = None if cfg is None else getattr(cfg, flag)
            return own if value is None else value

        return cls(temperature=given("temperature", ckpt.temperature), tail_noise=given("tail_noise", ckpt.tail_noise),
                   memory=given("noise_memory", ckpt.noise_memory), bound=given("bound", ckpt.bound))

    def sampler(self, ckpt: Checkpoint, rng: np.random.Generator) -> Sampler:
        """The Sampler of `ckpt`'s network that draws as these say."""
        bounds = None if self.bound is None else ckpt.value_bounds(self.bound)
        return Sampler(ckpt.model, self.temperature, rng, bounds, self.tail_noise, self.memory)


class Sampler:
    """Turns the network's raw output into the block it plays and feeds back (models.outputs.draw_numpy,
    at `temperature`, a code's detail at `tail_noise` of it, its noise carrying `memory` of the last block's).
    With `bounds` (lowest, highest normalised value, Checkpoint.value_bounds) every value is kept within them.
    """

    def __init__(self, cfg, temperature: float = 1.0, rng: np.random.Generator | None = None,
                 bounds: tuple[np.ndarray, np.ndarray] | None = None, tail_noise: float = 1.0, memory: float = 0.0):
        self.layout = layout(cfg)
        self.temperature = float(temperature)
        self.noise = noise_factors(cfg, tail_noise)
        self.memory = memory_factors(cfg, memory)
        self.rng = rng or np.random.default_rng()
        self.bounds = bounds
        self._last_noise: np.ndarray | None = None
        self._shape_noise = self._carry if np.ndim(self.memory) else None  # a scalar memory is none at all

    def __call__(self, out: np.ndarray) -> np.ndarray:
        block = draw_numpy(np.asarray(out, dtype=np.float32), self.layout, self.temperature, self.rng, self.noise,
                           self._shape_noise)
        return block if self.bounds is None else np.clip(block, *self.bounds)

    def _carry(self, fresh: np.ndarray) -> np.ndarray:
        """The noise of the blocks drawn now, (songs, blocks, values): the first (over a seed, the echo's) as drawn,
        every later one carrying its memory of the last block drawn before it."""
        if self._last_noise is not None:
            fresh = carried_noise(self._last_noise[..., -1:, :], fresh, self.memory)
        self._last_noise = fresh
        return fresh


def continue_deterministic(network, seeds: np.ndarray, n_blocks: int) -> np.ndarray:
    """(K, T, D) normalised seeds -> (K, n_blocks, D) outputs; one step per block after the seed.

    `network` is a BlasNetwork or a stateful Keras model built for K songs, of a network that
    draws no random numbers (else continue_sampled). The first T outputs are the network's
    predictions over the seed, as in the original.
    """
    if isinstance(network, BlasNetwork):
        network.reset(len(seeds))
        out = network(np.asarray(seeds, dtype=np.float32))
        steps = n_blocks - out.shape[1]
        if steps <= 0:
            return out[:, :n_blocks]
        if steps >= FOLD_AFTER_STEPS:
            return np.concatenate([out, network.continue_own_output(steps)], axis=1)
        blocks, last = [out], out[:, -1:]
        for _ in range(steps):
            last = network(last)
            blocks.append(last)
        return np.concatenate(blocks, axis=1)
    import tensorflow as tf

    reset_states(network)
    step = _step_function(network)
    out = step(tf.constant(seeds, dtype=tf.float32))
    blocks = [out[:, :n_blocks]]
    produced, last = min(n_blocks, out.shape[1]), out[:, -1:]
    while produced < n_blocks:
        last = step(last)  # stays a tensor: fed straight back in
        blocks.append(last)
        produced += 1
    return tf.concat(blocks, axis=1).numpy()


def continue_sampled(network, seeds: np.ndarray, n_blocks: int, sampler: Sampler) -> np.ndarray:
    """continue_deterministic for networks that draw random numbers (ModelConfig.stochastic) or whose blocks are
    bounded: pre-net dropout stays on, and each block `sampler` makes is what is played and fed back."""
    step = _numpy_step(network, len(seeds), training=True)
    blocks = sampler(step(np.asarray(seeds, dtype=np.float32)))[:, :n_blocks]
    produced = [blocks]
    last, count = blocks[:, -1:], blocks.shape[1]
    while count < n_blocks:
        last = sampler(step(last))
        produced.append(last)
        count += 1
    return np.concatenate(produced, axis=1)


def _numpy_step(network, songs: int, *, training: bool):
    """`network`, its state reset for `songs` songs, as a function of numpy blocks to numpy outputs.
    training=True keeps the pre-net dropout on, as it was in training."""
    if isinstance(network, BlasNetwork):
        network.reset(songs)
        return network
    import tensorflow as tf

    reset_states(network)
    compiled = tf.function(lambda x: network(x, training=training))
    return lambda x: compiled(tf.constant(x, dtype=tf.float32)).numpy()


def song_steps(network, ckpt: Checkpoint, seeds: np.ndarray, *, rng: np.random.Generator, draws: Draws = Draws()):
    """The outputs of one song as they are made, without end: (1, T, D) predictions over the seed, then (1, 1, D)
    a step, each drawn and bounded as song_features draws and bounds them."""
    sampled = ckpt.model.stochastic or draws.bound is not None
    sampler = draws.sampler(ckpt, rng)
    step = _numpy_step(network, 1, training=sampled)
    last = step(np.asarray(seeds, dtype=np.float32))
    while True:
        last = sampler(last) if sampled else last
        yield last
        last = step(last[:, -1:])


def continue_by_reprediction(model, seeds: np.ndarray, n_blocks: int) -> np.ndarray:
    """GRUV's method: predict over the whole growing sequence each time, keep the last output."""
    sequence = seeds
    out = model.predict(sequence, verbose=0)
    blocks = [out[:, :n_blocks]]
    produced = min(n_blocks, out.shape[1])
    while produced < n_blocks:
        sequence = np.concatenate([sequence, out[:, -1:]], axis=1)
        out = model.predict(sequence, verbose=0)
        blocks.append(out[:, -1:])
        produced += 1
    return np.concatenate(blocks, axis=1)


def features_to_audio(features: np.ndarray, ckpt: Checkpoint, rng: np.random.Generator | None = None,
                      detail: Detail | None = None) -> np.ndarray:
    """(T, D) normalised network output -> float samples within full scale (audio.limiter: lowered around
    any peak beyond it, not clipped).

    A non-finite value is dropped alone, not allowed to turn its whole block into NaN.
    `rng` draws the starting phases of a "logmag" network's blocks; `detail` shapes a "logmel" one's bands.
    """
    values = block_values(features, ckpt)
    block = ckpt.model.block
    return limit(to_signal(values, block, rng=rng, detail=detail_offsets(values, ckpt, detail)), block.sample_rate)


def block_values(features: np.ndarray, ckpt: Checkpoint) -> np.ndarray:
    """(T, D) normalised network output -> the values of its representation (a code decoded to its frames)."""
    raw = features.astype(np.float32) * ckpt.std + ckpt.mean
    if ckpt.code is not None:
        raw = ckpt.code.decode(np.where(np.isfinite(raw), raw, 0.0))
    return raw


def detail_offsets(values: np.ndarray, ckpt: Checkpoint, detail: Detail | None) -> np.ndarray | None:
    """What `detail` lends blocks of block_values within their bands (None: nothing)."""
    return None if detail is None else detail.lend(finite_values(values, ckpt.model.block))


def stateful_model(ckpt: Checkpoint, batch_size: int):
    """A stateful copy of the network in `ckpt.weights`, for `batch_size` songs at once."""
    model = build_model(ckpt.model, batch_size=batch_size, stateful=True)
    load_weights(model, ckpt.weights, digest=ckpt.digest)
    return model


def load_generator(weights: Path, batch_size: int):
    """The checkpoint in `weights` and its stateful network."""
    ckpt = read_checkpoint(weights)
    return ckpt, stateful_model(ckpt, batch_size)


def song_features(network, ckpt: Checkpoint, seeds: np.ndarray, n_blocks: int, *, rng: np.random.Generator,
                  draws: Draws = Draws(), echo: bool = True) -> np.ndarray:
    """(count, blocks, output) network output for normalised `seeds`: the echo over the seed first
    (unless not `echo`), n_blocks in all with it; every block drawn as `draws` says."""
    if ckpt.model.stochastic or draws.bound is not None:
        out = continue_sampled(network, seeds, n_blocks, draws.sampler(ckpt, rng))
    else:
        out = continue_deterministic(network, seeds, n_blocks)
    return out if echo else out[:, seeds.shape[1]:]


def normalised_seeds(values: np.ndarray, ckpt: Checkpoint) -> np.ndarray:
    """Seed clips (count, blocks, feature_dim) in the representation of `ckpt`'s network -> what the
    network takes: normalised by its statistics, float32."""
    return ((values - ckpt.mean) / ckpt.std).astype(np.float32)


def matching_data(ckpt: Checkpoint, weights: Path, prefix: Path):
    """The training tensors at `prefix`, or WeightsError when they are not what the network reads."""
    data = load_training_data(prefix)
    mismatch = representation_mismatch(ckpt.model, data) or store_mismatch(ckpt.model.block, data)
    if mismatch:
        raise WeightsError(f"'{Path(weights).name}' {mismatch} ('{prefix}'); pass the matching --data")
    return data


def data_prefix(ckpt: Checkpoint, cfg: GenerateConfig | ExportConfig) -> Path:
    """--data, or else the tensors the network was trained on (its sidecar records them)."""
    return ckpt.data_prefix if cfg.data_prefix is None else cfg.data_prefix


def detail_name(ckpt: Checkpoint, cfg: GenerateConfig) -> str:
    """--detail, or else the one the network's training chose (smooth unless its preset chose another)."""
    return ckpt.detail if cfg.detail is None else cfg.detail


def detail_for(ckpt: Checkpoint, weights: Path, cfg: GenerateConfig) -> Detail | None:
    """What gives a song its detail within bands, from --data, or None (detail_name and make_detail)."""
    name = detail_name(ckpt, cfg)
    if not detail_applies(name, ckpt.model.block):
        return None
    prefix = data_prefix(ckpt, cfg)
    try:
        data = matching_data(ckpt, weights, prefix)
    except (DatasetError, WeightsError) as exc:
        if cfg.detail is not None:
            raise
        raise type(exc)(f"{exc} (the network's own --detail {name} is fitted on them; --detail smooth needs "
                        "no data)") from None
    return make_detail(name, ckpt, data, prefix, cfg.detail_contrast)


def detail_applies(name: str, block: BlockSpec) -> bool:
    """Whether --detail `name` shapes the songs of a network of `block`s: nearest or learned a "logmel" network's
    blocks, learned a "frames" network's fine frames."""
    if block.representation == "frames":
        return name == "learned"
    return name != "smooth" and block.representation == "logmel"


def make_detail(name: str, ckpt: Checkpoint, data: TrainingData, prefix: Path,
                contrast: float | None = None) -> Detail | None:
    """The detail `name` of `ckpt`'s network, fitted on (or lent from) its training tensors `data` at `prefix`, a
    learnt map's shape scaled by `contrast` (default: the network's own); None where it does not apply
    (detail_applies)."""
    block = ckpt.model.block
    if not detail_applies(name, block):
        return None
    if name == "nearest" and block.representation == "logmel":
        return band_detail(data, block, ckpt.mean, ckpt.std)
    learned = learned_frame_detail(prefix, block) if block.representation == "frames" else learned_detail(data, block)
    return learned.with_contrast(ckpt.detail_contrast if contrast is None else contrast)


def song_seeds(ckpt: Checkpoint, weights: Path, cfg: GenerateConfig) -> tuple[np.ndarray, list[int | None], list[str]]:
    """Normalised seed blocks (count, clip_blocks, feature_dim), the clip each came from, and a word on each."""
    model = ckpt.model
    if cfg.prime is not None:
        from musicgen.generate.priming import prime_values

        values = prime_values(cfg.prime, cfg.prime_start, model, ckpt.code)[None].repeat(cfg.count, axis=0)
        where = f"{Path(cfg.prime).name} from {cfg.prime_start:g} s"
        indices, words = [None] * cfg.count, [where] * cfg.count
    else:
        data = matching_data(ckpt, weights, data_prefix(ckpt, cfg))
        indices = pick_seeds(data.clips, cfg.count, cfg.seed_index, cfg.random_seed)
        values = data.inputs(indices, model.block, ckpt.code)
        words = [f"seed clip {i}" for i in indices]
    return normalised_seeds(values, ckpt), indices, words


def generate(weights: Path, cfg: GenerateConfig) -> list[Song]:
    """Write cfg.count songs from the network in `weights`, each with its waveform/spectrogram PNG
    and a JSON sidecar saying where it came from and where the echo of its seed ends.

    The seed is a training clip, or any audio file (cfg.prime). Without cfg.echo the network's
    predictions over the seed are left out and cfg.seconds counts new music only.
    """
    from musicgen.evaluate.report import judge_song, training_reference
    from musicgen.formats.pages import keep_page_current, write_songs_page
    from musicgen.formats.songs import write_song
    from musicgen.plots import plot_song

    if cfg.seconds == 0:
        raise DatasetError("--seconds 0 means a song without end: stream it (--stream), or give its length")
    ckpt = read_checkpoint(weights)
    model = ckpt.model
    seeds, indices, words = song_seeds(ckpt, weights, cfg)
    echo_blocks = seeds.shape[1]
    n_blocks = song_blocks(cfg.seconds, ckpt) + (0 if cfg.echo else echo_blocks)
    require_memory(generation_bytes(model, cfg.count, echo_blocks + n_blocks),
                   f"{cfg.count} song(s) of {n_blocks * model.block.hop_seconds:.0f} s",
                   "lower --seconds or --count")
    rng, network, draws, detail = song_makings(ckpt, weights, cfg)
    out = song_features(network, ckpt, seeds, n_blocks, rng=rng, draws=draws, echo=cfg.echo)
    rate = model.block.sample_rate
    echo_seconds = min(echo_blocks, n_blocks) * model.block.hop_seconds if cfg.echo else 0.0
    reference = training_reference(data_prefix(ckpt, cfg))  # each song's verdict, as evaluate.py would give it
    songs = []
    for k, (index, word) in enumerate(zip(indices, words)):
        audio = features_to_audio(out[k], ckpt, rng, detail)
        info = song_info(weights, ckpt, cfg, index, echo_seconds=echo_seconds, seconds=len(audio) / rate,
                         draws=draws, detail=detail,
                         judged=None if reference is None else judge_song(audio, rate, echo_seconds, reference,
                                                                          model.block.hop_seconds))
        title = song_title(weights, ckpt, word)
        path = write_song(cfg.out_dir, audio, rate, info=info, song_format=cfg.song_format,
                          draw=lambda png: plot_song(audio, rate, png, title, echo_seconds=echo_seconds))
        songs.append(Song(path=path, plot=path.with_suffix(".png"), seed_index=index, seconds=len(audio) / rate,
                          seed=word, music_seconds=info.music_seconds, judged_seconds=info.judged_seconds))
    keep_page_current(write_songs_page, cfg.out_dir)
    return songs


def song_makings(ckpt: Checkpoint, weights: Path, cfg: GenerateConfig):
    """What cfg.count songs of `ckpt`'s network are made with: (the random generator, the network to step, how its
    blocks are drawn, the detail within bands), each flag or else the network's own."""
    # The song's random draws (dropout masks, sampled outputs, starting phases) come from one
    # generator seeded by --random-seed, so the same flags give the same song on CPU. (On GPU the
    # Keras model draws its dropout masks from TensorFlow's own generator.)
    rng = np.random.default_rng(None if cfg.random_seed is None else [cfg.random_seed, 1])
    network = fastest_engine(stateful_model(ckpt, cfg.count), rng)
    check_writable(cfg.out_dir)  # before the songs are made: a read-only folder must not cost the wait
    # Before the songs are made: a --data that does not fit must not cost the wait.
    return rng, network, Draws.of(ckpt, cfg), detail_for(ckpt, weights, cfg)


def song_info(weights: Path, ckpt: Checkpoint, cfg: GenerateConfig, seed_clip: int | None, *, echo_seconds: float,
              seconds: float, draws: Draws, detail: Detail | None,
              judged: tuple[float, float] | None = None) -> SongInfo:
    """The sidecar of a song of `ckpt`'s network made as `cfg` says; `judged`: (seconds still music, seconds
    judged), evaluate.judge_song's."""
    model = ckpt.model
    return SongInfo(
        weights=str(weights), iteration=ckpt.iteration, cell=model.cell, output=model.output,
        prenet_dropout=model.prenet_dropout, seed_clip=seed_clip,
        data=None if cfg.prime and detail is None else str(data_prefix(ckpt, cfg)),
        prime=None if cfg.prime is None else str(cfg.prime), prime_start=cfg.prime_start,
        echo_seconds=echo_seconds, seconds=seconds, block=model.block, temperature=draws.temperature,
        tail_noise=draws.tail_noise if has_code_tail(model) else None,
        noise_memory=draws.memory if has_code_tail(model) else None, bound=draws.bound,
        detail=detail_name(ckpt, cfg) if detail else "smooth",
        detail_contrast=detail.contrast if isinstance(detail, LearnedDetail) else None, random_seed=cfg.random_seed,
        format=cfg.song_format, music_seconds=None if judged is None else judged[0],
        judged_seconds=None if judged is None else judged[1],
    )


def song_title(weights: Path, ckpt: Checkpoint, seed: str) -> str:
    """The title over a song's picture."""
    return f"{Path(weights).name}: {ckpt.model.label} iteration {ckpt.iteration}, {seed}"

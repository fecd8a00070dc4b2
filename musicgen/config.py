"""The one source of truth for defaults: the original toolkit's values.

Scripts override fields from argparse flags; a trained model stores its
ModelConfig next to its weights so later scripts rebuild the same network.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

AUDIO_SUFFIXES = (".mp3", ".wav", ".flac", ".ogg")


REPRESENTATIONS = ("fft", "logmag")


@dataclass(frozen=True)
class BlockSpec:
    """How audio is cut into blocks and what a network sees of each block: one value, which a
    dataset's info file owns and every weight file and song sidecar carries (as flat keys)."""

    sample_rate: int = 44100  # Hz; every input is resampled to this
    block_size: int = 11025  # samples per block: sample_rate / 4 = 0.25 s
    overlap: bool = False  # windowed blocks every block_size/2 samples instead of GRUV's hard-edged ones
    representation: str = "fft"  # "fft": GRUV's real and imaginary parts; "logmag": log magnitudes, phase rebuilt

    @property
    def hop(self) -> int:
        """Samples between the starts of consecutive blocks: half a block when they overlap."""
        return max(1, self.block_size // 2) if self.overlap else self.block_size

    @property
    def seconds(self) -> float:
        """Seconds of new audio per block."""
        return self.hop / self.sample_rate

    @property
    def fft_dim(self) -> int:
        """Values per block in the training tensors: real and imaginary FFT parts side by side."""
        return 2 * self.block_size

    @property
    def feature_dim(self) -> int:
        """Values per block the network sees: fft_dim ("fft"), or one log magnitude per bin ("logmag")."""
        return self.fft_dim if self.representation == "fft" else self.block_size // 2 + 1

    def blocks_in(self, seconds: float) -> int:
        """Blocks that make `seconds` of audio, to the nearest block."""
        return round(seconds / self.seconds)

    def as_fft(self) -> BlockSpec:
        """The same blocks as the training tensors hold them (GRUV's FFT values)."""
        return replace(self, representation="fft")

    def describe(self) -> str:
        """The blocks in words, for error messages."""
        return (f"{'overlapping' if self.overlap else 'hard-edged'} blocks of {self.block_size} samples at "
                f"{self.sample_rate} Hz")

    def to_doc(self) -> dict:
        """The keys a JSON file (info, weight or song sidecar) records it by; schema.get_block reads them."""
        return asdict(self)


@dataclass(frozen=True)
class AudioConfig:
    """How audio becomes tensors (convert_directory.py)."""

    block: BlockSpec = BlockSpec()
    clip_len: float = 10.0  # seconds of audio in one training clip

    @property
    def clip_blocks(self) -> int:
        """Blocks in one training clip (40 with the defaults, 80 with overlap)."""
        return max(1, round(self.clip_len * self.block.sample_rate / self.block.hop))


@dataclass(frozen=True)
class ConvertConfig:
    """Where convert_directory.py reads and writes."""

    input_dir: Path = Path("datasets/training_data")
    output_prefix: Path = Path("datasets/np_array")
    max_files: int = 200  # the original's cap on files per conversion
    shard_size: int = 0  # clips per X/Y shard file; 0 writes one PREFIX_x.npy and one PREFIX_y.npy
    jobs: int = 0  # files decoded and clips framed at once; 0: one per core
    audio: AudioConfig = AudioConfig()

    @property
    def wave_dir(self) -> Path:
        """Decoded mono WAVs are cached here, as in the original."""
        return self.input_dir / "wave"


CELL_NAMES = {"lstm": "LSTM", "gru": "GRU"}
OUTPUTS = ("mse", "gaussian")


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a network; saved beside its weights."""

    cell: str = "lstm"  # "lstm" | "gru"
    hidden: int = 1024  # units of the Dense and recurrent layers (the original's hidden_dimension_size)
    layers: int = 1  # stacked recurrent layers
    block: BlockSpec = BlockSpec()  # the blocks it works on: the training data's, in its representation
    clip_blocks: int = 40  # time steps per training clip
    output: str = "mse"  # "mse": one value per feature (GRUV); "gaussian": a mean per feature and a scale per bin, sampled
    prenet_dropout: float = 0.0  # dropout after the input Dense, kept on when generating (Tacotron 2's pre-net)

    @property
    def feature_dim(self) -> int:
        """Width of the input layer: the values the network sees of a block."""
        return self.block.feature_dim

    @property
    def output_dim(self) -> int:
        """Width of the output layer: the features, plus one log-scale per FFT bin for "gaussian"."""
        return self.feature_dim + (self.block.block_size if self.output == "gaussian" else 0)

    @property
    def stochastic(self) -> bool:
        """Whether generation draws random numbers (a sampled output or pre-net dropout)."""
        return self.output == "gaussian" or self.prenet_dropout > 0

    @property
    def label(self) -> str:
        """'LSTM' or 'GRU', as in the weight file names."""
        return CELL_NAMES[self.cell]


@dataclass(frozen=True)
class TrainConfig:
    """How train.py / re_train.py run; defaults are the original's."""

    n_iter: int = 5  # iterations; a checkpoint is written after each
    n_epochs: int = 3  # epochs per iteration
    n_batch: int = 5  # clips per batch
    lr: float = 0.001  # RMSprop learning rate (Keras' default, as the original used)
    validation_split: float = 0.0  # last fraction of clips held out, as Keras' validation_split
    data_prefix: Path = Path("datasets/np_array")
    weights_dir: Path = Path("weights")
    img_dir: Path = Path("img")  # model diagrams go here
    keep_every: int = 0  # also keep every k-th iteration's weights; 0 keeps only the latest
    seed: int | None = None  # fixes weight init and shuffling when set
    normalisation: str = "bin"  # "bin": each FFT feature scaled by its own std (GRUV); "global": one shared std
    strategy: str = "default"  # tf.distribute engine: "default" (one device), "mirrored", "multiworker"
    scheduled_sampling: float = 0.0  # share of input blocks replaced by the network's own prediction; 0: teacher forcing
    early_stopping: int = 0  # stop after this many epochs without improvement of the watched loss; 0: never
    lr_schedule: str = "constant"  # "constant" (the original's), "plateau" (halve on a plateau), "cosine" (to 0)
    tensorboard: Path | None = None  # write TensorBoard logs (loss, learning rate) here
    preview_seconds: float = 0.0  # a song this long beside every checkpoint, to choose one by ear; 0: none
    precision: str = "float32"  # "bfloat16": Keras' mixed_bfloat16 policy (bfloat16 maths, float32 weights)


PRECISIONS = ("float32", "bfloat16")


ORIGINAL_SONG_BLOCKS = 49  # the original wrote its 40 seed predictions plus 9 new blocks: 12.25 s


@dataclass(frozen=True)
class GenerateConfig:
    """How generate.py runs."""

    seconds: float | None = None  # None: the original's length, 49 blocks (12.25 s at the defaults)
    count: int = 1  # songs per run, generated as one batch
    seed_index: int | None = None  # training clip to seed from; None picks at random
    random_seed: int | None = None  # makes the random seed-clip choice reproducible
    data_prefix: Path = Path("datasets/np_array")
    out_dir: Path = Path("gen_songs")
    weights_dir: Path = Path("weights")  # where the menu looks
    temperature: float = 1.0  # scale of the sampled noise for "gaussian" networks; 0: the mean alone
    prime: Path | None = None  # any audio file to seed from instead of a training clip
    prime_start: float = 0.0  # seconds into the prime file where the seed starts
    echo: bool = True  # start the song with the network's predictions over the seed, as the original did
    song_format: str = "wav"  # one of SONG_FORMATS


SONG_FORMATS = ("wav", "flac", "mp3", "ogg")

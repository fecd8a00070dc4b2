"""The one source of truth for configuration: every setting's default (the original toolkit's
value), and for those a user sets, its flag, help text and range (an Option in the field's
metadata, from which cli/args.py builds the scripts' parsers). A trained model stores its ModelConfig
next to its weights so later scripts rebuild the same network.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

AUDIO_SUFFIXES = (".mp3", ".wav", ".flac", ".ogg")
DEFAULT_DATA = Path("datasets/np_array")  # the original's tensors: what conversion writes and training reads
BUNDLED_MUSIC = Path("datasets/training_data/wave")  # the bundled music, as conversion decodes it

# Limits shared by the flags and the files: what makes sense for audio and what fits in memory.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1000, 384000
MAX_BLOCK_SIZE = 1 << 20  # samples; 24 s at 44.1 kHz
MAX_CLIP_BLOCKS = 100_000
MAX_HIDDEN = 16384
MAX_LAYERS = 64
MAX_ITERATION = 10**9
SEED_MAX = 2**32 - 1  # numpy's and Keras' seeds are unsigned 32-bit
MAX_SECONDS = 3600.0  # one hour of audio per generated song
MAX_COUNT = 256  # songs per generate.py run (one batch)
MAX_TEMPERATURE = 10.0  # scale of a gaussian output's sampled spread
MAX_BOUND = 1000.0  # spreads beyond the music's range a fed-back value may go (generate --bound)
MAX_DETAIL_CONTRAST = 4.0  # --detail-contrast: past this a learnt map's partials are spikes
MAX_NOISE_MEMORY = 0.99  # --noise-memory: at 1 a song's detail would keep its first noise for ever

REPRESENTATIONS = ("fft", "logmag", "logmel", "frames")
# What a dataset's tensors hold: GRUV's FFT values (X and Y files, float32), or each block's log
# magnitudes at 16 bits in one file whose clips carry one block more, Y being X one block later, or
# (frames) the log mel bands of each block's fine frames, laid out the same way.
STORES = ("fft", "logmag", "frames")
# How a "frames" network's code of a block is made: principal components fitted on the training music,
# or a fixed cosine basis over each frame's bands (the first coefficients of a DCT, as MFCCs keep).
CODE_BASES = ("pca", "dct")
MAX_BANDS = 4096
MAX_CODE = 4096
# A "frames" network's code components (principal or cosine, the most varying first) up to here hold a block's broad
# shape (its level, tilt and envelope); the rest the detail within its frames, whose noise a song hears as hiss.
CODE_LEAD = 16
# Per-feature statistics (a dataset's mean and variance, a weight file's mean and std) are used in
# float32: within these bounds (x - mean) / std and y * std + mean stay finite there. Our own std
# never goes below MIN_STD (data.training_data.std_from_variance).
MAX_STAT = 1e15
MIN_STD = 1e-8
CELL_NAMES = {"lstm": "LSTM", "gru": "GRU"}
OUTPUTS = ("mse", "gaussian", "mixture")
MAX_COMPONENTS = 64
NORMALISATIONS = ("bin", "global")
STRATEGIES = ("default", "mirrored", "multiworker")
LR_SCHEDULES = ("constant", "plateau", "cosine")
PLATEAU_FACTOR, PLATEAU_PATIENCE = 0.5, 3  # "plateau": halve the rate after 3 epochs without improvement
PRECISIONS = ("float32", "bfloat16")
SONG_FORMATS = ("wav", "flac", "mp3", "ogg")
EXPORT_FORMATS = ("onnx", "savedmodel", "tflite")  # export.py --format
EXPORT_DETAILS = ("smooth", "learned")  # the --detail choices a player can follow: nothing lent from the data
MAX_EXPORT_SEEDS = 64
DETAILS = ("smooth", "nearest", "learned")  # generate.py --detail: how a song fills in each band


@dataclass(frozen=True)
class Option:
    """How a setting is given on the command line: its flags, help text and accepted values."""

    flags: tuple[str, ...]
    help: str
    kind: type | None = None  # int, float, str or Path; None: the default's type
    low: float | None = None  # numbers: the accepted range
    high: float | None = None
    low_open: bool = False  # the range excludes `low` / `high`
    high_open: bool = False
    choices: tuple | None = None
    metavar: str | None = None
    negate: bool = False  # a true-by-default switch that the flag turns off (--no-echo)
    stage: str | tuple[str, ...] | None = None  # for settings two scripts share a dataclass for: which sets it
    nargs: str | None = None  # "+": the flag takes one or more values (the field's default is a tuple)
    suffix: str | None = None  # a path that must end so (".png")

    def inside(self, value: float) -> bool:
        """Whether a number is in the declared range (any number, where none is declared)."""
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def span(self, whole: bool) -> str:
        """The range as messages write it: 1..64 for whole numbers, [0, 1) otherwise."""
        if whole:
            return f"{int(self.low)}..{int(self.high)}"
        return f"{'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"


def option(default, *flags: str, help: str, **how):
    """A dataclass field with `default` that a user sets with `flags` (see Option for `how`)."""
    return field(default=default, metadata={"option": Option(tuple(flags), help, **how)})


@dataclass(frozen=True)
class BlockSpec:
    """How audio is cut into blocks and what a network sees of each block: one value, which a
    dataset's info file owns and every weight file and song sidecar carries (as flat keys)."""

    sample_rate: int = option(44100, "--sample-rate", metavar="HZ", help="Hz; every file is resampled to this",
                              low=MIN_SAMPLE_RATE, high=MAX_SAMPLE_RATE, stage="convert")
    block_size: int = option(11025, "--block-size", metavar="N", help="samples per FFT block (sample_rate/4 = 0.25 s)",
                             low=1, high=MAX_BLOCK_SIZE, stage="convert")
    overlap: bool = option(False, "--overlap", help="blocks every block_size/2 samples, shaped by a square-root Hann "
                           "window, so generated songs have no seam every block (the original's blocks are hard-edged)",
                           stage="convert")
    representation: str = option(
        "fft", "--representation", choices=REPRESENTATIONS,
        help="what the network sees of a block: fft, GRUV's real and imaginary parts; logmag, log magnitudes, with "
        "the phase rebuilt when generating (Griffin-Lim on --overlap data); logmel, log magnitudes of --bands "
        "mel-spaced bands (fewer values a block: a smaller, faster network); frames, the principal components of "
        "each block's fine frames (data converted with --store frames)", stage="train")
    bands: int = option(128, "--bands", metavar="N", low=1, high=MAX_BANDS, stage=("convert", "train"),
                        help="mel bands a block for --representation logmel (training), or a fine frame for --store "
                        "frames (conversion); ignored by the others")
    frame: int = option(2048, "--frame", metavar="N", low=8, high=MAX_BLOCK_SIZE, stage="convert",
                        help="samples per fine frame for --store frames: Hann frames every N/4 samples, so "
                        "--block-size must be a multiple of N/4 (ignored by the other stores)")
    code: int = option(128, "--code", metavar="K", low=0, high=MAX_CODE, stage="train",
                       help="for --representation frames: how many principal components of a block's fine frames the "
                       "network learns (fitted on your music when training starts; 0: every frame's bands)")
    code_basis: str = option("pca", "--code-basis", choices=CODE_BASES, stage="train",
                             help="for --representation frames: pca, the first --code principal components of a "
                             "block's frames, fitted on your music; dct, the first --code / (frames a block) cosine "
                             "coefficients of each frame's bands, a fixed basis that holds as well for music the "
                             "network never heard (--code must then be a multiple of the frames a block, or of "
                             "--code-times)")
    code_times: int = option(0, "--code-times", metavar="T", low=0, high=MAX_CODE, stage="train",
                             help="for --code-basis dct: code a block's frames together, by the first T cosines over "
                             "them times the first --code / T over the bands (smooth within a block, so noise drawn on "
                             "it is too); 0: each frame alone")

    @property
    def hop(self) -> int:
        """Samples between the starts of consecutive blocks: half a block when they overlap."""
        return max(1, self.block_size // 2) if self.overlap else self.block_size

    @property
    def hop_seconds(self) -> float:
        """Seconds of new audio per block: the hop, what one network step adds to a song."""
        return self.hop / self.sample_rate

    @property
    def fft_dim(self) -> int:
        """Values per block in the training tensors: real and imaginary FFT parts side by side."""
        return 2 * self.block_size

    @property
    def bins(self) -> int:
        """Non-negative-frequency FFT bins of a block."""
        return self.block_size // 2 + 1

    @property
    def frame_hop(self) -> int:
        """Samples between the starts of consecutive fine frames (--store frames): a quarter frame."""
        return max(1, self.frame // 4)

    @property
    def frames_per_block(self) -> int:
        """Fine frames that start within one block (--store frames)."""
        return self.block_size // self.frame_hop

    @property
    def frame_values(self) -> int:
        """Stored values a block of fine frames: each frame's log mel bands."""
        return self.frames_per_block * self.bands

    @property
    def feature_dim(self) -> int:
        """Values per block the network sees: fft_dim ("fft"), one log magnitude per bin ("logmag"), per
        band ("logmel"), or per principal component of the block's fine frames ("frames"; without a
        code, every frame's bands)."""
        if self.representation == "frames":
            return self.code or self.frame_values
        return {"fft": self.fft_dim, "logmag": self.bins, "logmel": self.bands}[self.representation]

    @property
    def scale_dim(self) -> int:
        """Spreads a "gaussian" output predicts: one per FFT bin, shared by its real and imaginary parts
        ("fft"), else one per value."""
        return self.block_size if self.representation == "fft" else self.feature_dim

    def blocks_in(self, seconds: float) -> int:
        """Blocks that make `seconds` of audio, to the nearest block."""
        return round(seconds * self.sample_rate / self.hop)

    def as_fft(self) -> BlockSpec:
        """The same blocks as the training tensors hold them (GRUV's FFT values)."""
        frames = self.representation == "frames"  # its bands are the stored frames', chosen at conversion
        return replace(self, representation="fft", bands=self.bands if frames else BlockSpec.bands, code=BlockSpec.code,
                       code_basis=BlockSpec.code_basis, code_times=BlockSpec.code_times)

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
    clip_len: float = option(10.0, "--clip-len", metavar="SECONDS", help="seconds of audio per training clip",
                             low=0, high=600, low_open=True)
    store: str = option("fft", "--store", choices=STORES,
                        help="what the tensors hold: fft, GRUV's FFT values as float32 in an X and a Y file (the "
                        "original's); logmag, each block's log magnitudes as float16 in one file that Y is read from "
                        "(1/16 of the bytes; for --representation logmag and logmel networks only); frames, the log "
                        "--bands mel bands of Hann frames of --frame samples every quarter frame, as float16 in one "
                        "file (hard-edged blocks a whole number of quarter frames long; for --representation frames "
                        "networks only: songs keep the music's transients and far more of its detail)")
    trim_silence: float = option(0.0, "--trim-silence", metavar="DBFS", low=-120, high=0,
                                 help="leave out each file's leading and trailing stretch quieter than this level in "
                                 "dB below full scale (e.g. -50), so no clip teaches a song to open or fall silent; 0 "
                                 "keeps every sample (the original's)")

    @property
    def clip_blocks(self) -> int:
        """Blocks in one training clip (40 with the defaults, 80 with overlap)."""
        return max(1, self.block.blocks_in(self.clip_len))


@dataclass(frozen=True)
class ConvertConfig:
    """Where convert_directory.py reads and writes."""

    input_dir: Path = option(Path("datasets/training_data"), "--input", metavar="DIR", help="folder with your music")
    output_prefix: Path = option(DEFAULT_DATA, "--output", metavar="PREFIX",
                                 help="prefix of the output files")
    max_files: int = option(200, "--max-files", metavar="N", low=1, high=1_000_000,
                            help="convert at most this many files (sorted by name; the original's cap)")
    shard_size: int = option(0, "--shard-size", metavar="N", low=0, high=2**31,
                             help="write X and Y in files of at most this many clips (for libraries larger than "
                             "memory; training reads them all); 0 writes one file each")
    jobs: int = option(0, "--jobs", metavar="N", low=0, high=256,
                       help="files decoded and clips framed at once (0: one per core); the tensors are the same for "
                       "any number")
    audio: AudioConfig = AudioConfig()

    @property
    def wave_dir(self) -> Path:
        """Decoded mono WAVs are cached here, as in the original."""
        return self.input_dir / "wave"


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a network; saved beside its weights."""

    cell: str = "lstm"  # "lstm" | "gru"
    hidden: int = option(1024, "--hidden", metavar="N", low=1, high=MAX_HIDDEN,
                         help="hidden units of the Dense and recurrent layers (the original's hidden_dimension_size)")
    layers: int = option(1, "--layers", metavar="N", help="stacked recurrent layers", low=1, high=MAX_LAYERS)
    block: BlockSpec = BlockSpec()  # the blocks it works on: the training data's, in its representation
    clip_blocks: int = 40  # time steps per training clip
    output: str = option("mse", "--output", choices=OUTPUTS,
                         help="mse: predict each value, trained by mean squared error (GRUV); gaussian: a mean "
                         "and a spread per value, trained by likelihood and sampled when generating; mixture: "
                         "--components such Gaussians over the whole block and their weights, one chosen per block "
                         "(a loud or a quiet, a bright or a dark block as a whole)")
    components: int = option(4, "--components", metavar="K", low=1, high=MAX_COMPONENTS,
                             help="for --output mixture: Gaussians in the mixture")
    prenet_dropout: float = option(0.0, "--prenet-dropout", metavar="F", low=0, high=1, high_open=True,
                                   help="dropout rate after the input layer, kept on when generating (Tacotron 2's "
                                   "pre-net)")

    @property
    def feature_dim(self) -> int:
        """Width of the input layer: the values the network sees of a block."""
        return self.block.feature_dim

    @property
    def output_dim(self) -> int:
        """Width of the output layer: the features, then for "gaussian" their log-scales (block.scale_dim); for
        "mixture" the components' weights, then each component's features and log-scales."""
        if self.output == "mixture":
            return self.components * (1 + self.feature_dim + self.block.scale_dim)
        return self.feature_dim + (self.block.scale_dim if self.output == "gaussian" else 0)

    @property
    def stochastic(self) -> bool:
        """Whether generation draws random numbers (a sampled output or pre-net dropout)."""
        return self.output != "mse" or self.prenet_dropout > 0

    @property
    def label(self) -> str:
        """'LSTM' or 'GRU', as in the weight file names."""
        return CELL_NAMES[self.cell]


@dataclass(frozen=True)
class TrainConfig:
    """How train.py / re_train.py run; defaults are the original's."""

    n_iter: int = option(5, "-n", "--n_iter", help="number of iterations; a checkpoint is written after each",
                         low=1, high=100_000)
    n_epochs: int = option(3, "-e", "--n_epochs", help="epochs per iteration", low=1, high=100_000)
    n_batch: int = option(5, "-b", "--n_batch", help="batch size in clips; higher is faster but uses more memory",
                          low=1, high=65_536)
    lr: float = option(0.001, "--lr", metavar="X", help="RMSprop learning rate (Keras' default, as the original used)",
                       low=0, high=10, low_open=True)
    validation_split: float = option(0.0, "--validation-split", metavar="F", low=0, high=1, high_open=True,
                                     help="last fraction of clips held out for validation loss (as Keras')")
    data_prefix: Path = option(DEFAULT_DATA, "--data", metavar="PREFIX", help="prefix of the training tensors")
    weights_dir: Path = option(Path("weights"), "--weights-dir", metavar="DIR", help="where checkpoints go")
    img_dir: Path | None = option(None, "--img-dir", kind=Path, metavar="DIR",
                                  help="where the model diagram goes (default: beside the weights, in --weights-dir; "
                                  "the original wrote it to img/)")
    keep_every: int = option(0, "--keep-every", metavar="K", low=0, high=100_000,
                             help="also keep every k-th iteration's checkpoint (0: only the latest)")
    seed: int | None = option(None, "--seed", metavar="N", kind=int, low=0, high=SEED_MAX,
                              help="fix weight init and shuffling")
    normalisation: str = option(
        "bin", "--normalisation", choices=NORMALISATIONS,
        help="scale each FFT feature by its own std (bin, as GRUV) or all by one shared std (global: the loss weighs "
        "loud bins more); ignored when resuming: the weight file keeps its own")
    strategy: str = option("default", "--strategy", choices=STRATEGIES,
                           help="tf.distribute engine: one device; mirrored over all local GPUs (or 2 logical CPU "
                           "devices); multiworker over the machines in TF_CONFIG, each running this command")
    scheduled_sampling: float = option(
        0.0, "--scheduled-sampling", metavar="F", low=0, high=1, high_open=True,
        help="share of input blocks replaced by the network's own predictions in training, as in generation (0: "
        "always the real blocks, as the original)")
    carry_state: bool = option(
        False, "--carry-state",
        help="truncated backpropagation through time: the clips are read in order, -b stretches of the music side by "
        "side, and each clip starts from the state the one before it left (reset every epoch), so training sees the "
        "state as far into the music as songs run it (the original starts every clip from zero)")
    early_stopping: int = option(
        0, "--early-stopping", low=0, high=100_000, metavar="EPOCHS",
        help="stop after this many epochs without improvement of the validation loss (the training loss without "
        "--validation-split); the epochs since the last checkpoint are saved; 0: never")
    clipnorm: float = option(
        0.0, "--clipnorm", metavar="N", low=0, high=1e6,
        help="scale each update's gradients down to this global norm when they pass it, before RMSprop (0: never, "
        "as the original); keeps a rare huge gradient, a block the Gaussian output called near-impossible, from "
        "throwing a long run off")
    lr_schedule: str = option(
        "constant", "--lr-schedule", choices=LR_SCHEDULES,
        help=f"learning rate over the run: constant (the original's), plateau (halved after {PLATEAU_PATIENCE} "
        "epochs without improvement) or cosine (from --lr down to 0)")
    tensorboard: Path | None = option(None, "--tensorboard", kind=Path, metavar="DIR",
                                      help="write TensorBoard logs (loss, validation loss, learning rate) here")
    preview_seconds: float = option(
        0.0, "--preview-seconds", low=0, high=600, metavar="S",
        help="after every checkpoint, write a song of S seconds from a fixed seed beside it (..._Iter-N.preview.wav) "
        "with its verdict in the sidecar and the menus, to pick a checkpoint by ear; 0: none")
    temperature: float = option(
        1.0, "--temperature", metavar="T", low=0, high=MAX_TEMPERATURE,
        help="for --output gaussian or mixture: the scale of the sampled spread at which this network's songs are "
        "drawn, recorded in the weight file as generate.py's default and used by the previews")
    tail_noise: float = option(
        1.0, "--tail-noise", metavar="R", low=0, high=1,
        help=f"for a frames network drawn from a gaussian or mixture: the noise on each block's code past its first "
        f"{CODE_LEAD} components (the detail within its frames, not its broad shape) drawn at R times the "
        "temperature: less hiss on a solo piano, less texture on recorded mixes; 1: as the rest (a mixture's pick "
        "keeps the temperature); recorded in the weight file as generate.py's default and used by the previews")
    noise_memory: float = option(
        0.0, "--noise-memory", metavar="M", low=0, high=MAX_NOISE_MEMORY,
        help=f"for a frames network drawn from a gaussian or mixture: each block's noise on its code past its first "
        f"{CODE_LEAD} components carries M of the last block's (the rest drawn anew, the spread kept), so the detail "
        "within the frames changes as slowly as the music's instead of afresh every block; 0: drawn anew, as before; "
        "recorded in the weight file as generate.py's default and used by the previews")
    bound: float | None = option(
        None, "--bound", metavar="S", kind=float, low=0, high=MAX_BOUND,
        help="keep each value a song plays and feeds back within the range the training music's own values of it "
        "span, widened by S of its spreads (0: the music's range itself), so a song cannot run away to ever louder "
        "blocks; recorded in the weight file as generate.py's default and used by the previews; without it no bound, "
        "as the original")
    detail: str = option(
        "smooth", "--detail", choices=DETAILS,
        help="for logmel and frames networks: how this network's songs fill in each band (generate.py --detail; "
        "smooth: each band spread linearly over its bins), recorded in the weight file as generate.py's default and "
        "used by the previews")
    detail_contrast: float = option(
        1.0, "--detail-contrast", metavar="G", low=0, high=MAX_DETAIL_CONTRAST,
        help="for --detail learned: the learnt map's shape within each band (its bins' offsets from the band's level) "
        "scaled by G, each band kept at its level; a least-squares map predicts them shrunk towards their mean, so a "
        "piano's partials come back with less contrast than the music's (1: as fitted); recorded in the weight file "
        "as generate.py's default and used by the previews")
    minutes: float = option(
        0.0, "--minutes", low=0, high=10**6, metavar="M",
        help="train for M minutes of wall clock instead of n_iter x n_epochs epochs, with the n_iter checkpoints "
        "spread evenly over them (the last partial epoch saved too); 0: count epochs")
    precision: str = option(
        "float32", "--precision", choices=PRECISIONS,
        help="bfloat16: Keras' mixed_bfloat16 policy, bfloat16 maths with float32 weights (faster where the CPU or "
        "GPU multiplies bfloat16); the weight files are the same either way")


ORIGINAL_SONG_BLOCKS = 49  # the original wrote its 40 seed predictions plus 9 new blocks: 12.25 s


@dataclass(frozen=True)
class GenerateConfig:
    """How generate.py runs."""

    weights_dir: Path = option(Path("weights"), "--weights-dir", metavar="DIR", help="where the menu looks")
    data_prefix: Path | None = option(None, "--data", kind=Path, metavar="PREFIX",
                                      help="prefix of the tensors to seed from (default: the ones the weight file was "
                                      f"trained on, as its sidecar records; {DEFAULT_DATA} for one that records none)")
    seconds: float | None = option(None, "--seconds", metavar="S", kind=float, low=0, high=MAX_SECONDS,
                                   help="song length (default: the original's 49 blocks = 12.25 s); 0 with --stream: "
                                   "until interrupted")
    count: int = option(1, "--count", metavar="K", help="songs to write, generated as one batch", low=1, high=MAX_COUNT)
    seed_index: int | None = option(None, "--seed-index", metavar="I", kind=int, low=0, high=2**62,
                                    help="training clip to seed from (default: random)")
    random_seed: int | None = option(None, "--random-seed", metavar="R", kind=int, low=0, high=SEED_MAX,
                                     help="make the song reproducible: the seed-clip choice and every random draw")
    prime: Path | None = option(None, "--prime", kind=Path, metavar="FILE",
                                help="seed from this audio file (mp3, wav, flac, ogg; any rate and channels) instead "
                                "of a training clip: the network continues music it never saw")
    prime_start: float = option(0.0, "--prime-start", low=0, high=86400, metavar="SECONDS",
                                help="where in the --prime file the seed starts")
    echo: bool = option(True, "--no-echo", negate=True,
                        help="leave the network's predictions over the seed out: the song holds only new music (and "
                        "--seconds counts only that); the original starts every song with this echo")
    song_format: str = option("wav", "--format", choices=SONG_FORMATS,
                              help="file format of the songs (mp3 through lame, flac and ogg through sox)")
    out_dir: Path = option(Path("gen_songs"), "--out-dir", metavar="DIR", help="where songs go")
    stream: bool = option(False, "--stream", help="send one song to standard output as a WAV while it is made, "
                          "to play at once (generate.py --stream | play -t wav -); with --seconds 0 until Ctrl-C. "
                          "It is kept in --out-dir as well, as every song is")
    temperature: float | None = option(
        None, "--temperature", metavar="T", kind=float, low=0, high=MAX_TEMPERATURE,
        help="for networks trained with --output gaussian or mixture: scale of the sampled spread (0: the mean alone, "
        "deterministic; default: the one the network was trained to be drawn at, 1 unless its preset says); other "
        "networks ignore it")
    tail_noise: float | None = option(
        None, "--tail-noise", metavar="R", kind=float, low=0, high=1,
        help=f"for frames networks drawn from a gaussian or mixture: the noise on each block's code past its first "
        f"{CODE_LEAD} components (the detail within its frames) at R times the temperature (default: the network's "
        "own, 1 unless its training chose another); other networks ignore it")
    noise_memory: float | None = option(
        None, "--noise-memory", metavar="M", kind=float, low=0, high=MAX_NOISE_MEMORY,
        help=f"for frames networks drawn from a gaussian or mixture: each block's noise on its code past its first "
        f"{CODE_LEAD} components carries M of the last block's, so the detail changes as slowly as the music's "
        "(default: the network's own, 0 unless its training chose another: drawn anew every block); other networks "
        "ignore it")
    bound: float | None = option(
        None, "--bound", metavar="S", kind=float, low=0, high=MAX_BOUND,
        help="keep each value the song plays and feeds back within the training music's own range of it, widened by "
        f"S of its spreads (default: the network's own, none unless its preset set one; --bound {MAX_BOUND:g} is "
        "as good as none)")
    detail: str | None = option(
        None, "--detail", choices=DETAILS, kind=str,
        help="for logmel and frames networks, how a band's level is spread over its FFT bins: smooth, linear between "
        "band centres (a wash between an organ's partials); nearest (logmel only), shaped within each band like the "
        "training block in --data whose bands are nearest, which keeps partials and notes' pitches; learned, by a "
        "linear map from a block's (or fine frame's) bands to its bins fitted on --data's music (partials where the "
        "music has them, nothing lent); other networks ignore it. Default: the network's own, smooth unless its "
        "preset chose another")
    detail_contrast: float | None = option(
        None, "--detail-contrast", metavar="G", kind=float, low=0, high=MAX_DETAIL_CONTRAST,
        help="with --detail learned: the learnt map's shape within each band scaled by G, each band kept at its level "
        "(default: the network's own, 1 unless its training chose another)")
    resynthesize: tuple[Path, ...] = option(
        (), "--resynthesize", kind=Path, nargs="+", metavar="FILE",
        help="instead of songs, write each audio file as this network's representation and decoder give it back "
        "(OUT_DIR/NAME.resynthesized.wav), with how far from the music that is: the best any song of it can sound. "
        "With --detail nearest the detail is lent from --data, which should then hold other music")


@dataclass(frozen=True)
class ExportConfig:
    """How export.py writes a network for players outside the toolkit."""

    weights_dir: Path = option(Path("weights"), "--weights-dir", metavar="DIR", help="where the menu looks")
    export_format: str = option("onnx", "--format", choices=EXPORT_FORMATS,
                                help="onnx (onnxruntime: examples/onnx_player.py plays it), savedmodel (TensorFlow "
                                "Serving, TensorFlow.js) or tflite (LiteRT, on phones and boards)")
    output: Path | None = option(None, "--output", kind=Path, metavar="DIR",
                                 help="the folder to write; it must not exist yet, or be empty (default: "
                                 "exports/NAME-FORMAT, NAME the weight file's)")
    seeds: int = option(4, "--seeds", metavar="N", low=0, high=MAX_EXPORT_SEEDS,
                        help="training clips to put beside the network for a player to start songs from, spread "
                        "over the data (0: none; a player then starts from the music's mean block)")
    data_prefix: Path | None = option(None, "--data", kind=Path, metavar="PREFIX",
                                      help="prefix of the tensors to take the seeds (and a learned detail) from "
                                      "(default: the ones the weight file was trained on, as its sidecar records)")
    detail: str | None = option(None, "--detail", choices=EXPORT_DETAILS, kind=str,
                                help="for logmel and frames networks: smooth, each band spread linearly over its bins; "
                                "learned, by generate.py --detail learned's map, fitted on --data and put beside the "
                                "network (default: the network's own where a player can follow it, else smooth)")


@dataclass(frozen=True)
class EvaluateConfig:
    """How evaluate.py measures songs (the songs themselves are its positional arguments)."""

    reference: tuple[Path, ...] = option(
        (), "--reference", kind=Path, nargs="+", metavar="DIR_OR_FILES",
        help="the training music: folders of audio files, or files (default: the music the songs' network learnt from, "
        "PREFIX_xmerged.wav of the dataset its weight file records, found through the song's sidecar; "
        f"{BUNDLED_MUSIC} for songs that record none)")
    plot: Path | None = option(None, "--plot", kind=Path, suffix=".png", metavar="FILE.png",
                               help="write a PNG comparing spectra and spectrograms here (its folder is created)")
    hop_seconds: float | None = option(None, "--hop-seconds", "--block-seconds", kind=float, low=0, high=60,
                                       low_open=True, metavar="SECONDS",
                                       help="seconds of audio each generated block adds (its hop), for the seam-click "
                                       "and loop measures (default: from the song's sidecar, else 0.25; "
                                       "--block-seconds is its earlier name)")
    whole: bool = option(False, "--whole", help="measure the whole file, the echo of the seed included (default: "
                         "only what follows it)")
    json: bool = option(False, "--json", help="print the table as JSON instead")


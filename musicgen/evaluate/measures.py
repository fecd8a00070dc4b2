"""How music-like a generated song is, measured against the training music.

Every signal is analysed at ANALYSIS_RATE (mono) with the same short-time
spectrum, so songs and references of any sample rate compare directly. Two
reference points frame the scale: white noise at the training music's
loudness, and digital silence. A song that sounds like the training music is
as loud, about as tonal (low spectral flatness), and its log-mel profile is
much closer to the training music's than either reference point's is. How much
a song moves from second to second (spectral change) is measured beside those
tests, not in them: it tells a song that keeps playing from one that drones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from math import gcd

import numpy as np

ANALYSIS_RATE = 22050  # Hz; keeps everything up to 11 kHz, where nearly all musical energy is
FRAME = 2048  # STFT frame (93 ms) and hop
HOP = 512
MEL_BANDS = 64
POWER_FLOOR = 1e-10  # -100 dB re full scale: below 16-bit dither, so silence has a finite level
# The training music is analysed this many frames (~48 s) at a time: ten minutes' spectrogram at once
# took 800 MB, more than the training of the main job's network itself.
CHUNK_FRAMES = 2048

CHANGE_WINDOW_S = 1.0  # spectral change compares the mean spectra of consecutive windows this long
END_SHARE = 0.25  # "at the end" is the last quarter of a song

# The thresholds of "music-like": as loud, as tonal, and nearer the music than noise or silence.
LOUDNESS_TOLERANCE_DB = 6.0
FLATNESS_TOLERANCE = 10.0

# A window of a song's free-running part is "still music" when, besides being as loud and
# as tonal, it moves at least this share of the training music's spectral change (recordings and the
# bundled pieces measure 45-210% of their set's mean, white noise 8-15%), its consecutive blocks'
# waveforms correlate below LOOP_LIMIT (music ~0, one block repeated ~1), and no training excerpt
# lies within COPY_DISTANCE_DB of it.
MOVE_SHARE = 0.35
LOOP_LIMIT = 0.5
COPY_DISTANCE_DB = 3.0
TIMELINE_WINDOW_S = 10.0


@dataclass
class SignalMeasures:
    """The numbers evaluate.py prints for one signal."""

    name: str
    seconds: float
    rms_dbfs: float  # loudness: RMS level re full scale
    flatness: float  # mean per-frame spectral flatness: ~0.56 for white noise, ~1e-3 for tonal music
    centroid_hz: float  # power-weighted mean frequency
    mel_distance_db: float  # RMS over mel bands of the mean log-mel profile's difference to the training's
    seam_click_db: float | None = None  # jump energy at block seams over that inside blocks (0: no clicks)
    nearest_excerpt_db: float | None = None  # log-mel RMS distance to the closest training excerpt
    nearest_excerpt_at: float | None = None  # where that excerpt starts in the training music (s)
    change_db: float | None = None  # mean spectral change per second (dB): ~8 for the bundled music, 0 for a held tone
    end_change_db: float | None = None  # the same over the last quarter: a song that settles into a drone drops here
    loop: float | None = None  # consecutive blocks' waveform correlation: ~0 for music, ~1 for a repeated block

    def as_dict(self) -> dict:
        """Plain JSON-ready values."""
        return asdict(self)


class NamedTests:
    """A verdict made of named tests: it passes when every one of them does."""

    @property
    def tests(self) -> dict[str, bool]:
        raise NotImplementedError

    @property
    def passed(self) -> bool:
        """Every test passes."""
        return all(self.tests.values())

    @property
    def failed(self) -> list[str]:
        """The names of the tests it fails, in order."""
        return [name for name, ok in self.tests.items() if not ok]


@dataclass
class Verdict(NamedTests):
    """Whether a whole song is music-like: as loud and as tonal as the training music, and nearer it
    than noise or silence are."""

    loudness_ok: bool
    flatness_ok: bool
    closer_than_noise: bool
    closer_than_silence: bool

    @property
    def tests(self) -> dict[str, bool]:
        return {"loud": self.loudness_ok, "tonal": self.flatness_ok, "nearer than noise": self.closer_than_noise,
                "nearer than silence": self.closer_than_silence}

    @property
    def music_like(self) -> bool:
        return self.passed


def to_analysis_rate(samples: np.ndarray, rate: int) -> np.ndarray:
    """Float samples at `rate` -> float32 at ANALYSIS_RATE (polyphase resampling)."""
    from scipy.signal import resample_poly

    samples = np.asarray(samples, dtype=np.float32)
    if rate == ANALYSIS_RATE:
        return samples
    g = gcd(ANALYSIS_RATE, rate)
    return resample_poly(samples, ANALYSIS_RATE // g, rate // g).astype(np.float32)


def power_chunks(samples: np.ndarray, frames: int = CHUNK_FRAMES):
    """power_spectrogram(samples), `frames` frames at a time: the same frames, in a fixed amount of memory."""
    total = max(1, (len(samples) - FRAME) // HOP + 1)
    for first in range(0, total, frames):
        last = min(total, first + frames)
        yield power_spectrogram(samples[first * HOP: (last - 1) * HOP + FRAME])


def power_spectrogram(samples: np.ndarray) -> np.ndarray:
    """(frames, FRAME//2+1) power of Hann-windowed frames, scaled so a full-scale sine peaks near 0 dB."""
    from numpy.lib.stride_tricks import sliding_window_view

    if len(samples) < FRAME:
        samples = np.pad(samples, (0, FRAME - len(samples)))
    window = np.hanning(FRAME).astype(np.float32)
    frames = sliding_window_view(samples, FRAME)[::HOP] * window
    spectrum = np.fft.rfft(frames, axis=1)
    return (np.abs(spectrum) ** 2 / (window.sum() / 2) ** 2).astype(np.float64)


def mel_filterbank(n_fft_bins: int = FRAME // 2 + 1, bands: int = MEL_BANDS) -> np.ndarray:
    """(bands, bins) triangular filters evenly spaced on the mel scale from 0 Hz to Nyquist."""
    from musicgen.audio.spectra import hz_to_mel, mel_to_hz, triangles

    edges = mel_to_hz(np.linspace(0.0, hz_to_mel(ANALYSIS_RATE / 2), bands + 2))
    return triangles(np.linspace(0.0, ANALYSIS_RATE / 2, n_fft_bins), edges)


def log_mel(power: np.ndarray) -> np.ndarray:
    """(frames, bins) power -> (frames, MEL_BANDS) level in dB, floored at POWER_FLOOR."""
    return 10.0 * np.log10(np.maximum(power @ mel_filterbank(power.shape[1]).T, POWER_FLOOR))


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS level in dB re full scale (a full-scale sine is -3 dB); silence is floored at -100 dB."""
    step = 1 << 20  # in pieces: the training music's float64 squares at once would be 100 MB
    total = sum(float(np.square(samples[i:i + step], dtype=np.float64).sum()) for i in range(0, len(samples), step))
    mean_square = total / len(samples) if len(samples) else 0.0
    return float(10.0 * np.log10(max(mean_square, POWER_FLOOR)))


def frame_flatness(power: np.ndarray) -> np.ndarray:
    """Each frame's geometric / arithmetic mean power (1: flat like noise, ->0: tonal)."""
    p = np.maximum(power, POWER_FLOOR)
    return np.exp(np.mean(np.log(p), axis=1)) / np.mean(p, axis=1)


def spectral_flatness(power: np.ndarray) -> float:
    """Mean over frames of frame_flatness."""
    return float(np.mean(frame_flatness(power)))


def spectral_centroid(power: np.ndarray) -> float:
    """Power-weighted mean frequency over the whole signal, in Hz."""
    return _centroid(power.sum(axis=0))


def _centroid(total: np.ndarray) -> float:
    freqs = np.linspace(0.0, ANALYSIS_RATE / 2, len(total))
    return float((freqs * total).sum() / max(total.sum(), POWER_FLOOR))


def mel_profile(power: np.ndarray) -> np.ndarray:
    """Long-term spectral envelope: mean power per mel band, in dB."""
    mean_power = power.mean(axis=0, keepdims=True)
    return log_mel(mean_power)[0]


def seam_click_db(samples: np.ndarray, block_size: int) -> float:
    """Energy of the sample-to-sample jump at each block seam over that inside blocks, in dB.

    Continuous audio gives about 0 dB; blocks generated independently and butted
    together jump at every seam, which is heard as a click 4 times a second.
    """
    samples = np.asarray(samples, dtype=np.float64)
    jumps = np.square(np.diff(samples))  # jumps[n-1] is the jump into sample n
    seams = np.arange(block_size, len(samples), block_size) - 1
    if len(seams) == 0:
        return 0.0
    inside = np.delete(jumps, seams)
    return float(10.0 * np.log10(max(jumps[seams].mean(), POWER_FLOOR) / max(inside.mean(), POWER_FLOOR)))


def loop_score(samples: np.ndarray, block_size: int) -> float:
    """Mean correlation of consecutive blocks' waveforms: ~0 for music, ~1 for one block repeated.

    Silent blocks count as 0: silence is caught by the loudness test, not here.
    """
    samples = np.asarray(samples, dtype=np.float64)
    n = len(samples) // block_size
    if n < 2:
        return 0.0
    blocks = samples[: n * block_size].reshape(n, block_size)
    blocks = blocks - blocks.mean(axis=1, keepdims=True)
    energy = np.sum(np.square(blocks), axis=1)
    cross = np.sum(blocks[:-1] * blocks[1:], axis=1)
    norm = np.sqrt(energy[:-1] * energy[1:])
    return float(np.mean(np.where(norm > 0, cross / np.where(norm > 0, norm, 1.0), 0.0)))


def spectral_change(mel: np.ndarray) -> np.ndarray:
    """RMS over mel bands of the dB difference between consecutive 1 s windows' mean log-mel.

    One value per pair of windows. Notes coming and going move it (the bundled
    piano music: 7-9 dB); a held chord or steady noise barely does (white noise: ~0.5).
    """
    per = max(1, round(CHANGE_WINDOW_S * ANALYSIS_RATE / HOP))
    n = len(mel) // per
    if n < 2:
        return np.zeros(0)
    windows = mel[: n * per].reshape(n, per, -1).mean(axis=1)
    return np.sqrt(np.mean(np.square(np.diff(windows, axis=0)), axis=1))


def change_summary(mel: np.ndarray) -> tuple[float | None, float | None]:
    """(mean spectral change, mean over the last quarter); None where the signal is under 2 s."""
    change = spectral_change(mel)
    if len(change) == 0:
        return None, None
    end = change[-max(1, round(END_SHARE * len(change))):]
    return float(change.mean()), float(end.mean())


def nearest_excerpt(song_mel: np.ndarray, reference_mel: np.ndarray) -> tuple[float, int]:
    """Smallest RMS dB distance between the song's log-mel frames and any equally long training excerpt.

    Returns (distance, first reference frame). Near 0 means a verbatim copy;
    computed for every offset at once with FFT correlation.
    """
    from scipy.signal import correlate

    a, b = song_mel, reference_mel
    if len(a) > len(b):  # a song longer than all the training music: match the training inside the song
        a, b = b, a
    n = len(a)
    cross = correlate(b, a, mode="valid", method="fft")[:, 0]
    frame_energy = np.square(b).sum(axis=1)
    window_energy = np.convolve(frame_energy, np.ones(n), mode="valid")
    mean_square = (np.square(a).sum() + window_energy - 2.0 * cross) / a.size
    best = int(np.argmin(mean_square))
    return float(np.sqrt(max(mean_square[best], 0.0))), best


@dataclass
class Reference:
    """The training music, analysed once: its measures, profile and log-mel frames."""

    measures: SignalMeasures
    profile: np.ndarray
    mel: np.ndarray


def analyse_reference(samples: np.ndarray) -> Reference:
    """Measure the training music (ANALYSIS_RATE samples, files concatenated), a chunk of frames at a time."""
    mels, total, flatness = [], np.zeros(FRAME // 2 + 1), 0.0
    for power in power_chunks(samples):
        mels.append(log_mel(power))
        total += power.sum(axis=0)
        flatness += float(frame_flatness(power).sum())
    mel = np.concatenate(mels)
    measures = SignalMeasures(name="training music", seconds=len(samples) / ANALYSIS_RATE,
                              rms_dbfs=rms_dbfs(samples), flatness=flatness / len(mel),
                              centroid_hz=_centroid(total), mel_distance_db=0.0,
                              change_db=change_summary(mel)[0])
    return Reference(measures=measures, profile=log_mel(total[None] / len(mel))[0], mel=mel)


def measure(name: str, samples: np.ndarray, rate: int, reference: Reference, *,
            block_size: int | None = None) -> tuple[SignalMeasures, np.ndarray]:
    """Every measure of one signal at `rate` against the training music; also returns its log-mel frames.

    `block_size` (samples at `rate`) enables the seam-click measure.
    """
    at_rate = to_analysis_rate(samples, rate)
    power = power_spectrogram(at_rate)
    mel = log_mel(power)
    distance, offset = nearest_excerpt(mel, reference.mel)
    change, end_change = change_summary(mel)
    return SignalMeasures(
        name=name, seconds=len(samples) / rate, rms_dbfs=rms_dbfs(at_rate), flatness=spectral_flatness(power),
        centroid_hz=spectral_centroid(power),
        mel_distance_db=float(np.sqrt(np.mean(np.square(mel_profile(power) - reference.profile)))),
        seam_click_db=None if block_size is None else seam_click_db(samples, block_size),
        loop=None if block_size is None else loop_score(samples, block_size),
        nearest_excerpt_db=distance, nearest_excerpt_at=offset * HOP / ANALYSIS_RATE,
        change_db=change, end_change_db=end_change,
    ), mel


def noise_like(reference: Reference, seconds: float, seed: int = 0) -> np.ndarray:
    """White noise as loud (RMS) as the training music: the 'pure noise' reference point."""
    level = 10.0 ** (reference.measures.rms_dbfs / 20.0)
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(seconds * ANALYSIS_RATE)) * level).astype(np.float32)


def as_loud(db_vs_train: float) -> bool:
    """The loudness test: within LOUDNESS_TOLERANCE_DB of the training music."""
    return bool(abs(db_vs_train) <= LOUDNESS_TOLERANCE_DB)


def as_tonal(flatness_ratio: float) -> bool:
    """The flatness test: within FLATNESS_TOLERANCE times the training music's, either way."""
    return bool(1.0 / FLATNESS_TOLERANCE <= flatness_ratio <= FLATNESS_TOLERANCE)


def verdict(song: SignalMeasures, reference: Reference, noise: SignalMeasures, silence: SignalMeasures) -> Verdict:
    """Apply the music-likeness tests to one song."""
    train = reference.measures
    ratio = song.flatness / max(train.flatness, 1e-12)
    return Verdict(
        loudness_ok=as_loud(song.rms_dbfs - train.rms_dbfs),
        flatness_ok=as_tonal(ratio),
        closer_than_noise=bool(song.mel_distance_db < noise.mel_distance_db),
        closer_than_silence=bool(song.mel_distance_db < silence.mel_distance_db),
    )


@dataclass
class WindowMeasures(NamedTests):
    """One stretch of a song, judged by the "still music" tests."""

    start: float  # seconds into the song
    end: float
    rms_db_vs_train: float
    flatness_ratio: float  # the window's spectral flatness over the training music's
    change_share: float  # its mean spectral change per second over the training music's
    loop: float  # loop_score of its blocks
    nearest_excerpt_db: float

    @property
    def tests(self) -> dict[str, bool]:
        """Each test by name: True where the window passes it."""
        return {
            "loud": as_loud(self.rms_db_vs_train),
            "tonal": as_tonal(self.flatness_ratio),
            "moves": self.change_share >= MOVE_SHARE,
            "no loop": self.loop < LOOP_LIMIT,
            "no copy": self.nearest_excerpt_db >= COPY_DISTANCE_DB,
        }

    @property
    def alive(self) -> bool:
        """Every test passes: the window is still music."""
        return self.passed

    def as_dict(self) -> dict:
        """Plain JSON-ready values, with the tests, the failed ones and the verdict."""
        return {**asdict(self), "tests": self.tests, "failed": self.failed, "alive": self.alive}


def measure_window(samples: np.ndarray, rate: int, start: float, end: float, reference: Reference, *,
                   block_size: int) -> WindowMeasures:
    """Judge samples[start:end] (seconds) of a song at `rate`; `block_size` is the generated block (hop)."""
    part = np.asarray(samples[int(round(start * rate)): int(round(end * rate))], dtype=np.float32)
    at_rate = to_analysis_rate(part, rate)
    power = power_spectrogram(at_rate)
    mel = log_mel(power)
    train = reference.measures
    change = spectral_change(mel)
    return WindowMeasures(
        start=float(start), end=float(end), rms_db_vs_train=rms_dbfs(at_rate) - train.rms_dbfs,
        flatness_ratio=spectral_flatness(power) / max(train.flatness, 1e-12),
        change_share=float(change.mean()) / max(train.change_db or 0.0, 1e-9) if len(change) else 0.0,
        loop=loop_score(part, block_size), nearest_excerpt_db=nearest_excerpt(mel, reference.mel)[0],
    )


def timeline(samples: np.ndarray, rate: int, start: float, reference: Reference, *, block_size: int,
             window: float = TIMELINE_WINDOW_S) -> list[WindowMeasures]:
    """Consecutive windows from `start` to the end of the song; a last piece under 2 s is left out."""
    total = len(samples) / rate
    edges = list(np.arange(start, total, window)) + [total]
    return [measure_window(samples, rate, a, b, reference, block_size=block_size)
            for a, b in zip(edges[:-1], edges[1:]) if b - a >= 2.0]

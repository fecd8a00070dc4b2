import numpy as np
import pytest

from helpers import MUSIC
from musicgen.audio.io import from_int16, read_audio, to_int16
from musicgen.audio.limiter import CEILING, limit

RATE = 44100
LOUDEST = 2.5  # loud_music's peak, in full scales


@pytest.fixture(scope="module")
def loud_music() -> np.ndarray:
    """Real music pushed LOUDEST times past full scale at its loudest: what a song on mastered music can do."""
    samples, _ = read_audio(MUSIC / "minuet_in_g.mp3", RATE, resample=True)
    samples = samples[5 * RATE: 9 * RATE]
    return (samples * (LOUDEST / np.abs(samples).max())).astype(np.float32)


def high_band_power(samples: np.ndarray) -> float:
    """Mean power above 16 kHz, where the piano rendering holds next to nothing."""
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    return float(spectrum[np.fft.rfftfreq(len(samples), 1 / RATE) > 16000].mean())


def test_music_within_full_scale_comes_out_unchanged(loud_music):
    quiet = loud_music * np.float32(0.9 / LOUDEST)  # its loudest at 0.9 of full scale
    assert np.array_equal(limit(quiet, RATE), quiet)


def test_peaks_are_lowered_below_full_scale_without_the_splatter_of_clipping(loud_music):
    limited = limit(loud_music, RATE)
    assert np.abs(limited).max() <= CEILING
    written = from_int16(to_int16(limited))
    clipped = from_int16(to_int16(loud_music))  # what the 16-bit write did before
    # Hard clipping sprays its clicks over the highs (11 dB more above 16 kHz here); the limiter's slow gain adds none.
    assert high_band_power(written) * 10 < high_band_power(clipped)
    assert high_band_power(written) < 1.5 * high_band_power(loud_music)


def test_only_the_neighbourhood_of_a_peak_is_turned_down(loud_music):
    limited = limit(loud_music, RATE)
    near_peak = np.convolve(np.abs(loud_music) > CEILING, np.ones(2 * int(0.011 * RATE) + 1), "same") > 0
    untouched = ~near_peak
    assert untouched.mean() > 0.3  # much of the excerpt is away from any peak
    np.testing.assert_array_equal(limited[untouched], loud_music[untouched])


def test_nan_and_empty_input_do_not_break_it():
    assert len(limit(np.zeros(0, np.float32), RATE)) == 0
    out = limit(np.array([0.0, 2.0, np.nan, 0.1] * 100, np.float32), RATE)
    assert np.nanmax(np.abs(out)) <= CEILING

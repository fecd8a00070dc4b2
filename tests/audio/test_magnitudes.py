"""Log magnitudes of the FFT bins, and Griffin-Lim rebuilding a signal with the asked magnitudes."""

from __future__ import annotations

import numpy as np
import pytest

from musicgen.config import BlockSpec


RATE = 22050


def test_logmag_features_are_log_magnitudes_of_the_non_negative_bins():
    from musicgen.audio.blocks import blocks_to_features
    from musicgen.audio.representation import from_fft_features
    from musicgen.audio.spectra import LOG_FLOOR

    block = np.sin(2 * np.pi * 5 * np.arange(64) / 64).astype(np.float32)  # 5 cycles: all in bin 5
    values = from_fft_features(blocks_to_features(block[None]), BlockSpec(block_size=64, representation="logmag"))[0]
    assert values.shape == (BlockSpec(block_size=64, representation="logmag").feature_dim,) == (33,)
    assert values[5] == pytest.approx(np.log(32 + LOG_FLOOR), rel=1e-4)
    assert values[np.arange(33) != 5].max() < np.log(1e-2)


def test_griffin_lim_rebuilds_a_signal_with_the_asked_magnitudes(unseen):
    from musicgen.audio.blocks import blocks_to_features, frame
    from musicgen.audio.representation import from_fft_features, to_signal

    block = BlockSpec(sample_rate=RATE, block_size=2048, overlap=True, representation="logmag")
    n = len(unseen[: RATE * 4]) // block.hop - 1
    blocks = frame(unseen[: RATE * 4], n, block)
    target = np.exp(from_fft_features(blocks_to_features(blocks), block))

    def mismatch(signal):  # spectral convergence: 0 for a signal with exactly these magnitudes
        got = np.exp(from_fft_features(blocks_to_features(frame(signal, n, block)), block))
        return np.linalg.norm(got - target) / np.linalg.norm(target)

    values = np.log(target)
    random_phase = to_signal(values, block, rng=np.random.default_rng(0), iterations=0)
    rebuilt = to_signal(values, block, rng=np.random.default_rng(0))
    assert mismatch(rebuilt) < 0.5 * mismatch(random_phase)
    assert mismatch(rebuilt) < 0.35
    # The default (fast Griffin-Lim, 16 rounds) is worth the 32 plain rounds it replaced.
    plain = to_signal(values, block, rng=np.random.default_rng(0), iterations=32, momentum=0.0)
    assert mismatch(rebuilt) <= 1.05 * mismatch(plain), (mismatch(rebuilt), mismatch(plain))


"""The audible part of a decoded file: its leading and trailing silence found by pydub, made for exactly this."""

from __future__ import annotations

import warnings

import numpy as np


def audible_span(pcm: np.ndarray, sample_rate: int, threshold_dbfs: float) -> tuple[int, int]:
    """(first, end) sample indices of mono int16 `pcm` without its leading and trailing stretches quieter than
    `threshold_dbfs` (10 ms at a time); (0, 0) for a file quieter than that throughout."""
    with warnings.catch_warnings():
        # pydub looks for ffmpeg at import (slicing and measuring PCM does not need it), and imports audioop, which
        # Python 3.11 and 3.12 call deprecated (requirements.txt brings audioop-lts where 3.13 removed it).
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        from pydub import AudioSegment
        from pydub.silence import detect_leading_silence

    sound = AudioSegment(data=np.asarray(pcm, dtype="<i2").tobytes(), sample_width=2, frame_rate=sample_rate,
                         channels=1)
    lead_ms = detect_leading_silence(sound, silence_threshold=threshold_dbfs)
    if lead_ms >= len(sound):
        return 0, 0
    tail_ms = detect_leading_silence(sound.reverse(), silence_threshold=threshold_dbfs)
    per_ms = sample_rate / 1000
    return int(lead_ms * per_ms), len(pcm) - int(tail_ms * per_ms)

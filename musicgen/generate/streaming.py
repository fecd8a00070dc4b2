"""One song sent to a player as it is made (generate.py --stream): a network step per block, the decoder a run
of blocks at a time, in memory that does not grow with the song; the song is kept as every song is."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
from pathlib import Path
from typing import BinaryIO

import numpy as np

from musicgen.audio.io import WavStream, WavWriter
from musicgen.audio.limiter import limit
from musicgen.audio.streaming import SignalStream
from musicgen.config import GenerateConfig
from musicgen.errors import DatasetError
from musicgen.formats.songs import keep_song, streamed_song_part
from musicgen.formats.weights import read_checkpoint
from musicgen.generate.generation import (Song, block_values, data_prefix, detail_offsets, song_blocks, song_info,
                                          song_makings, song_seeds, song_steps, song_title)
from musicgen.signals import signals_deferred

PICTURE_SECONDS = 60.0  # a longer song's picture shows its last minute: the memory stays that of a minute


class StreamStopped(Exception):
    """The player stopped reading (it was closed): the song ends there and is kept."""


def stream_song(weights: Path, cfg: GenerateConfig, listener: BinaryIO, *, on_kept=None) -> Song:
    """Send one song of the network in `weights` to `listener` as a WAV while it is made, and keep it in
    cfg.out_dir (with its sidecar and picture) when it ends, is interrupted (Ctrl-C, SIGTERM; the
    KeyboardInterrupt goes on after `on_kept(song)`) or its player stops reading. cfg.seconds 0: no end."""
    from musicgen.evaluate.report import judge_song, training_reference
    from musicgen.formats.pages import keep_page_current, write_songs_page
    from musicgen.plots import plot_song

    if cfg.count != 1:
        raise DatasetError("--stream sends one song; leave out --count")
    ckpt = read_checkpoint(weights)
    model = ckpt.model
    cfg = dataclasses.replace(cfg, count=1)
    seeds, indices, words = song_seeds(ckpt, weights, cfg)
    # The network's outputs are counted from its predictions over the seed, the echo; without it they are skipped.
    skip = 0 if cfg.echo else seeds.shape[1]
    wanted = None if cfg.seconds == 0 else song_blocks(cfg.seconds, ckpt) + skip
    rng, network, draws, detail = song_makings(ckpt, weights, cfg)
    rate = model.block.sample_rate
    echo_seconds = min(seeds.shape[1], wanted or seeds.shape[1]) * model.block.hop_seconds if cfg.echo else 0.0
    decoder = SignalStream(model.block, rng)
    recent = collections.deque()  # the last PICTURE_SECONDS of the song, for its picture
    part = streamed_song_part(cfg.out_dir)
    played = 0
    interrupted = False

    def send(samples: np.ndarray) -> None:
        nonlocal played
        if not len(samples):
            return
        samples = limit(samples, rate)  # each part alone: a peak at a part's edge is lowered from there on
        kept.write(samples)
        played += len(samples)
        recent.append(samples)
        while sum(map(len, recent)) - len(recent[0]) >= PICTURE_SECONDS * rate:
            recent.popleft()
        try:
            player.write(samples)
        except (BrokenPipeError, ConnectionResetError):
            raise StreamStopped from None

    kept = WavWriter(part, rate)
    try:
        player = WavStream(listener, rate)
        try:
            made = 0
            for out in song_steps(network, ckpt, seeds, rng=rng, draws=draws):
                first, made = made, made + out.shape[1]
                take = out[0, max(0, skip - first):None if wanted is None else max(0, wanted - first)]
                if len(take):
                    values = block_values(take, ckpt)
                    send(decoder.push(values, detail_offsets(values, ckpt, detail)))
                if wanted is not None and made >= wanted:
                    break
        except KeyboardInterrupt:
            interrupted = True
        except StreamStopped:
            pass
        # From here the song so far is kept, even when Ctrl-C or SIGTERM comes again (it is raised once it is).
        with signals_deferred():
            with contextlib.suppress(StreamStopped):
                send(decoder.flush())
            with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
                player.close()
            kept.close()
            audio = np.concatenate(list(recent)) if recent else np.zeros(0, dtype=np.float32)
            start = (played - len(audio)) / rate
            title = song_title(weights, ckpt, words[0])
            reference = training_reference(data_prefix(ckpt, cfg))  # the verdict of what the picture shows
            judged = None if reference is None else judge_song(audio, rate, max(0.0, echo_seconds - start),
                                                               reference, model.block.hop_seconds)
            info = song_info(weights, ckpt, cfg, indices[0], echo_seconds=echo_seconds, seconds=played / rate,
                             draws=draws, detail=detail, judged=judged)
            path = keep_song(cfg.out_dir, lambda wav: os.replace(part, wav), info=info,
                             song_format=cfg.song_format,
                             draw=lambda png: plot_song(audio, rate, png, title, echo_seconds=echo_seconds,
                                                        start_seconds=start))
            keep_page_current(write_songs_page, cfg.out_dir)
            song = Song(path=path, plot=path.with_suffix(".png"), seed_index=indices[0], seconds=played / rate,
                        seed=words[0], music_seconds=info.music_seconds, judged_seconds=info.judged_seconds)
            if interrupted and on_kept is not None:
                on_kept(song)
    finally:
        kept.close()
        part.unlink(missing_ok=True)
    if interrupted:
        raise KeyboardInterrupt
    return song

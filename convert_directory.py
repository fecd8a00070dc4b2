#!/usr/bin/env python3
"""Step 2: convert a folder of music into FFT block tensors for training."""

import sys
from pathlib import Path

from musicgen import schema
from musicgen.cli import ArgumentParser, float_in, int_in, run_script
from musicgen.config import AudioConfig, BlockSpec, ConvertConfig


def get_arguments(argv=None):
    """Parse the command line; defaults are the original toolkit's."""
    d, a, b = ConvertConfig(), AudioConfig(), BlockSpec()
    p = ArgumentParser(
        description="Convert every mp3/wav/flac/ogg in a folder to mono 16-bit WAV (lame, sox), "
        "cut it into FFT blocks and write the training tensors "
        "PREFIX_x.npy, PREFIX_y.npy, PREFIX_mean.npy, PREFIX_var.npy and PREFIX_xmerged.wav.",
    )
    p.add_argument("--input", type=Path, default=d.input_dir, help="folder with your music")
    p.add_argument("--output", type=Path, default=d.output_prefix, help="prefix of the output files")
    p.add_argument("--clip-len", type=float_in(0, 600, low_open=True), default=a.clip_len,
                   help="seconds of audio per training clip")
    p.add_argument("--block-size", type=int_in(1, schema.MAX_BLOCK_SIZE), default=b.block_size,
                   help="samples per FFT block (sample_rate/4 = 0.25 s)")
    p.add_argument("--overlap", action="store_true",
                   help="blocks every block_size/2 samples, shaped by a square-root Hann window, so "
                   "generated songs have no seam every block (the original's blocks are hard-edged)")
    p.add_argument("--sample-rate", type=int_in(schema.MIN_SAMPLE_RATE, schema.MAX_SAMPLE_RATE),
                   default=b.sample_rate, help="Hz")
    p.add_argument("--max-files", type=int_in(1, 1_000_000), default=d.max_files,
                   help="convert at most this many files (sorted by name)")
    p.add_argument("--shard-size", type=int_in(0, 2**31), default=d.shard_size,
                   help="write X and Y in files of at most this many clips (for libraries larger than "
                   "memory; training reads them all); 0 writes one file each")
    p.add_argument("--jobs", type=int_in(0, 256), default=d.jobs,
                   help="files decoded and clips framed at once (0: one per core); the tensors are the same "
                   "for any number")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def main(argv=None):
    args = get_arguments(argv)
    from musicgen.convert import convert_directory

    block = BlockSpec(sample_rate=args.sample_rate, block_size=args.block_size, overlap=args.overlap)
    audio = AudioConfig(block=block, clip_len=args.clip_len)
    cfg = ConvertConfig(input_dir=args.input, output_prefix=args.output, max_files=args.max_files,
                        shard_size=args.shard_size, jobs=args.jobs, audio=audio)
    summary = convert_directory(cfg, progress=not args.quiet)
    print("\n".join(summary.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))

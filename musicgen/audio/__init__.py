"""Audio in and out: decoding with lame and sox, WAV files, FFT blocks and what a network sees of them."""

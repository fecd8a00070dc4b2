"""Evaluation: how music-like a song is, measured against the training music."""

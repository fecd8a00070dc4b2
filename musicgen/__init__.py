"""Shared library behind the LSTM/GRU music-generation scripts.

Nothing here runs at import time: no folders are created and TensorFlow is
only imported by the modules that build or run networks.
"""

__version__ = "0.1.0"

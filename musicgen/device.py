"""What the machine computes on, asked once."""

from __future__ import annotations

import functools


@functools.cache
def gpu_present() -> bool:
    """Whether TensorFlow sees a GPU (then Keras' stock recurrent layers run cuDNN)."""
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))

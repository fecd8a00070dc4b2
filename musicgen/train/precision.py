"""The arithmetic training runs in: Keras' mixed-precision policy and whether XLA compiles the step."""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def precision_policy(precision: str):
    """Build layers under Keras' "mixed_bfloat16" policy for "bfloat16"; the global policy is put back after."""
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if precision == "bfloat16" else "float32")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def use_xla(precision: str, distributed: bool) -> bool:
    """Whether to compile the training step with XLA: not across replicas, and not for bfloat16 on a CPU,
    where XLA multiplies bfloat16 no faster than float32 while TensorFlow's own kernels (oneDNN) do it
    about twice as fast (bench/bench_train.py)."""
    from musicgen.device import gpu_present

    return not distributed and (precision != "bfloat16" or gpu_present())

"""TensorFlow's own distribution engines for the training loop: one device, mirrored, multi-worker."""

from __future__ import annotations

import os

from musicgen.config import STRATEGIES
from musicgen.errors import MusicGenError
from musicgen.schema import SchemaError, parse_json

KERAS_TESTED = "3.15"  # the Keras minor version whose internals fix_keras_multiworker patches


def make_strategy(name: str, *, cpu_devices: int = 2):
    """The tf.distribute strategy for `name`; call before any other TensorFlow work in the process.

    mirrored: every local GPU, or without one `cpu_devices` logical CPU devices (the
    same arithmetic split in replicas; useful to check a set-up, not faster on CPU).
    multiworker: the machines TF_CONFIG lists, each running the same command.
    """
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if tf.config.list_physical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        return tf.distribute.MirroredStrategy(_logical_cpus(tf, cpu_devices))
    if name == "multiworker":
        cluster = _tf_config()
        workers = cluster.get("cluster", {}).get("worker", [])
        if not workers or "task" not in cluster:
            raise MusicGenError("TF_CONFIG must name the cluster's workers and this process's task, e.g. "
                                '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                                '"task": {"type": "worker", "index": 0}}')
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise MusicGenError(f"unknown strategy '{name}' (expected one of {', '.join(STRATEGIES)})")


def _tf_config() -> dict:
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise MusicGenError("--strategy multiworker needs the TF_CONFIG environment variable (see docs/SCALING.md)")
    try:
        config = parse_json(text)
    except SchemaError as exc:
        raise MusicGenError(f"TF_CONFIG is {exc}") from None
    if not isinstance(config, dict):
        raise MusicGenError("TF_CONFIG must be a JSON object")
    return config


def _logical_cpus(tf, count: int) -> list[str]:
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:
        # The runtime was started earlier in this process; use the CPU devices it already has.
        pass
    return [d.name for d in tf.config.list_logical_devices("CPU")]


def is_chief(strategy) -> bool:
    """Whether this process writes files: always, except for the non-chief workers of a cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type == "chief" or (task_type == "worker" and task_id == 0
                                    and "chief" not in resolver.cluster_spec().as_dict())


def shard_by_data(dataset, strategy):
    """Split a dataset of index batches between workers by element (it is not read from files)."""
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return dataset
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def fix_keras_multiworker(model, strategy) -> None:
    """Let Keras 3 (3.15) run fit() on `model` under MultiWorkerMirroredStrategy.

    Two things fail there. Before training, Keras all-reduces the first (x, y) batch as
    one tuple to build the model, which this strategy cannot reduce (ValueError: attempt
    to convert PerReplica to a Tensor); shapes are all the build needs, so this worker's
    own batch is used instead. And it averages each step's scalar logs across replicas
    along axis 0, which scalars do not have; the steps' logs are given that axis.
    """
    import keras
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    # These are Keras internals: refuse clearly on a version they were not written and tested for.
    if not keras.__version__.startswith(KERAS_TESTED + ".") or not hasattr(model, "_symbolic_build"):
        raise MusicGenError(f"--strategy multiworker relies on Keras {KERAS_TESTED} internals, but Keras "
                            f"{keras.__version__} is installed; pip install 'keras=={KERAS_TESTED}.*' or use "
                            "--strategy mirrored")
    for name in ("train_step", "test_step"):
        step = getattr(model, name)
        setattr(model, name, lambda data, step=step: tf.nest.map_structure(lambda v: tf.reshape(v, (1,)), step(data)))

    def local(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def maybe_symbolic_build(iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, it in iterator:
                data_batch = tf.nest.map_structure(local, next(it))
                break
        with strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    model._maybe_symbolic_build = maybe_symbolic_build

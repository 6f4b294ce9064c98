"""`tf.distribute` for both trainers: strategies, logical CPUs and global-batch sharding.

`make_strategy(name, logical_cpus)` builds the strategy of `--strategy`:

* `default`: no distribution (None; the trainers keep their XLA-compiled single-device step).
* `mirrored`: `tf.distribute.MirroredStrategy` over every local GPU, or, without GPUs, over every
  logical CPU (`--logical_cpus=N` splits the host CPU into N devices so that multi-replica code
  runs and can be tested on one machine; it is not faster).
* `multi_worker`: `tf.distribute.MultiWorkerMirroredStrategy`, configured from the `TF_CONFIG`
  environment variable (cluster and task of this process); each worker contributes its GPUs, or
  one CPU. Without `TF_CONFIG` it runs as a single local worker.

Batches are sharded so that a distributed step sees exactly the single-device global batch:
every input pipeline builds the same global batch (same seed) and hands its replicas their
consecutive slices (`distribute_batches`); replica r of R gets sketches `[r B/R, (r+1) B/R)`
(`shard_batch` slices every tensor along its batch axis; layouts that pack rows of variable
count, like SketchGloc's stroke nodes, bring their own shard function). `replica_rows` takes
the same slice of a tensor drawn for the global batch inside the replica context
(reparameterisation noise), so random draws match too.
"""

import tensorflow as tf
from absl import logging

from sketch_common.errors import ConfigError

STRATEGIES = ("default", "mirrored", "multi_worker")


def configure_logical_cpus(count: int) -> None:
    """Splits the first physical CPU into `count` logical devices (`/device:CPU:0` ... `N-1`).

    Must run before TensorFlow initialises its devices (before the first tensor, variable or
    `tf.config.list_logical_devices` call). Calling it again with the same count is a no-op.

    Args:
        count: number of logical CPUs; 0 or 1 leaves the CPU as it is.

    Raises:
        ConfigError: a negative count, or devices already initialised with another split.
    """
    if count < 0:
        raise ConfigError(f"--logical_cpus={count}: use 0 (no split) or a positive count")
    if count <= 1:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu) or []
    if len(current) == count:
        return
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
    except RuntimeError as error:
        raise ConfigError(
            f"--logical_cpus={count}: TensorFlow has already initialised its devices "
            f"({error}); configure the logical CPUs first thing in the process (the command "
            "lines do), or run the code in a fresh process") from error


def make_strategy(name: str, logical_cpus: int = 0):
    """The `tf.distribute.Strategy` called `name` (see the module docstring).

    Args:
        name: one of `STRATEGIES`.
        logical_cpus: split the CPU into this many logical devices first (0: no split).

    Returns:
        The strategy, or None for `default` (the trainers' single-device path).

    Raises:
        ConfigError: an unknown name, or logical CPUs requested too late.
    """
    if name not in STRATEGIES:
        raise ConfigError(f"--strategy={name!r} is not one of {STRATEGIES}")
    configure_logical_cpus(logical_cpus)
    if name == "default":
        return None
    if name == "mirrored":
        devices = [device.name for device in tf.config.list_logical_devices("GPU")]
        devices = devices or [device.name for device in tf.config.list_logical_devices("CPU")]
        strategy = tf.distribute.MirroredStrategy(devices)
    else:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    logging.info("%s strategy: %d replicas in sync", name, strategy.num_replicas_in_sync)
    return strategy


def check_global_batch(batch_size: int, strategy: tf.distribute.Strategy) -> int:
    """The per-replica batch size `batch_size / R`.

    Raises:
        ConfigError: `batch_size` is not a multiple of the number of replicas R.
    """
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ConfigError(
            f"batch_size={batch_size} is not a multiple of the {replicas} replicas of the "
            f"strategy; use a multiple of {replicas}")
    return batch_size // replicas


def shard_batch(batch: dict, replica, replicas: int, axes=None) -> dict:
    """Replica `replica`'s consecutive slice of every tensor of a global batch.

    Args:
        batch: dict of tensors whose batch axis (size a multiple of `replicas`) is static.
        replica: replica index in `[0, replicas)` (int or scalar int tensor).
        replicas: number of replicas R.
        axes: optional {key: batch axis}; keys not listed use axis 0.

    Returns:
        Dict of the same keys, each with the batch axis divided by R.
    """
    axes = axes or {}
    shards = {}
    for key, value in batch.items():
        axis = axes.get(key, 0)
        size = value.shape[axis] // replicas
        shards[key] = tf.gather(value, tf.range(size) + replica * size, axis=axis)
    return shards


def distribute_batches(strategy: tf.distribute.Strategy, dataset_fn, shard_fn=shard_batch):
    """A distributed dataset whose step i gives each replica its slice of global batch i.

    Every input pipeline (one per worker) calls `dataset_fn()`, which must yield the same
    global batches on every worker, and emits the slices of its local replicas in replica order;
    `distribute_datasets_from_function` hands consecutive elements to consecutive local replicas.

    Args:
        strategy: the strategy.
        dataset_fn: no-argument callable returning a `tf.data.Dataset` of global batch dicts.
        shard_fn: `(batch, replica, replicas) -> dict`, replica `replica`'s slice of a global
            batch; every replica's slice must have the same static shapes (`shard_batch`, or a
            layout-aware variant).

    Returns:
        A `tf.distribute.DistributedDataset`; iterate it to get per-replica batches.
    """
    replicas = strategy.num_replicas_in_sync

    def pipeline(context: tf.distribute.InputContext) -> tf.data.Dataset:
        local = replicas // context.num_input_pipelines
        first = context.input_pipeline_id * local

        def local_shards(batch):
            shards = [shard_fn(batch, first + k, replicas) for k in range(local)]
            stacked = {key: tf.stack([shard[key] for shard in shards]) for key in shards[0]}
            return tf.data.Dataset.from_tensor_slices(stacked)

        return dataset_fn().flat_map(local_shards).prefetch(tf.data.AUTOTUNE)

    return strategy.distribute_datasets_from_function(pipeline)


def replica_rows(tensor: tf.Tensor) -> tf.Tensor:
    """This replica's slice (axis 0) of a tensor computed for the global batch.

    In a replica context of R replicas, rows `[r B/R, (r+1) B/R)` of the `[B, ...]` tensor for
    replica r, matching `shard_batch`; the tensor itself with one replica.
    """
    context = tf.distribute.get_replica_context()
    replicas = context.num_replicas_in_sync
    if replicas == 1:
        return tensor
    size = tensor.shape[0] // replicas
    replica = tf.cast(context.replica_id_in_sync_group, tf.int32)
    return tf.gather(tensor, tf.range(size) + replica * size, axis=0)

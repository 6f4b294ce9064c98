"""TensorBoard helpers shared by the trainers (no dependency on the tensorboard pip package).

`scalar_metadata()` is the SummaryMetadata of the scalars plugin for `tf.summary.write`;
`hparams_summary_values(values)` turns a settings mapping into what the HParams dashboard takes.
"""

import json
import os


def scalar_metadata() -> bytes:
    """SummaryMetadata of the TensorBoard scalars plugin (written without the tensorboard pip)."""
    from tensorflow.core.framework import summary_pb2

    metadata = summary_pb2.SummaryMetadata()
    metadata.plugin_data.plugin_name = "scalars"
    return metadata.SerializeToString()


def hparams_summary_values(values) -> dict:
    """Settings as the HParams dashboard takes them: lists as JSON text, other types dropped.

    Args:
        values: mapping name -> value (e.g. a config's `to_dict()`).

    Returns:
        dict name -> bool, int, float or str; lists and tuples as JSON text; None and other
        values left out.
    """
    summary = {}
    for key, value in dict(values).items():
        if isinstance(value, (list, tuple)):
            summary[key] = json.dumps(value)
        elif isinstance(value, (bool, int, float, str)):
            summary[key] = value
    return summary


def event_seconds(log_dir: str) -> float:
    """Wall-clock seconds a run spent writing TensorBoard events in `log_dir` (not recursive):
    for each event file (one per process), last event time minus first, summed. A run resumed
    after a kill thus counts its working time, not the pause.

    Returns:
        0.0 when `log_dir` has no readable event file.
    """
    import glob

    import tensorflow as tf
    from tensorflow.core.util import event_pb2

    total = 0.0
    for path in sorted(glob.glob(os.path.join(log_dir, "events.out.tfevents.*"))):
        times = []
        try:
            for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
                times.append(event_pb2.Event.FromString(record).wall_time)
        except tf.errors.DataLossError:
            pass  # a file cut by a kill: its complete records count
        if times:
            total += max(times) - min(times)
    return total

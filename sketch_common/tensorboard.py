"""TensorBoard helpers shared by the trainers (no dependency on the tensorboard pip package).

`scalar_metadata()` is the SummaryMetadata of the scalars plugin for `tf.summary.write`;
`hparams_summary_values(values)` turns a settings mapping into what the HParams dashboard takes.
"""

import json


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

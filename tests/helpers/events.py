"""Reading back what a run logged to TensorBoard."""

import glob
import os

import tensorflow as tf


def event_tags(log_dir):
    """Sorted `tag (plugin)` strings of the TensorBoard events under `log_dir`."""
    tags = set()
    for path in glob.glob(os.path.join(log_dir, "**", "events.out.tfevents.*"), recursive=True):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tags.add(f"{value.tag} ({value.metadata.plugin_data.plugin_name})")
    return sorted(tags)

"""Serving helpers shared by the SketchGloc and Sketch-BERT exports.

* In-graph request checks (`check_sketch_batch`, `check_scalar`, `assert_first_failure`,
  `padded_shape`): every signature validates its inputs with ops that cannot fail on a malformed
  request, then one assertion reports the first problem as an `InvalidArgumentError` whose
  message a client can read.
* Versioned export writing (`next_version`, `check_export_base`, `write_version`): TF Serving
  watches `EXPORT_BASE` and loads its all-digit sub-folders; a version is written into a hidden
  temporary folder renamed at the end, so a server never sees a half-written one.

Errors the user can fix (a base that is not a writable folder, a version that is not positive or
already exists) are `sketch_common.errors.ExportError` unless the caller asks for its own type.
"""

import os
import shutil
import tempfile

import tensorflow as tf

from sketch_common.errors import ExportError

INFO_FILE = os.path.join("assets.extra", "export_info.json")


def assert_first_failure(checks, data=()):
    """One assertion reporting the first failed check of an ordered list.

    Each check is computed with ops that cannot fail on malformed inputs, so the error a client
    sees is always this message, never a shape error of a later op.

    Args:
        checks: list of `(condition, message)`: scalar bool tensors and their explanations.
        data: extra tensors printed after the message (e.g. the request's shapes).

    Returns:
        The `Assert` op.
    """
    conditions = tf.stack([condition for condition, _ in checks])
    messages = tf.constant([message for _, message in checks])
    first = tf.argmin(tf.cast(conditions, tf.int32))
    return tf.debugging.Assert(
        tf.reduce_all(conditions), [tf.gather(messages, first), *data], summarize=12)


def padded_shape(value, rank):
    """The first `rank` dimensions of `value`'s shape, zeros for missing ones (never fails)."""
    return tf.concat([tf.shape(value), tf.zeros([rank], tf.int32)], axis=0)[:rank]


def check_sketch_batch(strokes, lengths):
    """Validates a stroke-3 request.

    Args:
        strokes: float32 tensor of any shape, expected `[B, P, 3]` (dx, dy, pen_lift).
        lengths: int32 tensor of any shape, expected `[B]`, each in [0, P].

    Returns:
        `(strokes [B, P, 3], lengths [B])`, well-formed whatever the request (an empty batch
        when the shapes are wrong, lengths clipped to [0, P]) and computed after an assertion
        that fails with `InvalidArgumentError` naming the first problem found.
    """
    shape = padded_shape(strokes, 3)
    well_formed = [
        (tf.equal(tf.rank(strokes), 3),
         "strokes must be a rank-3 [B, P, 3] batch of stroke-3 rows (dx, dy, pen_lift)"),
        (tf.equal(shape[2], 3), "strokes must have 3 columns (dx, dy, pen_lift)"),
        (tf.equal(tf.rank(lengths), 1), "lengths must be a rank-1 [B] vector"),
        (tf.equal(tf.size(lengths), shape[0]),
         "lengths must have one entry per sketch of strokes"),
    ]
    usable = tf.reduce_all(tf.stack([condition for condition, _ in well_formed]))
    shape = tf.where(usable, shape, tf.constant([0, 0, 3]))
    flat_lengths = tf.reshape(lengths, [-1])[:shape[0]]
    clean_strokes = tf.reshape(tf.reshape(strokes, [-1])[:tf.reduce_prod(shape)], shape)
    clean_strokes = tf.ensure_shape(clean_strokes, [None, None, 3])
    valid = tf.sequence_mask(flat_lengths, shape[1])
    real_rows = tf.boolean_mask(clean_strokes, valid)
    checked = assert_first_failure(well_formed + [
        (tf.reduce_all(flat_lengths >= 0), "lengths must be >= 0"),
        (tf.reduce_all(flat_lengths <= shape[1]),
         "lengths must not exceed P, the padded number of rows of strokes"),
        (tf.reduce_all(tf.math.is_finite(real_rows)),
         "strokes contain NaN or infinite values within lengths"),
        (tf.reduce_all((real_rows[:, 2] == 0.0) | (real_rows[:, 2] == 1.0)),
         "pen_lift (column 2 of strokes) must be 0 or 1 within lengths"),
    ], ["strokes shape:", tf.shape(strokes), "lengths:", lengths])
    with tf.control_dependencies([checked]):
        return (tf.identity(clean_strokes),
                tf.clip_by_value(flat_lengths, 0, shape[1]))


def check_scalar(value, name):
    """Validates a scalar request input; returns it (the first element whatever the shape)."""
    checked = assert_first_failure([(tf.equal(tf.rank(value), 0), f"{name} must be a scalar")],
                                   [f"{name} shape:", tf.shape(value)])
    with tf.control_dependencies([checked]):
        return tf.concat([tf.reshape(value, [-1]), tf.zeros([1], value.dtype)], axis=0)[0]


def next_version(export_base: str) -> int:
    """One more than the largest all-digit folder name in `export_base` (1 if none)."""
    if not os.path.isdir(export_base):
        return 1
    versions = [int(name) for name in os.listdir(export_base) if name.isdigit()]
    return max(versions, default=0) + 1


def check_export_base(export_base: str, error_type=ExportError) -> None:
    """Fails early when `export_base` cannot hold version folders.

    Args:
        export_base: the model base path (it need not exist yet).
        error_type: the exception type raised (default the neutral `ExportError`).

    Raises:
        error_type: `export_base`, or the nearest existing folder above it, is not a writable
            folder.
    """
    if os.path.exists(export_base) and not os.path.isdir(export_base):
        raise error_type(f"EXPORT_BASE {export_base}: exists and is not a folder; pass the "
                         "folder that holds (or will hold) the numbered versions")
    existing = os.path.abspath(export_base)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise error_type(f"EXPORT_BASE {export_base}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise error_type(f"EXPORT_BASE {export_base}: {existing} is not writable; pass a "
                         "folder you can write to")


def write_version(export_base: str, version, write, error_type=ExportError) -> str:
    """Runs `write(folder)` on a hidden temporary folder, then renames it `export_base/version`.

    Servers watching `export_base` ignore the temporary folder (its name is not a number).

    Args:
        export_base: created if needed.
        version: positive int, or None for `next_version(export_base)`.
        write: callable filling the folder.
        error_type: the exception type raised for a bad version or base (default the neutral
            `ExportError`).

    Returns:
        The final folder.

    Raises:
        error_type: a version that is not positive or already exists, or an `export_base`
            that is not a writable folder (see `check_export_base`).
    """
    check_export_base(export_base, error_type)
    version = next_version(export_base) if version is None else int(version)
    if version < 1:
        raise error_type(f"--version must be a positive integer, got {version}")
    final = os.path.join(export_base, str(version))
    if os.path.exists(final):
        raise error_type(f"{final} already exists; pick another --version or omit it")
    os.makedirs(export_base, exist_ok=True)
    temporary = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=export_base)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(temporary, 0o777 & ~umask)  # mkdtemp's 0700 would hide it from a server user
        write(temporary)
        os.rename(temporary, final)
    finally:
        if os.path.exists(temporary):
            shutil.rmtree(temporary)
    return final

"""TF Serving's REST predict format: JSON bodies to NumPy inputs, outputs back to JSON.

A request names a signature (`signature_name`, default `serving_default`) and gives its inputs
in one of two layouts:

* columnar: `{"inputs": {"strokes": [[[dx, dy, pen], ...]], "lengths": [5]}}` (or the bare value
  for a signature with one input), answered with `{"outputs": {name: value}}` (the bare value
  when the signature has one output);
* row: `{"instances": [{"strokes": [[dx, dy, pen], ...], "lengths": 5}, ...]}`: one object per
  batch item, stacked along a new first dimension, answered with `{"predictions": [{name:
  value}, ...]}` (bare values when the signature has one output). As in TF Serving, every input
  gains the batch dimension, so a signature with scalar inputs (`temperature`, `seed`) takes only
  the columnar layout.

Everything a client can get wrong raises `RequestError` with a one-line message; the server
answers it with HTTP 400 `{"error": message}` as TF Serving does.
"""

import json

import numpy as np

DEFAULT_SIGNATURE = "serving_default"


class RequestError(ValueError):
    """A predict request the server cannot run (answered with HTTP 400 and this message)."""


def _decoded_json(body: bytes):
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RequestError(f"the body is not valid JSON: {error}") from None


def to_array(value, name: str, dtype, max_batch: int) -> np.ndarray:
    """One JSON input value as an array of the signature's dtype.

    Args:
        value: the decoded JSON (number or nested lists).
        name: the input's name (for messages).
        dtype: the NumPy dtype of the signature input (float32, int32 or int64).
        max_batch: the largest first dimension accepted.

    Returns:
        The array, of any rank (the signature checks the shape).

    Raises:
        RequestError: nested lists of unequal lengths, values that are not numbers, integers
            given with a fraction or out of the dtype's range, or a batch over `max_batch`.
    """
    try:
        array = np.asarray(value)
    except ValueError:
        raise RequestError(f"input '{name}' is not a rectangular array: nested lists of "
                           "unequal lengths") from None
    if array.dtype.kind not in "iuf":
        raise RequestError(f"input '{name}' must be an array of numbers (nested lists of equal "
                           f"lengths), got {str(value)[:60]}")
    if array.ndim and array.shape[0] > max_batch:
        raise RequestError(f"input '{name}' has {array.shape[0]} rows, more than this server's "
                           f"limit of {max_batch} per request")
    target = np.dtype(dtype)
    if target.kind in "iu":
        if array.dtype.kind == "f" and not np.all(np.mod(array, 1) == 0):
            raise RequestError(f"input '{name}' must hold integers ({target.name})")
        limits = np.iinfo(target)
        if array.size and (array.min() < limits.min or array.max() > limits.max):
            raise RequestError(f"input '{name}' holds values outside the {target.name} range")
    return array.astype(target)


def parse_request(body: bytes, input_dtypes, max_batch: int):
    """A predict body as `(signature name, named arrays, columnar?)`.

    Args:
        body: the raw request body.
        input_dtypes: callable `signature name -> {input name: NumPy dtype}`; raises
            `RequestError` for an unknown signature.
        max_batch: the largest batch accepted per input.

    Returns:
        `(signature_name, {input name: np.ndarray}, columnar)`, `columnar` False for the row
        layout (`instances`).

    Raises:
        RequestError: invalid JSON, a body that is not an object with exactly one of `inputs` /
            `instances`, unknown or missing input names, values that are not arrays of numbers.
    """
    request = _decoded_json(body)
    if not isinstance(request, dict):
        raise RequestError("the body must be a JSON object with \"inputs\" or \"instances\"")
    layouts = [key for key in ("inputs", "instances") if key in request]
    if len(layouts) != 1:
        raise RequestError("the body must have exactly one of \"inputs\" (columnar) and "
                           "\"instances\" (row)")
    signature = request.get("signature_name", DEFAULT_SIGNATURE)
    if not isinstance(signature, str):
        raise RequestError("signature_name must be a string")
    dtypes = input_dtypes(signature)
    names = list(dtypes)
    if layouts[0] == "inputs":
        named = request["inputs"]
        if not isinstance(named, dict):
            named = {names[0]: named} if len(names) == 1 else named
        columnar = True
    else:
        named = _stacked_instances(request["instances"], names)
        columnar = False
    if not isinstance(named, dict):
        raise RequestError(f"\"inputs\" must be an object naming the inputs of {signature}: "
                           f"{', '.join(names)}")
    unknown = sorted(set(named) - set(names))
    missing = [name for name in names if name not in named]
    if unknown or missing:
        problem = (f"has no input {', '.join(map(repr, unknown))}" if unknown
                   else f"needs {', '.join(map(repr, missing))}")
        raise RequestError(f"signature {signature} {problem}; its inputs are "
                           f"{', '.join(names)}")
    return signature, {name: to_array(named[name], name, dtypes[name], max_batch)
                       for name in names}, columnar


def _stacked_instances(instances, names) -> dict:
    """Row layout: a list of per-item objects -> one list per input name."""
    if not isinstance(instances, list) or not instances:
        raise RequestError("\"instances\" must be a non-empty list (one entry per batch item)")
    if len(names) == 1 and not all(isinstance(item, dict) for item in instances):
        return {names[0]: instances}
    if not all(isinstance(item, dict) for item in instances):
        raise RequestError("each entry of \"instances\" must be an object naming the inputs: "
                           f"{', '.join(names)}")
    keys = set(instances[0])
    if any(set(item) != keys for item in instances):
        raise RequestError("every entry of \"instances\" must name the same inputs")
    return {key: [item[key] for item in instances] for key in keys}


def _json_value(array: np.ndarray):
    """An output array as JSON-ready lists (strings decoded as UTF-8, non-finite -> None)."""
    if array.dtype == object or array.dtype.kind == "S":
        return np.vectorize(lambda item: item.decode("utf-8"), otypes=[object])(array).tolist()
    values = array.tolist()
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        return json.loads(json.dumps(values), parse_constant=lambda _: None)
    return values


def format_response(outputs: dict, columnar: bool) -> dict:
    """Named output arrays in the layout of the request.

    Args:
        outputs: output name -> np.ndarray with the batch as first dimension.
        columnar: True for `{"outputs": ...}`, False for `{"predictions": [...]}`.

    Returns:
        The JSON-ready response; a signature with one output gives bare values.
    """
    values = {name: _json_value(array) for name, array in sorted(outputs.items())}
    if columnar:
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    batch = len(next(iter(values.values())))
    rows = [{name: value[item] for name, value in values.items()} for item in range(batch)]
    if len(values) == 1:
        rows = [next(iter(row.values())) for row in rows]
    return {"predictions": rows}

"""The exports' serving signatures, run in process on REST requests.

Each model package's export builds its signatures from `ServingGraph.endpoints()` (name ->
serving function and open input specs); `ServedModel` traces the same functions with the same
specs, so a request gives the numbers the SavedModel gives under TF Serving (same in-graph
checks, same preprocessing and decoding). Models are loaded with the tasks' `from_preset`
(a registered preset name or a preset / checkpoint directory).
"""

import os
import re

import numpy as np
import tensorflow as tf

from bert_tf2 import SketchBert
from bert_tf2 import export as bert_export
from bert_tf2.checkpoint import CONFIG_FILE as BERT_CONFIG_FILE
from bert_tf2.config import load_config
from bert_tf2.presets import PRESET_ROOT as BERT_PRESET_ROOT
from bert_tf2.presets import PRESETS as BERT_PRESETS
from sketch_common.presets import preset_directory
from sketch_demo.rest_format import RequestError
from sketchgloc_tf2 import SketchGloc
from sketchgloc_tf2 import export as gloc_export
from sketchgloc_tf2.checkpoint import CONFIG_NAME as GLOC_CONFIG_NAME
from sketchgloc_tf2.checkpoint import load_model_config
from sketchgloc_tf2.presets import PRESET_ROOT as GLOC_PRESET_ROOT
from sketchgloc_tf2.presets import PRESETS as GLOC_PRESETS

GLOC_MODEL = "sketchgloc"
BERT_MODEL = "sketch_bert"
# A 5-point, 2-stroke sketch (original units) that every signature runs once at load time, so
# that the first request of a user does not pay for the runtime's first-call work.
_WARM_UP_SKETCH = {"strokes": np.array([[[10, 5, 0], [5, 10, 0], [-5, 3, 1], [3, 3, 0],
                                         [4, -2, 1]]], np.float32),
                   "lengths": np.array([5], np.int32)}
_WARM_UP_SAMPLING = {"temperature": np.float32(0.0), "seed": np.int64(0)}
_ASSERTION = re.compile(r"assertion failed: (.*)")


def check_message(error: tf.errors.InvalidArgumentError) -> str:
    """The client's part of an in-graph check's error: the failed assertion's line (its
    message and data), without TensorFlow's node and function names."""
    found = _ASSERTION.search(error.message)
    if found:
        return found.group(1).strip()
    lines = [line.strip() for line in error.message.splitlines() if line.strip()]
    return re.sub(r"\{\{[^}]*\}\}\s*", "", lines[-1] if lines else "invalid argument")


class ServedModel:
    """One model's signatures, traced once, callable from any server thread.

    Args:
        endpoints: signature name -> `(serving function, input TensorSpecs)` of the export's
            `ServingGraph.endpoints()`.
        limits: what the page needs to know about the model (JSON-ready dict, e.g.
            `max_points`).
    """

    def __init__(self, endpoints: dict, limits: dict):
        self.limits = dict(limits, signatures=sorted(endpoints))
        self._functions = {
            name: tf.function(function, input_signature=specs).get_concrete_function()
            for name, (function, specs) in endpoints.items()}
        self._dtypes = {name: {spec.name: spec.dtype.as_numpy_dtype for spec in specs}
                        for name, (_, specs) in endpoints.items()}

    @property
    def signature_names(self) -> list:
        """The signature names, sorted."""
        return sorted(self._functions)

    def input_dtypes(self, signature: str) -> dict:
        """Input name -> NumPy dtype of `signature`, in the signature's order.

        Raises:
            RequestError: an unknown signature (the message lists the known ones).
        """
        if signature not in self._dtypes:
            raise RequestError(f"unknown signature_name '{signature}'; this model has "
                               f"{', '.join(self.signature_names)}")
        return self._dtypes[signature]

    def predict(self, signature: str, inputs: dict) -> dict:
        """Runs `signature` on named arrays; returns its named output arrays.

        Raises:
            RequestError: the in-graph checks refused the inputs (wrong shape, lengths out of
                range, NaN, bad pen flags, ...): their message (`check_message`).
        """
        function = self._functions[signature]
        try:
            outputs = function(**{name: tf.constant(value) for name, value in inputs.items()})
        except tf.errors.InvalidArgumentError as error:
            raise RequestError(f"{signature}: {check_message(error)}") from None
        return {name: value.numpy() for name, value in outputs.items()}

    def warm_up(self) -> None:
        """Runs every signature once on `_WARM_UP_SKETCH` (and zero codes for `sample`)."""
        codes = np.zeros([1, self.limits.get("z_size", 0)], np.float32)
        values = dict(_WARM_UP_SKETCH, **_WARM_UP_SAMPLING, z=codes)
        for name, dtypes in self._dtypes.items():
            self.predict(name, {key: values[key] for key in dtypes})

    def metadata(self) -> dict:
        """TF Serving's `GET /v1/models/<name>/metadata` body (signature inputs, outputs and
        dtypes; shapes are open) plus this demo's `limits`."""
        signatures = {}
        for name, function in sorted(self._functions.items()):
            inputs = {key: {"dtype": np.dtype(dtype).name, "name": key}
                      for key, dtype in self._dtypes[name].items()}
            outputs = {key: {"dtype": spec.dtype.name, "name": key}
                       for key, spec in function.structured_outputs.items()}
            signatures[name] = {"inputs": inputs, "outputs": outputs,
                                "method_name": "tensorflow/serving/predict"}
        return {"metadata": {"signature_def": {"signature_def": signatures}},
                "limits": self.limits}


def load_gloc(preset: str) -> ServedModel:
    """The SketchGloc signatures (`serving_default`, `sample`, `reconstruct`, `complete`) of a
    preset name or directory."""
    task = SketchGloc.from_preset(preset)
    graph = gloc_export.ServingGraph(task.backbone, task.hparams)
    served = ServedModel(graph.endpoints(), gloc_limits(task.hparams))
    served.warm_up()
    return served


def load_bert(preset: str) -> ServedModel:
    """The Sketch-BERT signatures (`serving_default`, and `classify` / `retrieval_embed` when the
    checkpoint has those heads) of a preset name or directory."""
    task = SketchBert.from_preset(preset)
    graph = bert_export.ServingGraph(task.backbone, task.config, task.class_names)
    served = ServedModel(graph.endpoints(), bert_limits(task.config))
    served.warm_up()
    return served


def gloc_limits(hparams) -> dict:
    """The page's limits of a SketchGloc model: points per sketch (T) and the latent size."""
    return {"max_points": int(hparams.max_seq_len), "z_size": int(hparams.z_size)}


def bert_limits(config) -> dict:
    """The page's limits of a Sketch-BERT model: points per sketch (`max_length` - 1)."""
    return {"max_points": int(config["max_length"]) - 1,
            "classify": "sketchclsinput" in config["task_types"]}


def preset_limits(gloc_preset: str, bert_preset: str) -> dict:
    """Model name -> limits, from the presets' config files alone (no weights are loaded):
    what the page needs when a real model server runs the models."""
    gloc_dir = preset_directory(gloc_preset, GLOC_PRESETS, GLOC_PRESET_ROOT)
    bert_dir = preset_directory(bert_preset, BERT_PRESETS, BERT_PRESET_ROOT)
    return {GLOC_MODEL: gloc_limits(load_model_config(os.path.join(gloc_dir,
                                                                   GLOC_CONFIG_NAME))),
            BERT_MODEL: bert_limits(load_config(os.path.join(bert_dir, BERT_CONFIG_FILE)))}


def load_models(gloc_preset: str, bert_preset: str) -> dict:
    """Model name (the REST path's) -> `ServedModel`, for both presets."""
    return {GLOC_MODEL: load_gloc(gloc_preset), BERT_MODEL: load_bert(bert_preset)}

"""Sketch-BERT YAML configuration: the original files load unchanged.

The original configs (`models/SketchTransformer/config/*.yml`) are parsed with PyYAML's safe
loader plus upstream's `!include` tag (files next to the config only); the resolver is the one of
the original `yaml.Loader`, so PyYAML 1.1 typing applies: `0.0001` and `0.` are floats, `1e-4`
(no dot) is a *string*, `True`/`False` are booleans and an unquoted `None` is the string `'None'`,
which attribute/item access turns into Python `None`. No tag can construct a Python object: a
`!!python/...` tag is a `BertConfigError` naming the file and the tag.

Every key must be one of `KEY_RULES` (a typo is an error suggesting the closest key) and hold a
value in its range; both are checked when the file and the overrides are read, before any data.

`load_config(path, overrides)` returns a `Config` whose keys are reachable as attributes and items.
Keys that only this port knows (`PORT_DEFAULTS`) are filled in when the YAML lacks them; keys the
port reads nowhere are listed with the reason in `UNUSED_KEYS` (spec §1.3).

Overrides use the command-line form `--key=value`; the value is typed by the same YAML loader, so
`--mask_prob=1.0` is a float, `--task_types=[maskrec]` a list and `--cls_limit_path=''` an empty
string.
"""

import copy
import dataclasses
import difflib
import math
import os

import yaml
from absl import logging

from bert_tf2.errors import BertConfigError
from sketch_common.atomic_io import write_text
from sketch_common.jit_compile import SETTINGS as JIT_COMPILE_SETTINGS

# Keys introduced by this port (not in the original YAML files), with their defaults. They select
# fixes of upstream behaviour (spec §7) or options the original did not have.
PORT_DEFAULTS = {
    # B11: evaluate with dropout off; True reproduces upstream's dropout-on evaluation.
    "dropout_in_eval": False,
    # B12: cap on validation batches per evaluation (0 = the whole validation split).
    "max_val_batches": 0,
    # B31: split evaluated by `test` mode and periodic validation ('valid' as upstream, or 'test').
    "eval_split": "valid",
    # B1/§2.2: memmaps built by upstream's generator start valid/test with the train sketches;
    # 'as_is' reads them unchanged (warning when detected), 'fix' drops the leaked leading rows.
    "legacy_offsets": "as_is",
    # B8: always mask the pen state of the last real row (upstream behaviour).
    "always_mask_end": True,
    # B13: stop training after `num_iterations` iterations (upstream only prints the number).
    "stop_at_num_iterations": False,
    # Root of checkpoints / TensorBoard events (upstream: model_logs/<trainer>/<ts>_<log_dir>).
    "log_root": "model_logs",
    # Seed of the data pipeline (shuffling, masks, triplet sampling) and of weight initialisation.
    "seed": 1234,
    # XLA for the training and evaluation steps: 'auto' = only with a GPU/TPU (Keras' rule; on
    # CPU, TensorFlow's own kernels are faster at the published size), True, False.
    "jit_compile": "auto",
}

# Keys of `sketch_transformer.yml` that no code path of this port reads, with the reason.
UNUSED_KEYS = {
    "num_train_samples": "only read by image-dataset builders that are not part of the repository",
    "image_sum_path": "SBIR datasets only (sketch-to-image retrieval is not ported)",
    "image_size": "SBIR / raster datasets only (not ported)",
    "each_image_max_samples": "SBIR datasets only (not ported)",
    "encoder_type": "read by no code path upstream either",
    "atten_type": "read by no code path upstream either",
    "latent_dim": "VAE trainer only (not ported)",
    "M": "maskgmm head only; its upstream loss crashes (B19) and it is not ported",
    "gamma": "maskgmm visualisation only (not ported)",
    "mask_gmm_weight": "maskgmm loss only (not ported)",
    "rec_gmm_weight": "maskgmm loss only (not ported)",
    "gpu_ids": "device placement is left to TensorFlow",
    "loader_num_workers": "tf.data parallelism is AUTOTUNE",
    "num_val_samples": "sized upstream's start-up 'check loaders', which the port omits (B32)",
    "output_all_states": "had no effect upstream (only the last layer is returned)",
    "output_attentions": "True crashes upstream (B21); the trainer never asks for attention maps "
                         "(SketchBertEncoder(..., output_attentions=True) returns them)",
    "type_size": "discrete input embedding only, which is not ported (B24)",
    "embed_pool_type": "discrete input embedding only, which is not ported (B24)",
    "keep_multihead_output": "had no effect upstream (never forwarded)",
}


class _SafeIncludeLoader(yaml.SafeLoader):
    """PyYAML's safe loader plus upstream's `!include` tag; no tag can construct Python objects.

    The resolver (and so the PyYAML 1.1 typing) is the one `yaml.Loader` uses. `!include PATH`
    reads a file relative to the including file, which must stay inside `root` (the folder of
    the top-level config); a `.yml`/`.yaml` file is parsed with this loader, anything else is
    returned as text. Any other non-standard tag (`!!python/object/apply:...`) raises
    `BertConfigError` naming the source and the tag.

    Args:
        stream: the YAML text or stream.
        source: the file name used in error messages.
        root: folder that `!include` paths must stay in.
        folder: folder relative `!include` paths are taken from.
        chain: the files being included (cycle detection).
    """

    def __init__(self, stream, source, root, folder, chain=()):
        self._source = source
        self._root = os.path.realpath(root)
        self._folder = folder
        self._chain = chain
        super().__init__(stream)

    def construct_include(self, node):
        name = self.construct_scalar(node)
        line = node.start_mark.line + 1
        if not isinstance(name, str) or not name or os.path.isabs(name):
            raise BertConfigError(
                f"{self._source} line {line}: !include {name!r} must be a path relative to the "
                "including file")
        path = os.path.realpath(os.path.join(self._folder, name))
        if os.path.commonpath([path, self._root]) != self._root:
            raise BertConfigError(
                f"{self._source} line {line}: !include {name!r} leaves the config's folder "
                f"{self._root}; keep included files next to the config")
        if path in self._chain:
            raise BertConfigError(
                f"{self._source} line {line}: !include {name!r} includes itself (cycle "
                f"{' -> '.join(self._chain + (path,))})")
        try:
            with open(path, encoding="utf-8") as handle:
                if os.path.splitext(path)[1] in (".yml", ".yaml"):
                    return _load_yaml(handle, path, self._root, self._chain + (path,))
                return handle.read()
        except (OSError, UnicodeDecodeError) as error:
            raise BertConfigError(f"{self._source} line {line}: cannot read !include "
                                  f"{name!r}: {error}") from error

    def construct_python_tuple(self, node):
        """`!!python/tuple` (written by older `Config.save` for tuple values) as a list."""
        return self.construct_sequence(node)

    def construct_forbidden(self, node):
        line = node.start_mark.line + 1
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise BertConfigError(
            f"{self._source} line {line}: forbidden YAML tag '{tag}'; configs may only "
            "hold plain values (numbers, strings, lists, mappings) and !include")


_SafeIncludeLoader.add_constructor("!include", _SafeIncludeLoader.construct_include)
_SafeIncludeLoader.add_constructor("tag:yaml.org,2002:python/tuple",
                                   _SafeIncludeLoader.construct_python_tuple)
_SafeIncludeLoader.add_constructor(None, _SafeIncludeLoader.construct_forbidden)


def _load_yaml(stream, source, root, chain=()):
    """Parses one YAML document safely (see `_SafeIncludeLoader`).

    Args:
        stream: the YAML text or an open text file.
        source: its name in error messages.
        root: folder `!include` paths must stay in.
        chain: real paths of the files being read, outermost first (empty for command-line
            text, whose includes are relative to `root`).
    """
    folder = os.path.dirname(chain[-1]) if chain else root
    loader = _SafeIncludeLoader(stream, source, root, folder, chain)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as error:
        raise BertConfigError(f"{source} is not valid YAML: {_yaml_problem(error)}; fix the "
                              "syntax") from error
    finally:
        loader.dispose()


def _yaml_problem(error) -> str:
    """A one-line description of a PyYAML error (problem and position)."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or getattr(error, "context", None) or str(error)
    where = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
    return " ".join(f"{where}{problem}".split())


def parse_value(text: str):
    """Types a command-line value exactly as the YAML loader would type it in a config file."""
    if text == "":
        return ""
    return _load_yaml(text, "command-line value", os.path.abspath(os.curdir))


def _public(value):
    """Maps the PyYAML string 'None' to None and wraps nested dicts, as upstream's accessor."""
    if isinstance(value, str) and value == "None":
        return None
    if isinstance(value, dict):
        return Config(value)
    return value


class Config:
    """A parsed YAML config with attribute and item access to every key.

    Lists are returned by reference, as upstream. A missing key raises `BertConfigError`, which is
    also a `KeyError` and an `AttributeError` (so `getattr(cfg, key, default)` works).

    Args:
        values: the parsed mapping (kept as is; `to_dict` returns a deep copy).
        path: the file it was loaded from (for error messages), if any.
    """

    def __init__(self, values: dict, path: str = ""):
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_path", path)

    def __getattr__(self, key):
        if key.startswith("__"):
            raise AttributeError(key)
        return self[key]

    def __getitem__(self, key):
        try:
            return _public(self._values[key])
        except KeyError:
            where = f" in {self._path}" if self._path else ""
            raise _MissingKeyError(
                f"config key '{key}' not found{where}; add it to the YAML file or pass "
                f"--{key}=VALUE") from None

    def __setattr__(self, key, value):
        self._values[key] = value

    __setitem__ = __setattr__

    def __contains__(self, key):
        return key in self._values

    def __iter__(self):
        return iter(self._values)

    def __len__(self):
        return len(self._values)

    def keys(self):
        return self._values.keys()

    def get(self, key, default=None):
        return self[key] if key in self._values else default

    def to_dict(self) -> dict:
        """A deep copy of the raw mapping (the PyYAML values, 'None' strings kept)."""
        return copy.deepcopy(self._values)

    def save(self, path: str) -> None:
        """Writes the config as YAML atomically (`sketch_common.atomic_io.write_text`)."""
        write_text(path, yaml.safe_dump(self._values, default_flow_style=None, sort_keys=False))

    def __repr__(self):
        return f"Config({self._values!r})"


class _MissingKeyError(BertConfigError, KeyError, AttributeError):
    """A config key is absent."""

    def __str__(self):
        return str(self.args[0])


def _number(value, integer):
    """Whether `value` is an int (or, unless `integer`, an int or float), bools excluded."""
    kinds = (int,) if integer else (int, float)
    return isinstance(value, kinds) and not isinstance(value, bool)


@dataclasses.dataclass(frozen=True)
class Rule:
    """What a config key may hold.

    Attributes:
        kind: 'int', 'float', 'bool', 'str', 'choice', 'int_list', 'layers', 'str_list' or
            'any' (keys the port ignores).
        low, high: inclusive bounds of numbers (None = unbounded).
        low_open: the lower bound is excluded (`learning_rate > 0`).
        high_open: the upper bound is excluded (dropout < 1).
        choices: allowed values ('choice', and the items of 'str_list').
        length: required list length ('int_list'), None = any.
        allow_empty: an empty list is allowed.
    """

    kind: str
    low: float = None
    high: float = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple = ()
    length: int = None
    allow_empty: bool = True

    def describe(self) -> str:
        """The allowed values in words, e.g. 'a number in (0, 1]'."""
        if self.kind in ("int", "float"):
            noun = "an integer" if self.kind == "int" else "a number"
            if self.low is not None and self.high is not None:
                left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
                return f"{noun} in {left}{self.low}, {self.high}{right}"
            if self.low is not None:
                return f"{noun} {'>' if self.low_open else '>='} {self.low}"
            return noun
        if self.kind == "choice":
            return f"one of {list(self.choices)}"
        if self.kind == "int_list":
            size = f"{self.length} " if self.length else ""
            return f"a list of {size}integers >= 1" + ("" if self.allow_empty else " (not empty)")
        if self.kind == "layers":
            return ("a non-empty list of [heads, hidden, intermediate] integers >= 1 with hidden "
                    "a multiple of heads")
        if self.kind == "str_list":
            return f"a non-empty list of items of {list(self.choices)}"
        return {"bool": "True or False", "str": "a string"}.get(self.kind, "any value")

    def accepts(self, value) -> bool:
        """Whether `value` is allowed."""
        if self.kind in ("int", "float"):
            if not _number(value, self.kind == "int") or not math.isfinite(value):
                return False
            if self.low is not None and (value <= self.low if self.low_open else value < self.low):
                return False
            if self.high is None:
                return True
            return value < self.high if self.high_open else value <= self.high
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "str":
            return isinstance(value, str)
        if self.kind == "choice":
            return any(value == choice and type(value) is type(choice)
                       for choice in self.choices)
        if self.kind == "int_list":
            return (isinstance(value, list) and (self.allow_empty or bool(value))
                    and (self.length is None or len(value) == self.length)
                    and all(_number(item, True) and item >= 1 for item in value))
        if self.kind == "layers":
            return (isinstance(value, list) and bool(value) and all(
                isinstance(layer, list) and len(layer) == 3
                and all(_number(item, True) and item >= 1 for item in layer)
                and layer[1] % layer[0] == 0 for layer in value))
        if self.kind == "str_list":
            return (isinstance(value, list) and bool(value)
                    and all(isinstance(item, str) and item in self.choices for item in value))
        return True


SIZE = Rule("int", low=1)
COUNT = Rule("int", low=0)
PROBABILITY = Rule("float", low=0, high=1, low_open=True)
DROPOUT = Rule("float", low=0, high=1, high_open=True)
WEIGHT = Rule("float", low=0)
POSITIVE = Rule("float", low=0, low_open=True)
SPLIT = Rule("choice", choices=("train", "valid", "test"))
IGNORED = Rule("any")

# Every key a config may hold: the original keys (the `UNUSED_KEYS` accept any value, as they
# are read nowhere) and the port's `PORT_DEFAULTS`. A file or override with another key is an
# error; a listed key absent from a file is only an error when it is read.
KEY_RULES = {
    "trainer": Rule("str"),
    "batch_size": SIZE,
    "num_iterations": SIZE,
    "num_epoch": SIZE,
    "learning_rate": POSITIVE,
    "task_types": Rule("str_list", choices=("maskrec", "sketchclsinput", "sketchretrieval")),
    "get_type": Rule("choice", choices=("single", "triplet")),
    "mask_task_type": Rule("choice", choices=("task", "single", "full")),
    "load_pretrained": Rule("choice", choices=("scratch", "continue", "pretrained")),
    "which_pretrained": IGNORED,  # checked against the selectors by the trainer
    "restore_checkpoint_path": Rule("str"),
    "dataset": Rule("str"),
    "num_display_samples": COUNT,
    "shuffle_val": Rule("bool"),
    "sum_path": Rule("str"),
    "offset_path": Rule("str"),
    "cls_limit_path": Rule("str"),
    "mode": SPLIT,
    "max_length": Rule("int", low=2),
    "max_size": Rule("int_list", length=2),
    "mask_prob": PROBABILITY,
    "limit": POSITIVE,
    "stroke_type": Rule("choice", choices=("stroke-5", "stroke-3", "stroke-discrete")),
    "input_is_complete": Rule("bool"),
    "max_cls_cache": SIZE,
    "normalization_type": Rule("choice", choices=("max_scale", "var_scale", "global_scale")),
    "max_scale_factor": POSITIVE,
    "each_max_samples": SIZE,
    "each_val_samples": SIZE,
    "print_every": SIZE,
    "log_dir": Rule("str"),
    "checkpoint_every": SIZE,
    "save_model_every": SIZE,
    "layers_setting": Rule("layers"),
    "input_dim": Rule("int", low=3, high=5),
    "cls_dim": SIZE,
    "rel_feat_dim": SIZE,
    "embed_layers_setting": Rule("int_list", allow_empty=False),
    "rel_layers_setting": Rule("int_list"),
    "cls_layers_setting": Rule("int_list"),
    "rec_layers_setting": Rule("int_list"),
    "sketch_embed_type": Rule("str"),  # the model names the supported value
    "model_type": Rule("choice", choices=("albert", "bert")),
    "position_type": Rule("choice", choices=("learn", "sin", "none")),
    "segment_type": Rule("choice", choices=("learn", "none")),
    "attention_norm_type": Rule("str"),  # the model names the supported value
    "inter_activation": Rule("str"),
    "attention_dropout_prob": DROPOUT,
    "hidden_dropout_prob": DROPOUT,
    "output_dropout_prob": DROPOUT,
    "triplet_margin": WEIGHT,
    "mask_axis_weight": WEIGHT,
    "rec_axis_weight": WEIGHT,
    "mask_type_weight": WEIGHT,
    "rec_type_weight": WEIGHT,
    "prediction_weight": WEIGHT,
    "triplet_weight": WEIGHT,
    # PORT_DEFAULTS
    "dropout_in_eval": Rule("bool"),
    "max_val_batches": COUNT,
    "eval_split": SPLIT,
    "legacy_offsets": Rule("choice", choices=("as_is", "fix")),
    "always_mask_end": Rule("bool"),
    "stop_at_num_iterations": Rule("bool"),
    "jit_compile": Rule("choice", choices=JIT_COMPILE_SETTINGS),
    "log_root": Rule("str"),
    "seed": Rule("int", low=0, high=2 ** 32 - 1),
    **{key: IGNORED for key in UNUSED_KEYS},
}

# One line of help per key of `KEY_RULES` (`python -m bert_tf2 train --help` lists them).
KEY_HELP = {
    "trainer": "trainer name; part of the output folder <log_root>/<trainer>/<log_dir>",
    "batch_size": "sketches per training / validation batch",
    "num_iterations": "only logged upstream; a limit with stop_at_num_iterations: True",
    "num_epoch": "passes over the training split (len(train) // batch_size iterations each)",
    "learning_rate": "Adam learning rate (betas 0.9/0.999, eps 1e-8; no schedule, as upstream)",
    "task_types": "tasks (heads): maskrec (pre-training), sketchclsinput, sketchretrieval",
    "get_type": "single sketches, or triplet (anchor, positive, negative; sketchretrieval)",
    "mask_task_type": "masking scheme: task, single or full (upstream's choices)",
    "load_pretrained": "scratch, continue (same run, counters restored) or pretrained",
    "which_pretrained": "what to restore: enc_net, enc_opt, task_net, task_opt",
    "restore_checkpoint_path": "checkpoint directory (native) or .pth.tar to restore from",
    "dataset": "data set type; only quickdraw_memmap is ported",
    "num_display_samples": "validation sketches drawn in the TensorBoard image (maskrec)",
    "shuffle_val": "shuffle the validation split",
    "sum_path": "memmap_sum.txt of the memmaps (python -m bert_tf2.data.memmap)",
    "offset_path": "offsets file of the memmaps",
    "cls_limit_path": "file of class names to keep ('' = all classes)",
    "mode": "split read by the training loader",
    "max_length": "L: sketch rows per example, start row included (the special-token rows "
                  "come on top: the encoder's num_positions = L + tokens)",
    "max_size": "upstream's [width, height] of rasterised sketches",
    "mask_prob": "probability that a row is masked (maskrec)",
    "limit": "offsets are clipped to +-limit before normalisation",
    "stroke_type": "row format: stroke-5 or stroke-3 (stroke-discrete is not ported)",
    "input_is_complete": "memmap rows already end with the end row (skip appending it)",
    "max_cls_cache": "open memmap files kept per split",
    "normalization_type": "max_scale, var_scale or global_scale normalisation of offsets",
    "max_scale_factor": "target size of max_scale normalisation",
    "each_max_samples": "training sketches per class (first N of the split)",
    "each_val_samples": "validation sketches per class (first N of the split)",
    "print_every": "log training losses every N iterations",
    "log_dir": "run name under <log_root>/<trainer>/",
    "checkpoint_every": "validate and write latest/ (+ best/) every N iterations",
    "save_model_every": "write iter_<t>/ every N iterations",
    "layers_setting": "transformer layers, one [heads, hidden, intermediate] per layer",
    "input_dim": "width of an input row: 5 (stroke-5) or 3 (stroke-3)",
    "cls_dim": "number of classes of the sketchclsinput head",
    "rel_feat_dim": "width of the sketchretrieval features",
    "embed_layers_setting": "[E, ...]: point-embedding width, then refine-stack widths",
    "rel_layers_setting": "hidden widths of the retrieval head",
    "cls_layers_setting": "hidden widths of the classification head",
    "rec_layers_setting": "hidden widths of the reconstruction head",
    "sketch_embed_type": "point embedding; only linear is ported",
    "model_type": "albert (one layer shared by all depths) or bert (independent layers)",
    "position_type": "position embedding: learn, sin or none",
    "segment_type": "learn adds a learned stroke-segment embedding; none disables it",
    "attention_norm_type": "only LN works (upstream's batch-norm options are broken, B44)",
    "inter_activation": "feed-forward activation: gelu (exact) or relu",
    "attention_dropout_prob": "DROP rate (not a keep probability, as torch nn.Dropout) of the "
                              "attention probabilities",
    "hidden_dropout_prob": "DROP rate (not a keep probability) after the attention output",
    "output_dropout_prob": "DROP rate (not a keep probability) after the feed-forward output",
    "triplet_margin": "margin of the triplet loss",
    "mask_axis_weight": "weight of the masked-offset loss",
    "rec_axis_weight": "weight of the unmasked-offset loss",
    "mask_type_weight": "weight of the masked pen-state loss",
    "rec_type_weight": "weight of the unmasked pen-state loss",
    "prediction_weight": "weight of the classification loss",
    "triplet_weight": "weight of the triplet loss",
    "dropout_in_eval": "port key: True evaluates with dropout on, as upstream (B11)",
    "max_val_batches": "port key: cap on validation batches (0 = whole split, B12)",
    "eval_split": "port key: split evaluated by test and periodic validation (B31)",
    "legacy_offsets": "port key: as_is or fix the train rows leaked into upstream-built "
                      "valid/test memmaps (B1)",
    "always_mask_end": "port key: always mask the pen state of the last real row (B8)",
    "stop_at_num_iterations": "port key: stop after num_iterations iterations (B13)",
    "log_root": "port key: root of checkpoints and TensorBoard events",
    "seed": "port key: seed of the data pipeline and of weight initialisation",
    "jit_compile": "port key: XLA for the training and evaluation steps (auto = only with a "
                   "GPU or TPU)",
    **{key: f"accepted but ignored: {reason}" for key, reason in UNUSED_KEYS.items()},
}


def _rule_text(rule: "Rule") -> str:
    if rule.choices:
        return "one of " + "|".join(str(choice) for choice in rule.choices)
    if rule.kind in ("int", "float") and (rule.low is not None or rule.high is not None):
        low = "" if rule.low is None else f"{rule.low} {'<' if rule.low_open else '<='} "
        high = "" if rule.high is None else f" {'<' if rule.high_open else '<='} {rule.high}"
        return f"{rule.kind}, {low}value{high}"
    return rule.kind


def keys_help() -> str:
    """Every config key with its type / range, its default (port keys) and its help line."""
    lines = []
    for key, rule in KEY_RULES.items():
        default = f"; default {PORT_DEFAULTS[key]!r}" if key in PORT_DEFAULTS else ""
        lines.append(f"  --{key}  ({_rule_text(rule)}{default})\n      {KEY_HELP[key]}")
    return "\n".join(lines)


def unknown_key_message(key: str, where: str) -> str:
    """'unknown config key ... (did you mean ...?)' for a key that is not in `KEY_RULES`."""
    close = difflib.get_close_matches(key, list(KEY_RULES), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}?" if close else "check the spelling against " \
        "bert_tf2/configs/sketch_transformer.yml"
    return f"{where}: unknown config key '{key}'; {hint}"


def check_value(key: str, value, where: str) -> None:
    """Raises `BertConfigError` unless `value` is allowed for `key` (see `KEY_RULES`).

    Args:
        key: the config key.
        value: its value as parsed (PyYAML 1.1 types; the string 'None' means None).
        where: the file or command-line flag, for the message.
    """
    rule = KEY_RULES.get(key)
    if rule is None:
        raise BertConfigError(unknown_key_message(key, where))
    if rule.accepts(value):
        return
    hint = ""
    if rule.kind in ("int", "float") and isinstance(value, str):
        hint = (" (PyYAML 1.1 reads a number without a dot in its mantissa, such as 1e-4, as "
                "text: write 0.0001 or 1.0e-4)")
    elif rule.kind == "int" and isinstance(value, float):
        hint = " (write it without a decimal point)"
    problem = "out of range" if _number(value, False) else "invalid"
    raise BertConfigError(f"{where}: {key} = {value!r} is {problem}: must be "
                          f"{rule.describe()}{hint}")


def parse_overrides(args) -> dict:
    """Parses `--key=value` strings into a dict of YAML-typed values.

    Raises:
        BertConfigError: an argument is not of the form `--key=value`, a value is not valid
            YAML, or a key is unknown.
    """
    overrides = {}
    for arg in args or ():
        if not arg.startswith("--") or "=" not in arg:
            raise BertConfigError(f"override '{arg}' is not of the form --key=value")
        key, text = arg[2:].split("=", 1)
        if key not in KEY_RULES:
            raise BertConfigError(unknown_key_message(key, f"override --{key}"))
        try:
            overrides[key] = parse_value(text)
        except BertConfigError as error:
            raise BertConfigError(f"override --{key}: {error}") from error
    return overrides


def load_config(path: str, overrides=None) -> Config:
    """Loads a Sketch-BERT YAML config (upstream semantics, safe loader) and applies overrides.

    Every key of the file and of the overrides must be in `KEY_RULES` and hold an allowed
    value (checked here, before any data is read).

    Args:
        path: the YAML file.
        overrides: a dict of already typed values, or a list of `--key=value` strings.

    Returns:
        The `Config`; `PORT_DEFAULTS` fill keys the file does not set.

    Raises:
        BertConfigError: unreadable file, invalid YAML or a forbidden tag, a document that is
            not a mapping, an unknown key (with the closest known one) or a value out of range.
    """
    try:
        with open(path, encoding="utf-8") as stream:
            real_path = os.path.realpath(path)
            values = _load_yaml(stream, path, os.path.dirname(real_path), (real_path,))
    except (OSError, UnicodeDecodeError) as error:
        raise BertConfigError(f"cannot read config {path}: {error}; give the path of a YAML "
                              "file such as bert_tf2/configs/sketch_transformer.yml") from error
    if not isinstance(values, dict):
        raise BertConfigError(f"config {path} must be a YAML mapping of keys to values")
    for key, value in values.items():
        check_value(key, value, str(path))
    for key, value in PORT_DEFAULTS.items():
        values.setdefault(key, copy.deepcopy(value))
    if overrides is not None and not isinstance(overrides, dict):
        overrides = parse_overrides(overrides)
    for key, value in (overrides or {}).items():
        check_value(key, value, f"override --{key}")
        logging.info("config override %s: %r -> %r", key, values.get(key), value)
        values[key] = value
    return Config(values, path)

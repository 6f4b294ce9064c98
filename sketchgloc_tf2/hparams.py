"""SketchGloc hyper-parameters: defaults, the legacy `--hparams` parser and `model_config.json` I/O.

The names and defaults are those of the original `rebranch/train.py`, so that every command line
and every `model_config.json` written by the original keeps working. Options that exist only in
this port (they change behaviour relative to upstream, or wire a parameter upstream ignores) are
the last fields of `HParams` and are documented in README's "Differences from upstream".
"""

import copy
import dataclasses
import json
import math
from typing import Any, Callable, NamedTuple

from sketch_common.atomic_io import write_text
from sketch_common.errors import one_line
from sketchgloc_tf2.errors import SketchConfigError

DS1 = ["pig", "bee", "flower", "bus", "giraffe"]
DS2 = [
    "airplane", "angel", "apple", "butterfly", "bus",
    "cake", "fish", "spider", "The Great Wall of China", "umbrella",
]
DS3 = ["pig", "bee", "flower", "bus", "giraffe", "car", "cat", "horse"]
DATASETS = {1: DS1, 2: DS2, 3: DS3}
CELL_TYPES = ("lstm", "layer_norm", "hyper")
COMPUTED_HPARAMS = ("max_seq_len", "max_stroke_len", "max_strokes_num",
                    "normalizing_scale_factor")


@dataclasses.dataclass
class HParams:
    """All SketchGloc hyper-parameters (upstream names; see docs/differences.md#sg-1).

    Upstream-dead names (`num_steps` aside, which the port honours as an upper bound) are kept so
    that old configs and command lines parse; README lists which ones have no effect.
    Every instance is validated on creation (`validate`, ranges in `HPARAM_RANGES`), so a bad
    value is reported when it is parsed, before any data is loaded.
    """

    categories: list = dataclasses.field(default_factory=lambda: list(DS3))
    num_steps: int = 1000001
    re_scale: float = 0.0
    save_every: int = 1
    dec_rnn_size: int = 512
    enc_model: str = "lstm"
    enc_rnn_size: int = 512
    dec_model: str = "hyper"
    max_seq_len: int = -1
    max_stroke_len: int = -1
    max_strokes_num: int = -1
    z_size: int = 128
    batch_size: int = 100
    num_mixture: int = 5
    learning_rate: float = 0.001
    decay_rate: float = 0.99999
    min_learning_rate: float = 0.00001
    grad_clip: float = 1.0
    de_weight: float = 1.0
    use_recurrent_dropout: bool = True
    recurrent_dropout_prob: float = 0.90
    use_input_dropout: bool = False
    input_dropout_prob: float = 0.90
    use_output_dropout: bool = False
    output_dropout_prob: float = 0.90
    random_scale_factor: float = 0.10
    augment_stroke_prob: float = 0.10
    png_scale_ratio: float = 1
    png_rotate_angle: float = 0
    png_translate_dist: float = 0
    is_training: bool = True
    png_width: int = 48
    num_sub: int = 2
    num_per_category: int = 70000
    # Options of this port (not in upstream).
    normalizing_scale_factor: float = -1.0
    num_mixture_components: int = 20
    clip_node_length: bool = True
    lr_decay: bool = False
    seed: int = 9001

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Checks every hparam's type and range (see `HPARAM_RANGES`).

        Raises:
            SketchConfigError: one line naming the first bad hparam, its value and the range.
        """
        for field in dataclasses.fields(self):
            name, value = field.name, getattr(self, field.name)
            _check_type(name, value, field.type)
            allowed = HPARAM_RANGES.get(name)
            if allowed is not None and not allowed.accepts(value):
                raise SketchConfigError(
                    f"hparam {name}={value!r} is out of range; allowed: {allowed.describe(name)}")

    def values(self) -> dict:
        """Returns a deep copy of all hparams as a plain dict (upstream `HParams.values()`)."""
        return copy.deepcopy(dataclasses.asdict(self))

    def replace(self, **changes) -> "HParams":
        """Returns a copy with `changes` applied.

        Raises:
            SketchConfigError: an unknown name, or a value of the wrong type or out of range.
        """
        unknown = sorted(set(changes) - set(field_names()))
        if unknown:
            raise SketchConfigError(_unknown_message(unknown))
        return dataclasses.replace(copy.deepcopy(self), **changes)

    def parse(self, spec: str) -> "HParams":
        """Returns a copy updated from a legacy `"k=v,list=[a,b]"` string (see `parse_hparams`)."""
        return self.replace(**parse_hparams(spec))

    def eval_copy(self) -> "HParams":
        """The evaluation hparams upstream builds: dropout off, `is_training` False."""
        return self.replace(
            use_recurrent_dropout=False,
            use_input_dropout=False,
            use_output_dropout=False,
            is_training=False,
        )


class Range(NamedTuple):
    """The allowed values of one hparam: a predicate and its wording for error messages.

    Attributes:
        accepts: value -> bool.
        wording: the condition, with `{}` where the name goes (e.g. `"{} >= 1"`).
    """

    accepts: Callable[[Any], bool]
    wording: str

    def describe(self, name: str) -> str:
        """The condition for `name`, e.g. `batch_size >= 1`."""
        return self.wording.format(name)


def _at_least(low) -> Range:
    return Range(lambda value: value >= low, f"{{}} >= {low}")


def _above(low) -> Range:
    return Range(lambda value: value > low, f"{{}} > {low}")


def _probability() -> Range:
    return Range(lambda value: 0 < value <= 1, "0 < {} <= 1")


def _computed_size() -> Range:
    return Range(lambda value: value == -1 or value >= 1,
                 "{} >= 1, or -1 (computed from the data)")


def _categories(value) -> bool:
    names = [name.strip() for name in value]
    return bool(names) and all(names) and len(set(names)) == len(names)


HPARAM_RANGES = {
    "categories": Range(_categories, "a non-empty list of distinct, non-empty names"),
    "num_steps": _at_least(1),
    "re_scale": _at_least(0),
    "save_every": _at_least(1),
    "dec_rnn_size": _at_least(1),
    "enc_model": Range(lambda value: value in CELL_TYPES, "one of " + ", ".join(CELL_TYPES)),
    "enc_rnn_size": _at_least(1),
    "dec_model": Range(lambda value: value in CELL_TYPES, "one of " + ", ".join(CELL_TYPES)),
    "max_seq_len": _computed_size(),
    "max_stroke_len": _computed_size(),
    "max_strokes_num": _computed_size(),
    "z_size": _at_least(1),
    "batch_size": _at_least(1),
    "num_mixture": _at_least(1),
    "learning_rate": _above(0),
    "decay_rate": _probability(),
    "min_learning_rate": _at_least(0),
    "grad_clip": _above(0),
    "de_weight": _at_least(0),
    "recurrent_dropout_prob": _probability(),
    "input_dropout_prob": _probability(),
    "output_dropout_prob": _probability(),
    "random_scale_factor": Range(lambda value: 0 <= value < 1, "0 <= {} < 1"),
    "augment_stroke_prob": Range(lambda value: 0 <= value <= 1, "0 <= {} <= 1"),
    "png_scale_ratio": _above(0),
    "png_rotate_angle": Range(lambda value: True, "any finite number"),
    "png_translate_dist": _at_least(0),
    "png_width": _at_least(1),
    "num_sub": _at_least(1),
    "num_per_category": _at_least(1),
    "normalizing_scale_factor": Range(lambda value: value == -1 or value > 0,
                                      "{} > 0, or -1 (computed from the data)"),
    "num_mixture_components": _at_least(1),
    "seed": Range(lambda value: 0 <= value < 2 ** 32, "0 <= {} < 2**32"),
}


def _check_type(name: str, value: Any, declared: type) -> None:
    """Raises `SketchConfigError` unless `value` is of the hparam's declared type (an int is a
    float too; a float must be finite)."""
    if declared is bool:
        expected, ok = "true or false", isinstance(value, bool)
    elif declared is int:
        expected, ok = "an integer", isinstance(value, int) and not isinstance(value, bool)
    elif declared is float:
        expected = "a finite number"
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
              and math.isfinite(value))
    elif declared is str:
        expected, ok = "a string", isinstance(value, str)
    else:
        expected = "a list of names"
        ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
    if not ok:
        raise SketchConfigError(f"hparam {name}={value!r} must be {expected}")


def differences(old: HParams, new: HParams, names=None) -> dict:
    """The hparams whose values differ, as `{name: (old value, new value)}`, in field order.

    Args:
        old, new: the two hparams.
        names: compare only these names (default: all).
    """
    old_values, new_values = old.values(), new.values()
    return {name: (old_values[name], new_values[name]) for name in field_names()
            if (names is None or name in names) and old_values[name] != new_values[name]}


def field_names() -> list:
    """Names of every hparam, in upstream order followed by the port's options."""
    return [field.name for field in dataclasses.fields(HParams)]


def _field_defaults() -> dict:
    return HParams().values()


def _unknown_message(unknown) -> str:
    return (
        f"unknown hparam(s) {', '.join(unknown)}; valid names are: "
        + ", ".join(field_names())
    )


def _split_top_level(spec: str) -> list:
    """Splits at commas that are not inside `[...]`."""
    parts, depth, current = [], 0, []
    for char in spec:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise SketchConfigError(f"unbalanced ']' in --hparams={spec!r}")
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth != 0:
        raise SketchConfigError(f"unbalanced '[' in --hparams={spec!r}")
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


def coerce_value(name: str, raw: Any, default: Any) -> Any:
    """Converts `raw` (string or JSON value) to the type of `default`, as TF1 HParams did."""
    try:
        if isinstance(default, bool):
            if isinstance(raw, (bool, int)):
                return bool(raw)
            lowered = str(raw).strip().lower()
            if lowered in ("true", "1"):
                return True
            if lowered in ("false", "0"):
                return False
            raise ValueError(f"expected true/false, got {raw!r}")
        if isinstance(default, int):
            if isinstance(raw, float) and not raw.is_integer():
                raise ValueError(f"expected an integer, got {raw!r}")
            return int(float(raw)) if isinstance(raw, str) and "e" in raw.lower() else int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, list):
            if isinstance(raw, (list, tuple)):
                return [str(item) for item in raw]
            text = str(raw).strip()
            if not (text.startswith("[") and text.endswith("]")):
                raise ValueError(f"expected a list like [a,b], got {raw!r}")
            return [item.strip().strip("'\"") for item in text[1:-1].split(",") if item.strip()]
        return str(raw)
    except (ValueError, TypeError, OverflowError) as error:
        raise SketchConfigError(f"bad value for hparam {name!r}: {raw!r} is not "
                                f"{_kind(default)} ({one_line(error)})") from None


def _kind(default: Any) -> str:
    """How an hparam's type reads in an error message."""
    for declared, words in ((bool, "true/false"), (int, "an integer"), (float, "a number"),
                            (list, "a list")):
        if isinstance(default, declared):
            return words
    return "a string"


def parse_hparams(spec: str) -> dict:
    """Parses the upstream `--hparams` syntax into a dict of typed values.

    Args:
        spec: e.g. `"categories=[bee,bus],re_scale=0.3,batch_size=16"`.

    Returns:
        Dict from hparam name to a value of the default's type.

    Raises:
        SketchConfigError: on a malformed item, an unknown name or a badly typed value.
    """
    defaults = _field_defaults()
    parsed = {}
    for item in _split_top_level(spec or ""):
        if "=" not in item:
            raise SketchConfigError(
                f"malformed --hparams item {item!r}: expected name=value (e.g. batch_size=16)"
            )
        name, raw = (part.strip() for part in item.split("=", 1))
        if name not in defaults:
            raise SketchConfigError(_unknown_message([name]))
        parsed[name] = coerce_value(name, raw, defaults[name])
    return parsed


def from_dict(values: dict, *, strict: bool = False) -> HParams:
    """Builds `HParams` from a `model_config.json`-style dict.

    Unknown keys (for example `_fixture` blocks, or keys of other upstream variants) are ignored
    unless `strict`; upstream's loader crashed on them (docs/differences.md#sg-b12).
    """
    defaults = _field_defaults()
    unknown = sorted(k for k in values if k not in defaults)
    if strict and unknown:
        raise SketchConfigError(_unknown_message(unknown))
    typed = {
        name: coerce_value(name, raw, defaults[name])
        for name, raw in values.items()
        if name in defaults
    }
    fixture = values.get("_fixture")
    if isinstance(fixture, dict) and "normalizing_scale_factor" in fixture:
        typed.setdefault(
            "normalizing_scale_factor", float(fixture["normalizing_scale_factor"])
        )
    return HParams(**typed)


def load_config(path: str) -> HParams:
    """Reads `model_config.json` (upstream or port) into `HParams`.

    Raises:
        SketchConfigError: one line naming `path`: missing, not UTF-8 text, not JSON, not a
            JSON object, or a bad hparam value.
    """
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8")
        values = json.loads(text)
    except FileNotFoundError:
        raise SketchConfigError(f"{path}: no model_config.json there") from None
    except UnicodeDecodeError as error:
        raise SketchConfigError(f"{path}: not UTF-8 text (byte {error.start}); pass a "
                                "model_config.json written by training or upstream") from None
    except json.JSONDecodeError as error:
        raise SketchConfigError(f"{path}: not valid JSON ({error.msg} at line {error.lineno} "
                                f"column {error.colno})") from None
    except (ValueError, RecursionError) as error:
        raise SketchConfigError(f"{path}: not valid JSON ({one_line(error)})") from None
    if not isinstance(values, dict):
        raise SketchConfigError(f"{path}: expected a JSON object of hparams, got "
                                f"{type(values).__name__}")
    try:
        return from_dict(values)
    except SketchConfigError as error:
        raise SketchConfigError(f"{path}: {one_line(error)}") from None


def save_config(hparams: HParams, path: str) -> None:
    """Writes `model_config.json` like upstream (`indent=1`), plus the port's extra keys."""
    write_text(path, json.dumps(hparams.values(), indent=1))

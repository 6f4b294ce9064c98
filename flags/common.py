"""absl flag helpers shared by the command-line tools of both ports."""

from absl import flags


def define_flag_for_default(name: str, default, help_text: str, flag_values=flags.FLAGS):
    """Defines `--name` typed like `default` (bool, int, float, list or str), defaulting to None.

    A None default lets the caller tell an explicitly given flag from an unset one.
    """
    if isinstance(default, bool):
        flags.DEFINE_boolean(name, None, help_text, flag_values=flag_values)
    elif isinstance(default, int):
        flags.DEFINE_integer(name, None, help_text, flag_values=flag_values)
    elif isinstance(default, float):
        flags.DEFINE_float(name, None, help_text, flag_values=flag_values)
    elif isinstance(default, list):
        flags.DEFINE_list(name, None, help_text, flag_values=flag_values)
    else:
        flags.DEFINE_string(name, None, help_text, flag_values=flag_values)


def explicit_values(names, flag_values=flags.FLAGS) -> dict:
    """The flags among `names` that were given on the command line, by name."""
    return {name: flag_values[name].value for name in names if flag_values[name].present}

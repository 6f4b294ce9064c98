"""Tool flags of the Sketch-BERT command lines (absl; config keys stay `--key=value` overrides)."""

from absl import flags

from flags.common import define_distribution_flags, define_tune_flags


def define_bert_tune_flags(flag_values: flags.FlagValues) -> None:
    """Defines the flags of `python -m bert_tf2.tune` on `flag_values`.

    The search flags of `flags.common.define_tune_flags`, `--trial_iterations`, the choices of
    the searched settings (unset: the defaults of `bert_tf2.tune.SearchSpace`) and the
    distribution flags.
    """
    define_tune_flags(flag_values)
    flags.DEFINE_integer("trial_iterations", 500,
                         "Training iterations per trial (then a validation gives the objective).",
                         lower_bound=1, flag_values=flag_values)
    flags.DEFINE_list("num_layers_choices", None, "Numbers of transformer layers to search.",
                      flag_values=flag_values)
    flags.DEFINE_list("num_heads_choices", None, "Numbers of attention heads to search.",
                      flag_values=flag_values)
    flags.DEFINE_list("hidden_size_choices", None,
                      "Hidden sizes to search (each a multiple of every head count; the "
                      "feed-forward width is 4x the hidden size).", flag_values=flag_values)
    define_distribution_flags(flag_values)

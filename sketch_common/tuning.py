"""keras-tuner pieces shared by the hyperparameter searches of both ports.

`sketchgloc_tf2.tune` and `bert_tf2.tune` differ in what a trial trains; they share the choice of
search algorithm (`--oracle`) and the lookup of the best finished trial.
"""

import keras_tuner

ORACLES = {
    "random": keras_tuner.oracles.RandomSearchOracle,
    "bayesian": keras_tuner.oracles.BayesianOptimizationOracle,
}


def make_oracle(name, objective, max_trials, hyperparameters, seed):
    """The search algorithm `name` (a key of `ORACLES`) over a fixed search space.

    Args:
        name: 'random' or 'bayesian' (callers validate it against `ORACLES` first).
        objective: `keras_tuner.Objective` (or its name).
        max_trials: trials in the whole search.
        hyperparameters: `keras_tuner.HyperParameters` of the search space; no entries may be
            added or tuned beyond it.
        seed: the oracle's random seed.
    """
    return ORACLES[name](objective=objective, max_trials=max_trials,
                         hyperparameters=hyperparameters, tune_new_entries=False,
                         allow_new_entries=False, seed=seed)


def best_completed_trial(oracle):
    """The best trial that completed, or None when none has."""
    best = [trial for trial in oracle.get_best_trials(1)
            if trial.status == keras_tuner.engine.trial.TrialStatus.COMPLETED]
    return best[0] if best else None

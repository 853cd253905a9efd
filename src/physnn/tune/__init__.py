"""Equal-budget tuning (``physnn tune``): per method × substrate, Optuna searches the learning
rate and the method's own hyperparameters (:mod:`physnn.tune.space`) under a fixed device-query
budget per trial, chooses on the validation split (:mod:`physnn.tune.study`), and stores the
chosen settings for ``physnn bench --tuned`` (:mod:`physnn.tune.settings`). See docs/tuning.md.

Optuna is an optional dependency (``pip install 'physnn[tune]'``); only the studies need it.
"""

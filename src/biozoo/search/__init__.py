"""Architecture and hyperparameter search with Optuna, evaluated by nested splits.

The space is a run config's ``search:`` section (:mod:`biozoo.search.space`); each outer
split's search sees its training part only (:mod:`biozoo.search.objective`), and the best
configuration is retrained there and scored once on the outer test part
(:mod:`biozoo.search.nested`).
"""

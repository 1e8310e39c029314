"""The comparison runner: rung beside Ray Tune and Optuna on the recorded learning-curve tables.

`python -m bench compare --help` for the command; `cli` (the command), `runner` (one run in a fresh
subprocess), `trial` (the replaying trainable and its trace), `methods_rung`, `peers_ray`,
`peers_optuna` (the engines), `stats` and `report` (what the runs show).
"""

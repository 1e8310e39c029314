"""LCBench (YAHPO Gym's surrogate, 34 tasks) on a simulated clock: rung's methods beside the peers'.

`surrogate.py` reads the surrogate, `reference.py` makes the per-task references, `sim.py` is the
discrete-event simulator that drives the peers, `methods_rung.py` and `peers_*.py` run the methods,
`runner.py` runs many and `report.py` summarises them; `cli.py` is `python -m bench lcbench`.
"""

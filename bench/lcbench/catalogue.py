"""Every LCBench method, by engine, in report order (read without importing the engines)."""

from __future__ import annotations

__all__ = ["METHODS"]

METHODS: dict[str, dict[str, str]] = {
    "rung": {
        "rung-default": "rung: rung.run's default (no search or scheduler given; search='auto')",
        "rung-asha": "rung: random search + ASHA (stopping, grace 1, η=4, max_t=52)",
        "rung-asha-tpe": "rung: TPE (search='auto') + ASHA (stopping, grace 1, η=4, max_t=52)",
        "rung-bohb": "rung: BOHB(max_t=52, η=4, promotion ASHA), resumes paused trials",
        "rung-hyperband": "rung: random search + HyperBand(max_t=52, η=3), resumes paused trials",
        "rung-random": "rung: random search, FIFO (every trial to 52 epochs)",
    },
    "optuna": {
        "optuna-tpe": "Optuna: TPESampler (its default), no pruner",
        "optuna-hyperband": "Optuna: TPESampler + HyperbandPruner(min_resource=1, max_resource=52, η=3)",
        "optuna-median": "Optuna: TPESampler + MedianPruner (its defaults)",
    },
    "ray": {
        "ray-asha": "Ray Tune: random search + AsyncHyperBandScheduler (grace 1, η=4, max_t=52)",
    },
    "syne": {
        "syne-asha": "Syne Tune: ASHA (random search, stopping, grace 1, η=3, max_t=52)",
        "syne-bohb": "Syne Tune: BOHB (KDE searcher + stopping ASHA, grace 1, η=3, max_t=52)",
        "syne-median": "Syne Tune: random search + MedianStoppingRule (its defaults)",
        "syne-random": "Syne Tune: RandomSearch, every trial to 52 epochs",
        "syne-tpe": "Syne Tune: TPE (KDE), every trial to 52 epochs",
        "syne-rea": "Syne Tune: REA (regularized evolution), every trial to 52 epochs",
    },
    "dehb": {
        "dehb": "DEHB 0.1: ask/tell, n_workers=1, η=3, fidelities 2..52 epochs, each job from scratch (own venv)",
    },
    "smac": {
        "smac-mf": "SMAC3 2.4: MultiFidelityFacade (RF + Hyperband, η=3, budgets 2..52), from scratch (own venv)",
    },
}

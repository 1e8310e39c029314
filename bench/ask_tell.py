"""The cost of `rung.Study`'s ask and tell, per trial, beside Optuna's on SQLite.

    python bench/ask_tell.py 1000 tpe one      # one handle: ask + tell per trial, searcher kept in memory
    python bench/ask_tell.py 1000 tpe two      # two handles taking turns (as two processes would): every
                                               # call first replays what the other handle stored since
    python bench/ask_tell.py 1000 random one   # the same without TPE's proposal cost: the store's own cost

The objective is `/work/shared/peers/optuna_bench.py`'s (3 parameters); Optuna's figure comes from
`python optuna_bench.py 1000 /tmp/optuna.db` run in the same session. Each run writes a fresh store.
"""

from __future__ import annotations

import math
import sys
import tempfile
import time

import rung

SPACE = {"x": rung.uniform(-10, 10), "lr": rung.loguniform(1e-5, 1e-1), "opt": rung.choice(["sgd", "adam", "rmsprop"])}


def objective(config: dict[str, object]) -> float:
    x, lr, opt = float(config["x"]), float(config["lr"]), str(config["opt"])  # type: ignore[arg-type]
    return (x - 2) ** 2 + abs(math.log10(lr) + 3) + {"sgd": 1.0, "adam": 0.0, "rmsprop": 0.5}[opt]


def main(n: int, search: str, handles: str) -> None:
    with tempfile.TemporaryDirectory() as storage:
        first = rung.Study(SPACE, metric="loss", name="bench", storage=storage, search=search, seed=0)
        studies = [first] if handles == "one" else [first, rung.Study.load("bench", storage=storage)]
        stamps = [time.perf_counter()]
        for i in range(n):
            trial = studies[i % len(studies)].ask()
            studies[(i + 1) % len(studies)].tell(trial.id, {"loss": objective(trial.config)})
            stamps.append(time.perf_counter())
        best = first.result().best
        for study in studies:
            study.close()

    def per(a: int, b: int) -> float:  # mean ms per trial (ask + tell) for trials a..b, 1-based
        return 1000 * (stamps[b] - stamps[a - 1]) / (b - a + 1)

    value = None if best is None or best.best_metrics is None else best.best_metrics["loss"]
    print(
        f"RESULT rung={rung.__version__} search={search} handles={handles} n={n}"
        f" total={stamps[-1] - stamps[0]:.2f}s mean={per(1, n):.2f}ms/trial"
        f" t1-100={per(1, min(n, 100)):.2f}ms t{n - 99}-{n}={per(max(1, n - 99), n):.2f}ms best={value:.4f}"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000, *(sys.argv[2:4] or ["tpe", "one"]))

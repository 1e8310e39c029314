"""Record learning curves from real training: `python -m bench.record {mlp,gbt} [options]`.

For configuration i (drawn in order from `bench.tables.SPACES[name]` with one
`numpy.random.default_rng(config_seed)`, so the first k configurations never depend on how many are
asked for) and training seed s, it trains the model step by step and records after every step the
validation accuracy, the validation log loss and the CPU seconds of the step (`time.process_time`
around training plus validation, with BLAS/OpenMP held to one thread, so sharing the machine at
`nice 19` does not inflate it). Seed 0 is recorded for every configuration before seed 1 starts.

Each finished (seed, configuration) is appended as one JSON line to `<out>/<name>.partial.jsonl`;
running the same command again continues where it stopped (a torn last line is dropped), and
asking for more configurations or seeds extends the recording. At the end of every run the table is
written to `<out>/<name>.npz`: the configurations 0..k-1 that seed 0 has finished, and every seed
that has finished all of them. Step metrics are deterministic for a seed; step seconds are measured.

    nohup nice -n 19 python -m bench.record mlp &            # 1,000 configurations x 50 epochs x 3 seeds
    python -m bench.record gbt --quick --out /tmp/t           # a few tiny configurations (tests)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.tables import DATA, SPACES
from rung.space import Space

__all__ = ["SIZES", "main", "record", "train_gbt", "train_mlp"]

log = logging.getLogger("rung")

SIZES: dict[str, dict[str, int]] = {
    "mlp": {"configs": 1000, "steps": 50, "seeds": 3},
    "gbt": {"configs": 1000, "steps": 100, "seeds": 3},
}
"""The full size of each table (`--quick`: 6 configurations, 4 steps, 2 seeds)."""

QUICK = {"configs": 6, "steps": 4, "seeds": 2}

Step = tuple[float, float, float]  # (val_acc, val_loss, cpu seconds)


def _log_loss(proba: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood, probabilities clipped to [1e-7, 1]; a diverged model counts as uniform."""
    proba = np.nan_to_num(proba, nan=1.0 / proba.shape[1])
    picked = np.clip(proba[np.arange(len(y)), y], 1e-7, 1.0)
    return float(-np.log(picked).mean())


def _split(loader: Callable[..., Any], scale: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    x, y = loader(return_X_y=True)
    # One fixed 80/20 split for every configuration and seed: seeds vary the model, not the data.
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    if scale:
        mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-9
        x_train, x_val = (x_train - mean) / std, (x_val - mean) / std
    return x_train, x_val, y_train, y_val


def train_mlp(config: dict[str, Any], seed: int, steps: int) -> list[Step]:
    """MLPClassifier (adam) on digits, one `partial_fit` epoch per step; seed = init and shuffling."""
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier

    x_train, x_val, y_train, y_val = _split(load_digits, scale=True)
    model = MLPClassifier(
        hidden_layer_sizes=(config["width"],) * config["depth"],
        learning_rate_init=config["learning_rate_init"],
        batch_size=config["batch_size"],
        alpha=config["alpha"],
        beta_1=config["beta_1"],
        random_state=seed,
    )
    classes = np.unique(y_train)
    out: list[Step] = []
    for _ in range(steps):
        start = time.process_time()
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # convergence and overflow warnings of diverging configurations
            model.partial_fit(x_train, y_train, classes=classes)
            proba = model.predict_proba(x_val)
        accuracy = float((classes[np.nan_to_num(proba).argmax(axis=1)] == y_val).mean())
        loss = _log_loss(proba, y_val)
        out.append((accuracy, loss, time.process_time() - start))
    return out


def train_gbt(config: dict[str, Any], seed: int, steps: int) -> list[Step]:
    """HistGradientBoostingClassifier on breast_cancer, one more round per step (`warm_start`)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import HistGradientBoostingClassifier

    x_train, x_val, y_train, y_val = _split(load_breast_cancer, scale=False)
    model = HistGradientBoostingClassifier(
        max_iter=1, warm_start=True, early_stopping=False, random_state=seed, **config
    )
    out: list[Step] = []
    for round_ in range(1, steps + 1):
        start = time.process_time()
        model.set_params(max_iter=round_)
        model.fit(x_train, y_train)
        proba = model.predict_proba(x_val)
        accuracy = float((model.classes_[proba.argmax(axis=1)] == y_val).mean())
        out.append((accuracy, _log_loss(proba, y_val), time.process_time() - start))
    return out


TRAINERS: dict[str, Callable[[dict[str, Any], int, int], list[Step]]] = {"mlp": train_mlp, "gbt": train_gbt}


def draw_configs(name: str, n: int, config_seed: int) -> list[dict[str, Any]]:
    """The first `n` configurations of table `name`, drawn in order with one seeded generator."""
    space, rng = Space(SPACES[name]), np.random.default_rng(config_seed)
    return [space.sample(rng) for _ in range(n)]


def _read_partial(file: Path, header: dict[str, Any]) -> dict[tuple[int, int], dict[str, Any]]:
    """The finished (seed, index) lines of `file` (created with `header` if missing; torn tail cut)."""
    if not file.exists():
        file.write_text(json.dumps(header) + "\n")
        return {}
    raw = file.read_bytes()
    keep = raw[: raw.rfind(b"\n") + 1]  # a line without its newline was being written when stopped
    if len(keep) != len(raw):
        file.write_bytes(keep)
    lines = keep.decode().splitlines()
    found = json.loads(lines[0])
    if found != header:
        raise ValueError(f"{file} was recorded with other settings: {found}; this run has {header}")
    done = {}
    for line in lines[1:]:
        row = json.loads(line)
        done[row["seed"], row["index"]] = row
    return done


def _machine() -> str:
    system = f"{platform.system()} {platform.release()}"
    return f"{platform.machine()}, {os.cpu_count()} cores, {system}, Python {platform.python_version()}"


def build(name: str, out: Path, done: dict[tuple[int, int], dict[str, Any]], header: dict[str, Any]) -> Path | None:
    """Write `<out>/<name>.npz` from finished rows: the prefix seed 0 finished, the seeds complete on it."""
    k = 0
    while (0, k) in done:
        k += 1
    if k == 0:
        return None
    seeds: list[int] = []
    while all((len(seeds), i) in done for i in range(k)):
        seeds.append(len(seeds))
    configs = draw_configs(name, k, header["config_seed"])
    steps = header["steps"]
    curves = np.array([[done[s, i]["steps"] for i in range(k)] for s in seeds], dtype=np.float64)
    assert curves.shape == (len(seeds), k, steps, 3), curves.shape
    arrays: dict[str, np.ndarray] = {f"config/{key}": np.array([c[key] for c in configs]) for key in SPACES[name]}
    arrays["metric/val_acc"] = curves[..., 0].astype(np.float32)
    arrays["metric/val_loss"] = curves[..., 1].astype(np.float32)
    arrays["seconds"] = curves[..., 2].astype(np.float32)
    rows = [done[s, i] for s in seeds for i in range(k)]
    meta = {
        **header,
        "space": Space(SPACES[name]).to_json(),
        "configs": k,
        "seeds": seeds,
        "step_seconds": "CPU seconds (time.process_time, 1 thread) of training plus validation",
        "cpu_seconds_total": float(arrays["seconds"].astype(np.float64).sum()),
        "wall_seconds_total": float(sum(r["wall"] for r in rows)),
        "machine": _machine(),
        "sklearn": __import__("sklearn").__version__,
        "numpy": np.__version__,
    }
    arrays["meta"] = np.array(json.dumps(meta))
    target = out / f"{name}.npz"
    partial = out / f"{name}.tmp.npz"
    np.savez_compressed(partial, **arrays)  # type: ignore[arg-type]
    os.replace(partial, target)
    return target


def record(
    name: str, out: Path, configs: int, steps: int, seeds: int, config_seed: int = 0, limit: int | None = None
) -> Path | None:
    """Record (or continue recording) table `name` into `out`; returns the `.npz` written, if any.

    Args:
        limit: record at most this many new (seed, configuration) pairs in this run (then stop, as
            if interrupted: running again continues).
    """
    # threadpoolctl limits only the libraries loaded when it is called: load sklearn's OpenMP first.
    import sklearn.ensemble
    import sklearn.neural_network  # noqa: F401
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    if name not in TRAINERS:
        raise ValueError(f"record needs name to be one of {sorted(TRAINERS)}; got name={name!r}")
    for arg, value in {"configs": configs, "steps": steps, "seeds": seeds}.items():
        if value < 1:
            raise ValueError(f"record needs {arg} >= 1; got {arg}={value}")
    out.mkdir(parents=True, exist_ok=True)
    header = {"table": name, "steps": steps, "config_seed": config_seed}
    file = out / f"{name}.partial.jsonl"
    done = _read_partial(file, header)
    todo = [(s, i) for s in range(seeds) for i in range(configs) if (s, i) not in done]
    if limit is not None:
        todo = todo[:limit]
    all_configs = draw_configs(name, configs, config_seed)
    trainer = TRAINERS[name]
    began = time.monotonic()
    with threadpool_limits(1), file.open("a") as stream:
        for n, (seed, index) in enumerate(todo):
            start = time.monotonic()
            curve = trainer(all_configs[index], seed, steps)
            row = {"seed": seed, "index": index, "wall": time.monotonic() - start, "steps": curve}
            stream.write(json.dumps(row) + "\n")
            stream.flush()
            done[seed, index] = row
            if (n + 1) % 50 == 0:
                rate = (time.monotonic() - began) / (n + 1)
                log.info(
                    "%s: %d/%d done in this run, about %.0f s to go", name, n + 1, len(todo), rate * (len(todo) - n - 1)
                )
    return build(name, out, done, header)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.record", description=__doc__.split("\n\n")[0])
    parser.add_argument("table", choices=sorted(TRAINERS))
    parser.add_argument("--configs", type=int, help="configurations (default: the full size, see SIZES)")
    parser.add_argument("--steps", type=int, help="epochs or boosting rounds per configuration")
    parser.add_argument("--seeds", type=int, help="training seeds per configuration")
    parser.add_argument("--config-seed", type=int, default=0, help="seed of the configuration draws (default 0)")
    parser.add_argument("--out", type=Path, default=DATA, help=f"output folder (default {DATA})")
    parser.add_argument("--limit", type=int, help="stop after this many new (seed, configuration) pairs")
    parser.add_argument("--quick", action="store_true", help="a tiny table for tests (6 x 4 x 2)")
    args = parser.parse_args(argv)
    sizes = dict(QUICK if args.quick else SIZES[args.table])
    for key in sizes:
        if getattr(args, key) is not None:
            sizes[key] = getattr(args, key)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    target = record(
        args.table, args.out, sizes["configs"], sizes["steps"], sizes["seeds"], args.config_seed, args.limit
    )
    log.info(
        "%s: table %s", args.table, target if target is not None else "not written (seed 0 has no configuration yet)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

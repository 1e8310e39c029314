"""`rung demo`: tune scikit-learn's MLPClassifier on the bundled digits data, one epoch per report."""

from __future__ import annotations

import warnings
from typing import Any

import rung

__all__ = ["SPACE", "train_mlp"]

SPACE: dict[str, Any] = {
    "learning_rate_init": rung.loguniform(1e-4, 1e-1),
    "alpha": rung.loguniform(1e-6, 1e-2),
    "batch_size": rung.choice([32, 64, 128]),
    "width": rung.lograndint(16, 256),
    "depth": rung.randint(1, 3),
    "beta_1": rung.uniform(0.8, 0.99),
    "epochs": 15,
}


def train_mlp(config: dict[str, Any]) -> None:
    """One trial: train an MLP on 80% of digits, report validation accuracy after every epoch."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    scaler = StandardScaler().fit(x_train)
    x_train, x_val = scaler.transform(x_train), scaler.transform(x_val)
    checkpoint = rung.get_checkpoint()
    if checkpoint is not None:
        model, start = checkpoint["model"], checkpoint["epoch"] + 1
    else:
        model = MLPClassifier(
            hidden_layer_sizes=(config["width"],) * config["depth"],
            learning_rate_init=config["learning_rate_init"],
            alpha=config["alpha"],
            batch_size=config["batch_size"],
            beta_1=config["beta_1"],
            random_state=0,
        )
        start = 0
    classes = np.unique(y)
    rng = np.random.default_rng(start)
    for epoch in range(start, config["epochs"]):
        order = rng.permutation(len(x_train))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.partial_fit(x_train[order], y_train[order], classes=classes)
        accuracy = float(model.score(x_val, y_val))
        rung.report({"accuracy": accuracy, "epoch": epoch}, checkpoint={"model": model, "epoch": epoch})

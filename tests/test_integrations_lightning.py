"""rung.integrations.lightning with the real PyTorch Lightning, a linear model on 64 rows, on the CPU."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rung
from rung.types import Status

pl = pytest.importorskip("lightning.pytorch")
torch = pytest.importorskip("torch")
from rung.integrations.lightning import RungCallback, resume_path  # noqa: E402

pytestmark = [
    pytest.mark.integration,
    # Lightning's advice for real training (worker processes for a DataLoader), not an error here
    pytest.mark.filterwarnings("ignore:The '\\w+_dataloader' does not have many workers:UserWarning"),
    # Lightning 2.6 on torch 2.13 uses torch's pytree LeafSpec, which torch deprecated
    pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated:FutureWarning"),
]

EPOCHS = 9


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Any:
    # Trials run in threads of this process: one torch thread each, not a pool that oversubscribes 2 cores
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def loaders() -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5], dtype=np.float32) + 0.1 * rng.normal(size=96).astype(np.float32))[:, None]
    data = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    train, valid = torch.utils.data.Subset(data, range(64)), torch.utils.data.Subset(data, range(64, 96))
    # no shuffling: a resumed trial sees the batches it would have seen without the pause
    return torch.utils.data.DataLoader(train, batch_size=16), torch.utils.data.DataLoader(valid, batch_size=32)


class Regressor(pl.LightningModule):  # type: ignore[misc]
    def __init__(self, lr: float, log: Path | None = None) -> None:
        super().__init__()
        self.lr, self.log_path = lr, log
        self.layer = torch.nn.Linear(3, 1)
        with torch.no_grad():  # the same start for every trial, from a seeded generator
            self.layer.weight.copy_(torch.zeros(1, 3))
            self.layer.bias.zero_()

    def training_step(self, batch: Any, index: int) -> Any:
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def validation_step(self, batch: Any, index: int) -> None:
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))
        self.log("weight", self.layer.weight.sum())
        self.log("lr", self.trainer.optimizers[0].param_groups[0]["lr"])

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=self.lr, momentum=0.5)

    def on_train_start(self) -> None:
        # after Lightning restored the checkpoint: the optimizer's lr is the checkpoint's; PBT's is ours
        for group in self.trainer.optimizers[0].param_groups:
            group["lr"] = self.lr
        self.started = False

    def on_train_epoch_start(self) -> None:
        if not self.started and self.log_path is not None:  # the first epoch this fit trains, its weights
            self.started = True
            with self.log_path.open("a") as fh:
                start = {"trial": rung.get_trial_id(), "epoch": self.current_epoch, "weight": self.weight()}
                fh.write(json.dumps(start) + "\n")

    def weight(self) -> float:
        return float(self.layer.weight.sum().item())


def trainer(**kwargs: Any) -> Any:
    return pl.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=1,
        **kwargs,
    )


def train(config: dict[str, Any], log: Path) -> None:
    model = Regressor(config["lr"], log)
    train_data, valid_data = loaders()
    fit = trainer(max_epochs=EPOCHS, callbacks=[RungCallback({"loss": "val_loss", "weight": "weight", "lr": "lr"})])
    with resume_path() as ckpt_path:
        fit.fit(model, train_data, valid_data, ckpt_path=ckpt_path)


def starts(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


LRS = [0.05, 0.02, 0.005, 0.002, 0.0005, 0.0002]  # the best first at every milestone


def test_asha_promote_pauses_and_resumes_the_trainer_from_its_checkpoint(storage: Path, tmp_path: Path) -> None:
    log = tmp_path / "starts.jsonl"
    result = rung.run(
        rung.with_parameters(train, log=log),
        {"lr": rung.grid(LRS)},
        metric="loss",
        scheduler=rung.ASHA(max_t=EPOCHS, grace_period=1, reduction_factor=3, variant="promote"),
        executor="thread",
        max_concurrent=1,
        name="pl-promote",
        storage=storage,
        verbose=0,
    )
    finished = [t for t in result.trials if t.iteration == EPOCHS]
    assert finished and all(t.status is Status.TERMINATED for t in finished)
    assert any(t.iteration < EPOCHS for t in result.trials)  # the others stayed behind at a milestone
    by_trial: dict[int, list[dict[str, Any]]] = {}
    for start in starts(log):
        by_trial.setdefault(start["trial"], []).append(start)
    for trial in finished:
        history = result.history(trial.id)
        # one result per validation epoch; the epoch count goes on across the pauses, never restarts
        assert [r["epoch"] for r in history] == list(range(EPOCHS))
        assert [r["step"] for r in history] == [4 * (e + 1) for e in range(EPOCHS)]
        # paused after epochs 1 and 3: resumed at the next epoch, with the weights it had reported
        resumed = by_trial[trial.id][1:]
        assert [s["epoch"] for s in resumed] == [1, 3]
        for start in resumed:
            assert start["weight"] == pytest.approx(history[start["epoch"] - 1]["weight"], abs=1e-6)
    # the weights of a trial that was paused twice are those of one that trained straight through
    best = min(finished, key=lambda t: t.metrics["loss"])
    model = Regressor(best.config["lr"])
    train_data, valid_data = loaders()
    trainer(max_epochs=EPOCHS).fit(model, train_data, valid_data)
    assert best.metrics["weight"] == pytest.approx(model.layer.weight.sum().item(), abs=1e-5)


def test_asha_stop_ends_training_and_the_checkpoint_is_the_trainers(storage: Path, tmp_path: Path) -> None:
    log = tmp_path / "starts.jsonl"
    result = rung.run(
        rung.with_parameters(train, log=log),
        {"lr": rung.grid(LRS)},
        metric="loss",
        scheduler=rung.ASHA(max_t=EPOCHS, grace_period=1, reduction_factor=3),
        executor="thread",
        max_concurrent=1,
        name="pl-stop",
        storage=storage,
        verbose=0,
    )
    stopped = [t for t in result.trials if t.status is Status.STOPPED]
    assert stopped and all(t.iteration < EPOCHS for t in stopped)
    assert all(s["epoch"] == 0 for s in starts(log))  # never paused: every trial started once, at epoch 0
    for trial in stopped:
        # the stored checkpoint is Lightning's own file, saved after the last reported epoch
        with resume_file(trial.checkpoint) as path:
            saved = torch.load(path, map_location="cpu", weights_only=False)
        assert saved["epoch"] == trial.iteration - 1 and saved["global_step"] == 4 * trial.iteration
        assert saved["state_dict"]["layer.weight"].sum().item() == pytest.approx(trial.metrics["weight"], abs=1e-6)


class resume_file:
    """A stored Lightning checkpoint as a file (what resume_path does inside a trial)."""

    def __init__(self, checkpoint: dict[str, Any]) -> None:
        import tempfile

        self.folder = tempfile.TemporaryDirectory()
        self.path = Path(self.folder.name) / "c.ckpt"
        self.path.write_bytes(checkpoint["ckpt"])

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        self.folder.cleanup()


def test_pbt_clones_a_trainer_and_trains_on_with_the_explored_lr(storage: Path, tmp_path: Path) -> None:
    log = tmp_path / "starts.jsonl"
    pbt = rung.PBT(
        perturbation_interval=2,
        hyperparam_mutations={"lr": rung.loguniform(1e-4, 1e-1)},
        quantile_fraction=0.5,
        resample_probability=0.0,
        seed=0,
    )
    result = rung.run(
        rung.with_parameters(train, log=log),
        {"lr": rung.grid([0.05, 0.0002])},
        metric="loss",
        scheduler=pbt,
        stop={"training_iteration": 6},
        executor="thread",
        max_concurrent=1,
        name="pl-pbt",
        storage=storage,
        verbose=0,
    )
    records = starts(log)
    cloned = 0
    for trial in result.trials:
        clones = [e for e in result.schedule(trial.id) if e.from_trial is not None]
        resumes = [s for s in records if s["trial"] == trial.id][1:]
        history = result.history(trial.id)
        for entry in clones:
            cloned += 1
            assert entry.config is not None and entry.from_trial is not None
            first = history[entry.iteration]  # the clone's first result
            (start,) = [s for s in resumes if s["epoch"] == first["epoch"]]
            # the clone went on from the donor's newest checkpoint (taken when PBT decided), with the
            # donor's weights at that epoch...
            donor = {r["epoch"]: r for r in result.history(entry.from_trial)}
            assert start["weight"] == pytest.approx(donor[start["epoch"] - 1]["weight"], abs=1e-6)
            # ...and trained on with the explored learning rate, not the donor's
            assert first["lr"] == pytest.approx(entry.config["lr"]) and first["lr"] != donor[0]["lr"]
    assert cloned, "PBT cloned the better trial into the worse one"
    assert all(t.status is Status.TERMINATED and t.iteration == 6 for t in result.trials)


def test_validate_and_the_sanity_check_report_nothing(storage: Path) -> None:
    def objective(config: dict[str, Any]) -> None:
        model = Regressor(0.01)
        train_data, valid_data = loaders()
        fit = trainer(max_epochs=2, callbacks=[RungCallback(checkpoint=False)])
        fit.fit(model, train_data, valid_data)
        fit.validate(model, valid_data, verbose=False)

    result = rung.run(objective, {}, metric="val_loss", executor="thread", storage=storage, verbose=0)
    (trial,) = result.trials
    history = result.history(trial.id)
    assert trial.status is Status.TERMINATED and [r["epoch"] for r in history] == [0, 1]
    assert {"val_loss", "weight", "lr", "epoch", "step"} <= set(history[0])
    assert trial.checkpoint is None


def test_a_missing_metric_fails_the_trial_naming_what_was_logged(storage: Path) -> None:
    def objective(config: dict[str, Any]) -> None:
        model = Regressor(0.01)
        train_data, valid_data = loaders()
        trainer(max_epochs=2, callbacks=[RungCallback("val_acc")]).fit(model, train_data, valid_data)

    result = rung.run(objective, {}, executor="thread", storage=storage, verbose=0)
    (trial,) = result.trials
    assert trial.status is Status.ERROR
    assert (
        "KeyError: \"RungCallback was asked to report 'val_acc', which was not logged after validation in epoch 0;"
        " logged: ['lr', 'val_loss', 'weight']\"" in (trial.error or "")
    )


class Unvalidated(pl.LightningModule):  # type: ignore[misc]
    """A module with no validation step, for a Trainer that does not validate."""

    def __init__(self, lr: float) -> None:
        super().__init__()
        self.lr = lr
        self.layer = torch.nn.Linear(3, 1)

    def training_step(self, batch: Any, index: int) -> Any:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def test_a_trainer_without_validation_reports_each_training_epoch(storage: Path) -> None:
    def objective(config: dict[str, Any]) -> None:
        train_data, _ = loaders()
        fit = trainer(max_epochs=3, callbacks=[RungCallback("train_loss", on="train_epoch_end")])
        with resume_path() as ckpt_path:
            fit.fit(Unvalidated(config["lr"]), train_data, ckpt_path=ckpt_path)

    result = rung.run(objective, {"lr": 0.01}, metric="train_loss", executor="thread", storage=storage, verbose=0)
    (trial,) = result.trials
    history = result.history(trial.id)
    assert trial.status is Status.TERMINATED
    assert [(r["epoch"], r["step"]) for r in history] == [(0, 4), (1, 8), (2, 12)]
    assert all(r["train_loss"] > 0 for r in history)
    assert trial.checkpoint["integration"] == "lightning"


def test_callback_arguments_are_checked() -> None:
    with pytest.raises(
        ValueError, match=r"RungCallback needs on to be 'validation_end' or 'train_epoch_end'; got on='x'"
    ):
        RungCallback(on="x")
    with pytest.raises(TypeError, match=r"RungCallback needs checkpoint to be True or False; got checkpoint=1"):
        RungCallback(checkpoint=1)  # type: ignore[arg-type]

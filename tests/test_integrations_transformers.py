"""rung.integrations.transformers with the real Transformers Trainer: a tiny BERT built from a config
(randomly initialised, nothing downloaded), 64 sequences of 8 tokens, on the CPU."""

from __future__ import annotations

import functools
import gc
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rung
from rung.types import Status

torch = pytest.importorskip("torch")
os.environ["HF_HUB_OFFLINE"] = "1"  # nothing is downloaded: the model is built from its config
transformers = pytest.importorskip("transformers")
from rung.integrations.transformers import RungCallback, resume_dir, tune, unpack  # noqa: E402

pytestmark = pytest.mark.integration

EPOCHS = 9


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Any:
    # Trials run in threads of this process: one torch thread each, not a pool that oversubscribes 2 cores
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True, scope="module")
def frozen_heap() -> Any:
    # Trainer.train() starts with gc.collect() (accelerate's free_memory): with the frameworks of every test
    # imported into this process, a full collection walks some 600,000 objects (1.2 s here, each train()).
    # Frozen, the objects already there are left out; what the tests create is still collected.
    transformers.Trainer  # noqa: B018  (imported on first use: its modules, before the freeze)
    gc.freeze()
    yield
    gc.unfreeze()


LRS = [3e-3, 1e-3, 1e-4, 1e-5]  # the best first at every milestone


class Tokens(torch.utils.data.Dataset):  # type: ignore[misc]
    """Sequences of 8 token ids; the label says whether token 7 occurs in it."""

    def __init__(self, n: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.ids = torch.from_numpy(rng.integers(5, 20, size=(n, 8)))
        self.labels = (self.ids == 7).any(dim=1).long()

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"input_ids": self.ids[i], "attention_mask": torch.ones(8, dtype=torch.long), "labels": self.labels[i]}


def bert() -> Any:
    config = transformers.BertConfig(
        vocab_size=100,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
        hidden_dropout_prob=0.0,  # no dropout: a resumed trial computes what a straight one does
        attention_probs_dropout_prob=0.0,
    )
    return transformers.BertForSequenceClassification(config)


def accuracy(prediction: Any) -> dict[str, float]:
    return {"accuracy": float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())}


def make_trainer(config: dict[str, Any], out: Path, epochs: int = EPOCHS) -> Any:
    args = transformers.TrainingArguments(
        output_dir=str(out),  # tune() trains each trial in a folder of its own
        learning_rate=config["lr"],
        num_train_epochs=epochs,
        per_device_train_batch_size=16,
        per_device_eval_batch_size=32,
        eval_strategy="epoch",
        save_strategy="epoch",
        logging_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
        dataloader_num_workers=0,
    )
    # model_init: the Trainer seeds (args.seed) before it builds the model, so every trial starts alike
    return transformers.Trainer(
        model_init=bert,
        args=args,
        train_dataset=Tokens(64, 0),
        eval_dataset=Tokens(32, 1),
        compute_metrics=accuracy,
    )


def test_tune_reports_each_epoch_and_asha_promote_resumes_the_trainer(storage: Path, tmp_path: Path) -> None:
    result = tune(
        functools.partial(make_trainer, out=tmp_path / "out"),
        {"lr": rung.grid(LRS)},
        metric="eval_loss",
        scheduler=rung.ASHA(max_t=EPOCHS, grace_period=1, reduction_factor=3, variant="promote"),
        executor="thread",
        max_concurrent=1,
        name="hf-promote",
        storage=storage,
        verbose=0,
    )
    finished = [t for t in result.trials if t.iteration == EPOCHS]
    assert finished and any(t.iteration < EPOCHS for t in result.trials)
    for trial in result.trials:
        history = result.history(trial.id)
        assert {"eval_loss", "eval_accuracy", "epoch", "step"} <= set(history[0])
        # one result per epoch; epoch and step go on across the pauses (4 steps an epoch)
        assert [r["epoch"] for r in history] == [float(e) for e in range(1, trial.iteration + 1)]
        assert [r["step"] for r in history] == [4 * e for e in range(1, trial.iteration + 1)]
    best = min(finished, key=lambda t: t.metrics["eval_loss"])
    # the checkpoint is the Trainer's own folder at the last step; its state says so
    state = transformers.TrainerState.load_from_json(
        str(unpack(best.checkpoint, storage / "best") / "trainer_state.json")
    )
    assert state.global_step == 4 * EPOCHS
    # paused after epochs 1 and 3 and resumed from those checkpoints: the same model as a straight run
    straight = make_trainer(best.config, tmp_path / "straight")
    straight.train()
    resumed = transformers.BertForSequenceClassification.from_pretrained(storage / "best")
    for name, value in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], value, rtol=1e-5, atol=1e-6)


def test_asha_stop_ends_training_early(storage: Path, tmp_path: Path) -> None:
    result = tune(
        functools.partial(make_trainer, out=tmp_path / "out"),
        {"lr": rung.grid(LRS)},
        scheduler=rung.ASHA(max_t=EPOCHS, grace_period=1, reduction_factor=3),
        metrics={"loss": "eval_loss"},
        metric="loss",
        executor="thread",
        max_concurrent=1,
        name="hf-stop",
        storage=storage,
        verbose=0,
    )
    stopped = [t for t in result.trials if t.status is Status.STOPPED]
    assert stopped and all(t.iteration < EPOCHS for t in stopped)
    for trial in stopped:
        assert set(trial.metrics) >= {"loss", "epoch", "step"} and "eval_accuracy" not in trial.metrics
        # training ended at the stop: the checkpoint is the Trainer's, saved after the last report
        assert json.loads(trial.checkpoint["files"]["trainer_state.json"])["global_step"] == 4 * trial.iteration


def test_the_callback_without_tune_and_evaluate_after_training_reports_nothing(storage: Path, tmp_path: Path) -> None:
    def objective(config: dict[str, Any]) -> None:
        trainer = make_trainer(config, tmp_path / "out", epochs=2)
        trainer.add_callback(RungCallback(["eval_loss"], checkpoint=False))
        with resume_dir() as checkpoint:
            trainer.train(resume_from_checkpoint=checkpoint)
        trainer.evaluate()  # outside training: not a result

    result = rung.run(objective, {"lr": 1e-3}, metric="eval_loss", executor="thread", storage=storage, verbose=0)
    (trial,) = result.trials
    history = result.history(trial.id)
    assert trial.status is Status.TERMINATED and [r["epoch"] for r in history] == [1.0, 2.0]
    assert trial.checkpoint is None


def test_tune_needs_a_trainer_that_evaluates_and_saves_alike(storage: Path, tmp_path: Path) -> None:
    def no_eval(config: dict[str, Any]) -> Any:
        trainer = make_trainer(config, tmp_path / "out")
        trainer.args.eval_strategy = transformers.IntervalStrategy.NO
        return trainer

    def no_save(config: dict[str, Any]) -> Any:
        trainer = make_trainer(config, tmp_path / "out")
        trainer.args.save_strategy = transformers.trainer_utils.SaveStrategy.NO
        return trainer

    errors = []
    for fn in (no_eval, no_save, lambda config: "a trainer"):
        result = tune(fn, {"lr": 1e-3}, executor="thread", storage=storage, verbose=0)
        errors.append(result.trials[0].error or "")
    assert (
        "ValueError: tune() needs the Trainer to evaluate during training (eval_strategy='epoch' or 'steps');"
        in (errors[0])
    )
    assert (
        "ValueError: tune() needs the Trainer to save a checkpoint after each evaluation, so that a paused trial"
        " resumes where it stopped: give TrainingArguments the same save_strategy as eval_strategy (and save_steps"
        " as eval_steps); got eval_strategy='epoch', save_strategy='no'" in errors[1]
    )
    assert "TypeError: tune() needs trainer_fn to return a transformers.Trainer; got str" in errors[2]
    with pytest.raises(
        TypeError, match=r"tune needs trainer_fn to be a callable\(config\) -> Trainer; got trainer_fn=3"
    ):
        tune(3, {})  # type: ignore[arg-type]

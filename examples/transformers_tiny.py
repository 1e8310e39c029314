"""A tiny Hugging Face Transformers model tuned with `rung.integrations.transformers.tune`, and ASHA.

What it shows: `tune(make_trainer, space, ...)`, rung's counterpart of
`Trainer.hyperparameter_search`: a function builds a `transformers.Trainer` from each trial's config
(learning rate, weight decay, learning-rate schedule, batch size), and `tune` trains it with a
callback that reports every evaluation (`eval_loss`, and `eval_accuracy` from `compute_metrics`)
with the checkpoint the Trainer saved after it. ASHA stops the poor trials after 1 or 3 of 9 epochs. The best
trial's checkpoint is then unpacked (`unpack`) into a folder that `from_pretrained` loads, and scored
on held-out sequences. The model is a BERT built from a config (2 layers, hidden size 32, randomly
initialised): nothing is downloaded (`HF_HUB_OFFLINE=1`). The Trainer takes the GPU when there is
one, the CPU otherwise. Data: synthetic sequences of 12 token ids; the label says whether token 7
occurs more often than token 9 in the sequence (a third do): 512 to train on, 128 to evaluate on,
256 held out.

Run: `python examples/transformers_tiny.py` (the full run: 2 minutes on 2 busy cores; trials are
seeded, but ASHA's decisions depend on the order results arrive), or with `--smoke` (two trials of
one epoch on 64 sequences, about a minute on 2 busy cores, half of it importing Transformers: what
CI runs).

What it printed (full run, 2 cores):

    tune() + ASHA: 12 trials in 77 s, 72 epochs (of 108), 6 stopped by ASHA;
      epochs per trial: [9, 9, 9, 9, 9, 9, 3, 3, 3, 3, 3, 3]
    best eval accuracy 0.992 (trial 1, 9 epochs), held-out accuracy 1.000:
      learning_rate=0.00188, weight_decay=0.000645, lr_scheduler_type=linear, batch_size=16
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
from typing import Any

import numpy as np
import torch

# Nothing is downloaded: the model is built from its config
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import transformers

import rung
from rung.integrations.transformers import tune, unpack

SPACE = {
    "learning_rate": rung.loguniform(1e-4, 1e-2),
    "weight_decay": rung.loguniform(1e-4, 1e-1),
    "lr_scheduler_type": rung.choice(["linear", "cosine", "constant"]),
    "batch_size": rung.choice([16, 32]),
}
LENGTH, MORE, LESS = 12, 7, 9
SEED = 0


class Sequences(torch.utils.data.Dataset):  # type: ignore[misc]
    """`n` sequences of token ids in 5..19 (0..4 are BERT's special ids); label: more 7s than 9s."""

    def __init__(self, n: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.ids = torch.from_numpy(rng.integers(5, 20, size=(n, LENGTH)))
        self.labels = ((self.ids == MORE).sum(dim=1) > (self.ids == LESS).sum(dim=1)).long()

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        mask = torch.ones(LENGTH, dtype=torch.long)
        return {"input_ids": self.ids[i], "attention_mask": mask, "labels": self.labels[i]}


def bert() -> transformers.BertForSequenceClassification:
    """A tiny BERT classifier, randomly initialised from its config (the Trainer seeds it first)."""
    config = transformers.BertConfig(
        vocab_size=32, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=LENGTH, num_labels=2,
    )  # fmt: skip
    return transformers.BertForSequenceClassification(config)


def accuracy(prediction: transformers.EvalPrediction) -> dict[str, float]:
    return {"accuracy": float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())}


def make_trainer(config: dict[str, Any], sizes: tuple[int, int], epochs: int) -> transformers.Trainer:
    """The Trainer of one trial: evaluated and saved every epoch, as `tune` needs."""
    torch.set_num_threads(1)  # trials run in parallel worker processes: one thread each
    transformers.logging.set_verbosity_error()  # the Trainer's notices, noise in the trial's log
    args = transformers.TrainingArguments(
        output_dir=os.path.join(tempfile.gettempdir(), "unused"),  # tune() gives each trial a folder of its own
        learning_rate=config["learning_rate"],
        weight_decay=config["weight_decay"],
        lr_scheduler_type=config["lr_scheduler_type"],
        per_device_train_batch_size=config["batch_size"],
        per_device_eval_batch_size=128,
        num_train_epochs=epochs,
        eval_strategy="epoch",
        save_strategy="epoch",
        logging_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=SEED,
        dataloader_num_workers=0,
    )
    # model_init: the Trainer seeds (args.seed) before it builds the model, so every trial starts alike
    return transformers.Trainer(
        model_init=bert,
        args=args,
        train_dataset=Sequences(sizes[0], seed=1),
        eval_dataset=Sequences(sizes[1], seed=2),
        compute_metrics=accuracy,
    )


def held_out_accuracy(checkpoint: dict[str, Any], n: int) -> float:
    """The accuracy on `n` new sequences of the model in a checkpoint that tune() kept."""
    with tempfile.TemporaryDirectory() as folder:
        model = transformers.BertForSequenceClassification.from_pretrained(unpack(checkpoint, folder))
    model.eval()
    data = Sequences(n, seed=3)
    with torch.no_grad():
        logits = model(input_ids=data.ids, attention_mask=torch.ones_like(data.ids)).logits
    return float((logits.argmax(-1) == data.labels).float().mean())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="two trials of one epoch on 64 sequences (CI)")
    args = parser.parse_args(argv)
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()  # from_pretrained's, on stderr
    sizes, epochs, trials, held_out = ((64, 32), 1, 2, 64) if args.smoke else ((512, 128), 9, 12, 256)
    with tempfile.TemporaryDirectory() as storage:
        start = time.perf_counter()
        result = tune(
            functools.partial(make_trainer, sizes=sizes, epochs=epochs), SPACE, metric="eval_accuracy", mode="max",
            metrics=["eval_loss", "eval_accuracy"], num_samples=trials, search="random",
            scheduler=rung.ASHA(max_t=epochs, grace_period=1, reduction_factor=3), name="tiny-bert",
            storage=storage, seed=SEED, verbose=0,
        )  # fmt: skip
        took = time.perf_counter() - start
        best = result.best
        assert best is not None and best.best_metrics is not None
        done = sorted((t.iteration for t in result.trials), reverse=True)
        stopped = sum(t.status is rung.Status.STOPPED for t in result.trials)
        print(f"tune() + ASHA: {trials} trials in {took:.0f} s, {sum(done)} epochs (of {trials * epochs}),"
              f" {stopped} stopped by ASHA;")  # fmt: skip
        print(f"  epochs per trial: {done}")
        config = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in best.config.items())
        print(
            f"best eval accuracy {best.best_metrics['eval_accuracy']:.3f} (trial {best.id}, {best.iteration} epochs),"
            f" held-out accuracy {held_out_accuracy(best.checkpoint, held_out):.3f}:"
        )
        print(f"  {config}")


if __name__ == "__main__":
    main(sys.argv[1:])

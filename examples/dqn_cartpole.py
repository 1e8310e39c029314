"""Deep Q-learning on CartPole, tuned four ways: grid search, random search, ASHA, then PBT.

What it shows: the seed's own case. A DQN (numpy only: a 4-64-64-2 MLP Q-network with hand-written
backprop and Adam, a replay buffer, a target network) learns CartPole-v1 (gymnasium), and rung tunes
`batch_size`, `learning_rate` and `target_update` over exactly this hyperopt-style space:

    hp.choice("batch_size", [32, 64, 128])
    hp.loguniform("learning_rate", [0.0001, 0.01])   # a two-item list: the REAL bounds, 1e-4..1e-2
    hp.uniform("target_update", [4, 100])            # episodes between copies into the target network

(`rung.hp` takes hyperopt's own spelling too, `hp.loguniform(label, low, high)`, whose bounds are
in log space: e**low..e**high; the list form above gives the values' own bounds.)

1. grid search: every `batch_size` (a choice of plain values is a grid dimension), the other two
   drawn per grid point, the grid run twice;
2. random search: the same number of trials, every value drawn;
3. ASHA: more trials, the poor ones stopped after 60 or 180 of the 300 episodes;
4. PBT (synchronous): every 60 episodes the worst member copies the best one's network, replay
   buffer and hyperparameters and goes on with a perturbed learning rate (the learning rate
   changes during training).
Each trial reports the greedy policy's mean return over 5 evaluation episodes every few episodes.
Plots (matplotlib PNGs) go to `--out` (default `dqn-cartpole-plots/`): the learning curves of each
phase, and PBT's learning-rate schedules.

Run: `python examples/dqn_cartpole.py` (the full run, about 8 minutes on 2 cores), or with `--smoke`
(a few episodes per trial, about 10 s; what CI runs).

What it printed (full run, 2 cores):

    (filled in below from a real run)
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import rung
from rung import hp

SPACE = {
    "batch_size": hp.choice("batch_size", [32, 64, 128]),
    "learning_rate": hp.loguniform("learning_rate", [0.0001, 0.01]),
    "target_update": hp.uniform("target_update", [4, 100]),
}
GAMMA = 0.99
HIDDEN = 64
BUFFER = 20_000
LEARN_START = 250  # transitions collected before the first update
EPSILON = (1.0, 0.05, 2_000)  # linear decay from 1.0 to 0.05 over 2,000 steps
SEED = 0


@dataclass(frozen=True)
class Budget:
    """How long each trial trains: `episodes`, reporting after every `every` episodes; ASHA's first
    milestone and PBT's perturbation interval: `grace` episodes."""

    episodes: int
    every: int
    eval_episodes: int
    grace: int


FULL = Budget(episodes=300, every=20, eval_episodes=5, grace=60)
SMOKE = Budget(episodes=6, every=2, eval_episodes=1, grace=2)


class QNetwork:
    """A 4-64-64-2 ReLU MLP with its Adam moments; params are a list of numpy arrays."""

    def __init__(self, rng: np.random.Generator) -> None:
        sizes = [4, HIDDEN, HIDDEN, 2]
        self.params: list[np.ndarray] = []
        for n_in, n_out in itertools.pairwise(sizes):
            self.params += [rng.normal(0.0, math.sqrt(2.0 / n_in), (n_in, n_out)), np.zeros(n_out)]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0

    @staticmethod
    def forward(params: list[np.ndarray], x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        w1, b1, w2, b2, w3, b3 = params
        h1 = np.maximum(x @ w1 + b1, 0.0)
        h2 = np.maximum(h1 @ w2 + b2, 0.0)
        return h2 @ w3 + b3, [x, h1, h2]

    def update(self, x: np.ndarray, actions: np.ndarray, targets: np.ndarray, lr: float) -> float:
        """One Adam step on the Huber loss of Q(x, action) against `targets`; returns the loss."""
        q, (x0, h1, h2) = self.forward(self.params, x)
        rows = np.arange(len(x))
        error = q[rows, actions] - targets
        loss = float(np.mean(np.where(np.abs(error) < 1, 0.5 * error**2, np.abs(error) - 0.5)))
        dq = np.zeros_like(q)
        dq[rows, actions] = np.clip(error, -1.0, 1.0) / len(x)
        _, _, w2, _, w3, _ = self.params
        dh2 = (dq @ w3.T) * (h2 > 0)
        dh1 = (dh2 @ w2.T) * (h1 > 0)
        grads = [x0.T @ dh1, dh1.sum(0), h1.T @ dh2, dh2.sum(0), h2.T @ dq, dq.sum(0)]
        self.t += 1
        b1, b2, eps = 0.9, 0.999, 1e-8
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p -= lr * (m / (1 - b1**self.t)) / (np.sqrt(v / (1 - b2**self.t)) + eps)
        return loss


class Replay:
    """A ring buffer of transitions (state, action, reward, next state, done)."""

    def __init__(self, capacity: int) -> None:
        self.s = np.zeros((capacity, 4))
        self.a = np.zeros(capacity, dtype=np.int64)
        self.r = np.zeros(capacity)
        self.s2 = np.zeros((capacity, 4))
        self.done = np.zeros(capacity)
        self.size = self.pos = 0

    def add(self, s: np.ndarray, a: int, r: float, s2: np.ndarray, done: bool) -> None:
        i = self.pos
        self.s[i], self.a[i], self.r[i], self.s2[i], self.done[i] = s, a, r, s2, done
        self.pos = (i + 1) % len(self.a)
        self.size = min(self.size + 1, len(self.a))

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
        i = rng.integers(self.size, size=n)
        return self.s[i], self.a[i], self.r[i], self.s2[i], self.done[i]


@dataclass
class Agent:
    """Everything a trial carries from one report to the next: its checkpoint."""

    net: QNetwork
    target: list[np.ndarray]
    replay: Replay
    rng: np.random.Generator
    episode: int = 0
    steps: int = 0
    since_sync: int = 0

    @classmethod
    def new(cls) -> Agent:
        rng = np.random.default_rng(SEED)
        net = QNetwork(rng)
        return cls(net, [p.copy() for p in net.params], Replay(BUFFER), rng)

    def state(self) -> dict[str, Any]:
        """The checkpoint: plain numbers and arrays (PBT copies it to other trials)."""
        return {
            "net": self.net.params, "adam": (self.net.m, self.net.v, self.net.t), "target": self.target,
            "replay": vars(self.replay), "rng": self.rng.bit_generator.state,
            "counters": (self.episode, self.steps, self.since_sync),
        }  # fmt: skip

    @classmethod
    def load(cls, state: dict[str, Any]) -> Agent:
        agent = cls.new()
        agent.net.params = state["net"]
        agent.net.m, agent.net.v, agent.net.t = state["adam"]
        agent.target = state["target"]
        vars(agent.replay).update(state["replay"])
        agent.rng.bit_generator.state = state["rng"]
        agent.episode, agent.steps, agent.since_sync = state["counters"]
        return agent

    def act(self, state: np.ndarray, epsilon: float) -> int:
        if self.rng.random() < epsilon:
            return int(self.rng.integers(2))
        q, _ = QNetwork.forward(self.net.params, state[None, :])
        return int(np.argmax(q[0]))


def epsilon(steps: int) -> float:
    start, end, span = EPSILON
    return max(end, start - (start - end) * steps / span)


def run_episode(env: Any, agent: Agent, config: dict[str, Any]) -> float:
    """One training episode: act epsilon-greedily, store, learn from a minibatch every step."""
    state, _ = env.reset(seed=SEED + agent.episode)
    total, done = 0.0, False
    while not done:
        action = agent.act(state, epsilon(agent.steps))
        nxt, reward, terminated, truncated, _ = env.step(action)
        agent.replay.add(state, action, float(reward), nxt, terminated)  # a time limit is no terminal state
        state, total, done = nxt, total + float(reward), terminated or truncated
        agent.steps += 1
        if agent.replay.size >= LEARN_START:
            s, a, r, s2, d = agent.replay.sample(agent.rng, config["batch_size"])
            q_next, _ = QNetwork.forward(agent.target, s2)
            agent.net.update(s, a, r + GAMMA * (1.0 - d) * q_next.max(axis=1), config["learning_rate"])
    agent.episode += 1
    agent.since_sync += 1
    if agent.since_sync >= round(config["target_update"]):
        agent.target = [p.copy() for p in agent.net.params]
        agent.since_sync = 0
    return total


def evaluate(env: Any, agent: Agent, episodes: int) -> float:
    """The greedy policy's mean return (on seeds the training episodes never use)."""
    returns = []
    for k in range(episodes):
        state, _ = env.reset(seed=10_000 + k)
        total, done = 0.0, False
        while not done:
            state, reward, terminated, truncated, _ = env.step(agent.act(state, 0.0))
            total, done = total + float(reward), terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


def train(config: dict[str, Any], budget: Budget) -> None:
    """One trial: train from its checkpoint (PBT may hand it another trial's), report every few episodes."""
    import gymnasium as gym

    env = gym.make("CartPole-v1")
    saved = rung.get_checkpoint()  # None, or this trial's (or, after a PBT exploit, a better one's) state
    agent = Agent.new() if saved is None else Agent.load(saved)
    recent: list[float] = []
    while agent.episode < budget.episodes:
        recent.append(run_episode(env, agent, config))
        if agent.episode % budget.every == 0:
            score = evaluate(env, agent, budget.eval_episodes)
            rung.report(
                {"eval_return": score, "train_return": float(np.mean(recent)), "episode": agent.episode},
                checkpoint=agent.state(),
            )
            recent = []
    env.close()


def random_policy_return(episodes: int) -> float:
    """The baseline: a policy that pushes left or right at random."""
    import gymnasium as gym

    env = gym.make("CartPole-v1")
    rng = np.random.default_rng(SEED)
    returns = []
    for k in range(episodes):
        env.reset(seed=10_000 + k)
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(int(rng.integers(2)))
            total, done = total + float(reward), terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


def phases(budget: Budget, smoke: bool) -> list[tuple[str, dict[str, Any]]]:
    """(name, rung.run arguments) of the four searches. ASHA and PBT count episodes (`time_attr`):
    a PBT trial that copies a member ahead of it or behind it goes on from that member's episode."""
    pbt = rung.PBT(
        perturbation_interval=budget.grace,  # every 60 episodes
        hyperparam_mutations={"learning_rate": rung.loguniform(1e-4, 1e-2)},
        quantile_fraction=0.25,
        time_attr="episode",
        synch=True,  # members meet at each perturbation point: the same run gives the same schedule
    )
    asha = rung.ASHA(max_t=budget.episodes, grace_period=budget.grace, reduction_factor=3, time_attr="episode")
    return [
        ("grid", {"search": "grid", "num_samples": 1 if smoke else 2}),  # 3 batch sizes, x2
        ("random", {"search": "random", "num_samples": 2 if smoke else 6}),
        ("asha", {"search": "random", "num_samples": 3 if smoke else 12, "scheduler": asha}),  # stops at 60, 180
        ("pbt", {"search": "random", "num_samples": 2 if smoke else 4, "scheduler": pbt}),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a few episodes per trial (CI)")
    parser.add_argument("--out", default="dqn-cartpole-plots", help="folder for the PNG plots")
    parser.add_argument("--storage", default=None, help="folder of the experiments (default: a temporary one)")
    args = parser.parse_args(argv)
    budget = SMOKE if args.smoke else FULL
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        storage = args.storage or tmp
        print(f"random policy: mean return {random_policy_return(20):.1f} over 20 episodes")
        for name, how in phases(budget, args.smoke):
            start = time.perf_counter()
            result = rung.run(
                rung.with_parameters(train, budget=budget), SPACE, metric="eval_return", mode="max",
                name=f"dqn-{name}", storage=storage, seed=SEED, verbose=0, **how,
            )  # fmt: skip
            took = time.perf_counter() - start
            best = result.best
            assert best is not None and best.best_metrics is not None
            episodes = sum(int(t.metrics.get("episode", 0)) for t in result.trials)
            config = {k: round(v, 5) if isinstance(v, float) else v for k, v in best.config.items()}
            print(
                f"{name:>6}: {len(result.trials):2d} trials, {episodes:5d} episodes, {took:5.0f} s;"
                f" best eval return {best.best_metrics['eval_return']:6.1f} (trial {best.id}, {config})"
            )
            result.plot_curves(path=out / f"{name}-curves.png")
            if name == "pbt":
                result.plot_schedules("learning_rate", path=out / "pbt-learning-rate.png")
                for trial in result.trials:
                    schedule = result.schedule(trial.id)
                    rates = " -> ".join(f"{e.config['learning_rate']:.2g}" for e in schedule if e.config)
                    print(f"        trial {trial.id}: {len(schedule) - 1} PBT changes, learning rate {rates}")
    print(f"plots in {out}/")


if __name__ == "__main__":
    main(sys.argv[1:])

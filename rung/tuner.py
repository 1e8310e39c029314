"""The tuner: the event loop that connects searcher, scheduler, executor and store, and nothing else.

One turn of the loop: fill free slots (scheduler, then searcher), poll the executor, store every
event, commit, and only then answer the waiting trials. So a `report()` that returned is durable.
Each running trial holds a slot number (the lowest free one below the executor's capacity), which
the store records with every status change, with the time: the dashboard's worker timeline.
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload

from rung import known as known_results
from rung._changes import Changes
from rung._numbers import better, finite
from rung.callbacks import Callback, CallbackList
from rung.clock import RealClock
from rung.cost import Spending
from rung.errors import MetricNotReportedError, StoreWriteError
from rung.executors.base import Ended, Executor, Reported
from rung.objectives import Objectives
from rung.schedulers.base import Scheduler
from rung.search.base import Searcher
from rung.session import AUTO_KEYS, Job
from rung.status import TrialRow, TuningStatus
from rung.store.sqlite import Store
from rung.types import Config, Decision, Pause, Resume, Start, Status, Stop, StopFn, TrialInfo

__all__ = ["Progress", "Tuner"]

log = logging.getLogger("rung")


@dataclass(slots=True)
class _Trial(TrialInfo):
    """The driver's view of a trial: what searchers and schedulers see, plus bookkeeping."""

    best: dict[str, Any] | None = None
    num_failures: int = 0
    ending: Status | None = None
    error: str | None = None
    slot: int | None = None
    held: bool = False  # paused by the cost budget (not the scheduler): a resume starts it again itself


class _Paused(Sequence[TrialInfo]):
    """The paused trials as `Scheduler.next_trial` reads them, in the tuner's order, not copied.

    Copying them into a list for every free slot cost O(paused trials) per start: a third of the
    driver's time in a 100,000-trial run of the default, which leaves tens of thousands of trials
    paused (BENCHMARKS.md, "The default's targets"). Length, truth and iteration read the dict as
    is; a list is made once, only if a scheduler indexes it. Valid for one `next_trial` call.
    """

    __slots__ = ("_list", "_trials")

    def __init__(self, trials: dict[int, _Trial]) -> None:
        self._trials = trials
        self._list: list[_Trial] | None = None

    def __len__(self) -> int:
        return len(self._trials)

    def __iter__(self) -> Iterator[TrialInfo]:
        return iter(self._trials.values())

    @overload
    def __getitem__(self, index: int) -> TrialInfo: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[TrialInfo]: ...
    def __getitem__(self, index: int | slice) -> TrialInfo | Sequence[TrialInfo]:
        if self._list is None:
            self._list = list(self._trials.values())
        return self._list[index]


class Progress:
    """A live view of the run (the rich view implements it): it gets a `TuningStatus`, not the tuner.

    The tuner asks `wants_update()` after every turn and builds a status only when it says yes, so a
    view that redraws a few times a second costs the loop nothing in between.
    """

    max_running = 8
    """The running trials a status holds at most (the lowest ids): what the view shows."""

    def wants_update(self) -> bool:
        """Whether `update` would redraw now (this one never does)."""
        return False

    def update(self, status: TuningStatus) -> None:
        """Called after a turn of the loop, when `wants_update()` said yes."""

    def close(self, status: TuningStatus) -> None:
        """Called once when the run ends."""


class Tuner:
    """Runs one experiment to its end (or to a stop) on the given parts."""

    def __init__(
        self,
        *,
        fn: Callable[[Config], Any],
        searcher: Searcher,
        scheduler: Scheduler,
        executor: Executor,
        store: Store,
        metric: str | None,
        mode: str,
        objectives: Objectives | None = None,
        stop: StopFn | None = None,
        time_budget_s: float | None = None,
        max_failures: int = 0,
        progress: Progress | None = None,
        callbacks: Sequence[Callback] = (),
        max_concurrent: int | None = None,
        points: Sequence[Config] = (),
        known: Sequence[known_results.Known] = (),
        spending: Spending | None = None,
        cost_budget: float | None = None,
    ) -> None:
        self.fn = fn
        self.points = list(points)  # configs to run first (points_to_evaluate), before the searcher's
        self.known = list(known)  # results given, not run: stored as ended trials first (see rung.known)
        self._untold: set[int] = set()  # known trials being replayed: the scheduler never hears of them
        self.max_concurrent = max_concurrent  # a cap below the executor's capacity (an executor object's)
        self.searcher = searcher
        self.scheduler = scheduler
        self.executor = executor
        self.store = store
        self.metric = metric
        self.mode = mode
        # Several objectives or constraints: trials are judged by `objectives` (see rung.objectives);
        # one plain metric keeps the fast path of `_record`.
        self.objectives = None if objectives is None or objectives.plain else objectives
        self._best_score = 0.0  # with `objectives`: the best trial's score (lower is better)
        self.stop = stop
        self.time_budget_s = time_budget_s
        self.spending = spending  # with prices: each trial's cost, and the money spent (see rung.cost)
        self.cost_budget = cost_budget
        self.out_of_money = False
        self.max_failures = max_failures
        self.clock = executor.clock
        self.changes = Changes(store)  # a scheduler's changes to trials' configs and weights (PBT)
        self.progress = progress or Progress()
        self.callbacks = CallbackList(callbacks)  # one that raises is logged and switched off
        self._callbacks_set_up = False
        # Trials not yet ended (pending, running, paused). An ended trial is dropped (the store holds
        # it; `self.best` keeps the best one's row), so the driver's memory does not grow with ended
        # trials: only their count by status is kept.
        self.trials: dict[int, _Trial] = {}
        self.ended: Counter[Status] = Counter()
        self.running: set[int] = set()
        self.restarts: list[int] = []
        self.paused: dict[int, _Trial] = {}
        self.next_id = 1
        self.exhausted = False
        self.out_of_time = False
        self.metric_seen = False
        self.warned_no_checkpoint = False
        self.turns = 0
        # The best result so far and its trial, for the live view: while the trial runs, `status()`
        # reads its status, iteration and config from `self.trials`; when it ends, they are set here.
        self.best: TrialRow | None = None
        self.started = self.clock.now()
        # Event times: wall time (epoch seconds) for a real clock, so they line up with the results'
        # `timestamp` and across resumes; a simulated clock's own time (shifted on resume, see replay).
        self._epoch = time.time() - self.started if isinstance(self.clock, RealClock) else 0.0
        self._slots = 0  # bit i set: slot i is held by a running trial
        self._configs: dict[int, Config] | None = None  # stored configs, read once by a replay that needs them

    # Public entry points.
    def replay(self) -> None:
        """Rebuild searcher, scheduler and trial state from the store (resume after a stop or crash)."""
        self._setup_callbacks()  # replay may end trials whose end was decided but not stored
        last_at = 0.0
        # Paused trials wait in the order they paused (a scheduler may resume the longest waiting).
        pause_order: dict[int, None] = {}
        # Only each trial's newest checkpoint is stored: a replayed result has one at its own
        # iteration or the newest (exact for objectives that save at every report).
        checkpoints = self.store.checkpoint_iterations()
        for kind, trial_id, data, at, _slot in self.store.timed_history():
            last_at = last_at if at is None else max(last_at, at)
            if kind == "result":
                trial = self.trials[trial_id]
                if trial_id in self._untold:  # a known result: learnt, not scheduled, no proof of reporting
                    seen = self.metric_seen
                    self._record(trial, data)
                    self.metric_seen = seen
                    self.searcher.observe(trial_id, data)
                    continue
                if self.spending is not None:
                    self.spending.replayed(trial_id, data)
                self._record(trial, data)
                newest = checkpoints.get(trial_id)
                trial.checkpoint_iteration = None if newest is None else min(newest, trial.iteration)
                self.searcher.observe(trial_id, data)
                # The decision is kept: if the driver stopped after answering it but before the
                # trial ended, the trial still pauses or stops as it was told.
                self._decide(trial, data, self.scheduler.on_result(trial, data))
                pause_order.pop(trial_id, None)
                if trial.ending is Status.PAUSED:
                    pause_order[trial_id] = None
                continue
            status, info = data
            if "origin" in info:  # the trial's creation
                self._replay_add(trial_id, info)
                continue
            trial = self.trials[trial_id]
            trial.status, trial.ending = status, None
            trial.held = status is Status.PAUSED and "budget" in info
            pause_order.pop(trial_id, None)
            if status is Status.PAUSED:
                pause_order[trial_id] = None
            if "config" in info:
                trial.config = info["config"]
            if status.finished:
                self._ended(trial, status)
        if not isinstance(self.clock, RealClock):
            # A simulated clock starts again at 0: continue after the stored events instead.
            self._epoch = last_at - self.clock.now()
        for row in self.store.trials(objects=True):
            live = self.trials.get(row["id"])
            if live is None:  # ended
                if self.best is not None and self.best.id == row["id"]:
                    self.best = dataclasses.replace(self.best, config=row["config"])
                continue
            trial = live
            trial.config, trial.num_failures, trial.error = row["config"], row["num_failures"], row["error"]
            if trial.status in (Status.PENDING, Status.RUNNING):
                if trial.ending is Status.PAUSED:
                    trial.status = Status.PAUSED
                    self.store.set_status(trial.id, Status.PAUSED, at=self._now())
                elif trial.ending is not None:
                    self._finish(trial, trial.ending)
                else:
                    # Interrupted by the stop: it restarts from its last checkpoint.
                    trial.status = Status.PENDING
                    self.restarts.append(trial.id)
            if trial.held:  # paused when the money ran out: it goes on where it was, unknown to the scheduler
                self.restarts.append(trial.id)
            elif trial.status is Status.PAUSED:
                self.paused[trial.id] = trial
        rank = {trial_id: i for i, trial_id in enumerate(pause_order)}
        self.paused = dict(sorted(self.paused.items(), key=lambda item: rank.get(item[0], len(rank))))
        self.restarts.sort()

    def _replay_add(self, trial_id: int, info: Mapping[str, Any]) -> None:
        config = {}
        if info["origin"] in ("searcher", "ask"):  # "ask": proposed through rung.Study's ask()
            # Same seed and same events: the searcher proposes what it proposed before. The stored
            # config is the truth; the call only moves the searcher's state forward.
            config = self.searcher.suggest(trial_id) or {}
        elif info["origin"] in ("point", "known"):
            given: list[Any] = self.points if info["origin"] == "point" else self.known
            if given:
                given.pop(0)  # started (or stored) before the stop: not again
            config = self._stored_config(trial_id)
            self.searcher.on_given(trial_id, config)
        trial = _Trial(id=trial_id, config=config, parent_id=info.get("parent_id"))
        self.trials[trial_id] = trial
        self.next_id = max(self.next_id, trial_id + 1)
        if info["origin"] == "known":
            self._untold.add(trial_id)
        else:
            self.scheduler.on_trial_add(trial)

    def _stored_config(self, trial_id: int) -> Config:
        """A stored trial's config as run (its objects too: the event's copy holds their text)."""
        if self._configs is None:
            self._configs = {row["id"]: row["config"] for row in self.store.trials(objects=True)}
        return self._configs[trial_id]

    def _now(self) -> float:
        """The time stored with status events (see `_epoch`)."""
        return self.clock.now() + self._epoch

    def _setup_callbacks(self) -> None:
        if self.callbacks and not self._callbacks_set_up:
            self._callbacks_set_up = True
            self.callbacks.setup(self.store.path.name, self.store.path, self.metric, self.mode)

    def run(self) -> None:
        """Run until no trial can start and none is running, the time budget ends, or Ctrl-C."""
        self.executor.start(self.fn)
        self.store.set_experiment("RUNNING")
        self._add_known()
        self.store.commit()
        self._setup_callbacks()
        try:
            self._loop()
        except KeyboardInterrupt:
            if self.executor.durable_answers:
                # Ctrl-C may land half-way through storing an event (a checkpoint without its result):
                # keep what was committed, which is all that was answered.
                self.store.discard()
            else:
                self.store.commit()
            self.store.set_experiment("INTERRUPTED")
            self.store.commit()
            raise  # rung.run prints the command that resumes it
        except BaseException as exc:
            try:
                self.store.commit()
                self.store.set_experiment("ERROR")
                self.store.commit()
            except StoreWriteError:
                if not isinstance(exc, StoreWriteError):
                    raise  # the disk filled: the user's error above is in its context
                # The store could not be written once more (still full): it stays as last committed.
            raise
        finally:
            self.executor.shutdown()
            self.progress.close(self.status(self.progress.max_running))
            if self.callbacks:
                self.callbacks.on_experiment_end()
        self.store.set_experiment("FINISHED")
        self.store.commit()

    # The loop.
    def _loop(self) -> None:
        self._check_budget()  # a resume may find the money spent already
        while True:
            self._fill()
            if not self.running:
                if self.out_of_money:
                    self._hold_restarts()
                if not (self.out_of_time or self.out_of_money):
                    # Nothing runs and nothing will start: a paused trial left now is never resumed.
                    for trial in list(self.paused.values()):
                        self.paused.pop(trial.id)
                        self._finish(trial, Status.STOPPED)
                self.store.commit()
                return
            events = self.executor.poll(self._poll_timeout())
            answers: list[tuple[int, Decision]] = []
            error: Exception | None = None
            for event in events:
                if event.trial_id not in self.running:
                    # An executor's slip (a report or an end after the end): nothing stored changes.
                    log.warning("ignored %s for trial %s, which is not running", type(event).__name__, event.trial_id)
                    if isinstance(event, Reported):
                        answers.append((event.trial_id, Decision.STOP))
                elif isinstance(event, Reported):
                    answers.append((event.trial_id, self._on_reported(event)))
                elif isinstance(event, Ended):
                    error = self._on_ended(event) or error
            self.turns += 1
            if self.executor.durable_answers or self.turns % 1000 == 0 or error is not None:
                self.store.commit()
            for trial_id, decision in answers:
                self.executor.reply(trial_id, decision)
            if error is not None:
                raise error
            self._check_budget()
            if self.progress.wants_update():
                self.progress.update(self.status(self.progress.max_running))

    def _add_known(self) -> None:
        """Store the known results not stored yet, as ended trials the searcher learns from."""
        seen = self.metric_seen  # a known value is no proof that the objective reports the metric
        while self.known:
            trial = _Trial(id=self.next_id, config=self.known[0].config, status=Status.TERMINATED)
            self.next_id += 1
            result = known_results.record(
                self.store, self.searcher, trial.id, self.known.pop(0), self.metric, self._now(), self.objectives
            )
            self._record(trial, result)  # it may be the best so far
            self.ended[Status.TERMINATED] += 1
        self.metric_seen = seen

    def _poll_timeout(self) -> float:
        timeout = 0.25
        if self.time_budget_s is not None and not self.out_of_time:
            timeout = min(timeout, max(0.0, self.started + self.time_budget_s - self.clock.now()))
        return timeout

    def _check_budget(self) -> None:
        if not self.out_of_money and self._over_cost_budget():
            self._spent()
        if self.out_of_time or self.time_budget_s is None:
            return
        if self.clock.now() - self.started >= self.time_budget_s:
            self.out_of_time = True
            log.info("time budget of %ss used up; stopping the running trials", self.time_budget_s)
            for trial_id in sorted(self.running):
                self.trials[trial_id].ending = Status.TERMINATED
                self.executor.stop(trial_id)

    def _spent(self) -> None:
        """The cost budget is spent: no trial starts, and the running ones pause where they have a
        checkpoint or have not reported yet (a resume with a larger budget continues them); one that
        reported without a checkpoint ends with what it reported, as the time budget ends trials."""
        self.out_of_money = True
        log.info("cost budget of %s spent (%.4g); pausing the running trials", self.cost_budget, self.total_cost)
        for trial_id in sorted(self.running):
            trial = self.trials[trial_id]
            if trial.ending is not None:  # told already (by the report that spent the last of it)
                continue
            trial.held = trial.checkpoint_iteration is not None or not trial.iteration
            trial.ending = Status.PAUSED if trial.held else Status.TERMINATED
            self.executor.stop(trial_id)

    def _hold_restarts(self) -> None:
        """Trials that were to start again (cut short by a stop or a kill) wait, paused, for more money."""
        for trial_id in self.restarts:
            trial = self.trials[trial_id]
            if not trial.held:
                trial.held, trial.status = True, Status.PAUSED
                self.store.set_status(trial_id, Status.PAUSED, at=self._now(), budget="cost")

    @property
    def total_cost(self) -> float | None:
        """The money spent so far, in every run of the experiment (None: the run has no prices)."""
        return None if self.spending is None else self.spending.total

    # Starting trials.
    def _fill(self) -> None:
        limit = self.executor.capacity
        if self.max_concurrent is not None:
            limit = min(limit, self.max_concurrent)
        while len(self.running) < limit and not (self.out_of_time or self.out_of_money):
            if self.restarts:
                self._launch(self.trials[self.restarts.pop(0)])
                continue
            suggestion = self.scheduler.next_trial(new_allowed=not self.exhausted, paused=_Paused(self.paused))
            if suggestion is None:
                return
            if isinstance(suggestion, Resume):
                self._resume(suggestion)
                continue
            if isinstance(suggestion, Stop):
                trial = self.trials[suggestion.trial_id]
                self.paused.pop(trial.id, None)
                self._finish(trial, Status.STOPPED)
                continue
            if self.exhausted:
                return
            self._start(suggestion)

    def _start(self, suggestion: Start) -> None:
        trial_id = self.next_id
        if suggestion.config is None and self.points:
            config, origin = self.points.pop(0), "point"
            self.searcher.on_given(trial_id, config)
        elif suggestion.config is None:
            proposed = self.searcher.suggest(trial_id)
            if proposed is None:
                self.exhausted = True
                return
            config, origin = proposed, "searcher"
        else:
            config, origin = suggestion.config, "scheduler"
        trial = _Trial(id=trial_id, config=config, parent_id=suggestion.from_trial)
        self.trials[trial_id] = trial
        self.next_id += 1
        self.store.add_trial(trial_id, config, origin, suggestion.from_trial, at=self._now())
        if suggestion.from_trial is not None:
            donor = self.store.latest_checkpoint(suggestion.from_trial)
            if donor is not None:
                # The clone gets its own copy: it must outlive the donor's files.
                self.store.save_checkpoint(trial_id, donor[0], donor[1])
        self.scheduler.on_trial_add(trial)
        if self.callbacks:
            self.callbacks.on_trial_start(trial_id, config)
        self._launch(trial)

    def _resume(self, suggestion: Resume) -> None:
        trial = self.trials[suggestion.trial_id]
        self._launch(trial, self.changes.apply(trial, suggestion))

    def _launch(self, trial: _Trial, change: dict[str, Any] | None = None) -> None:
        checkpoint = self.store.latest_checkpoint(trial.id)
        iteration, time_total, data = 0, 0.0, None
        trial.checkpoint_iteration = None
        if checkpoint is not None:
            iteration, data = checkpoint
            trial.checkpoint_iteration = iteration
            at = self.store.result_at(trial.id, iteration)
            time_total = float(at.get("time_total_s", 0.0)) if at else 0.0
        elif trial.iteration and not self.warned_no_checkpoint:
            self.warned_no_checkpoint = True
            log.warning(
                "trial %d has no checkpoint, so it restarts from the beginning (and so will others like it);"
                " pass checkpoint= to rung.report() to resume where it stopped",
                trial.id,
            )
        trial.status = Status.RUNNING
        trial.ending, trial.held = None, False
        self.paused.pop(trial.id, None)
        # The lowest free slot in O(1), the mask's lowest zero bit (_fill keeps one free for us).
        slot = trial.slot = (~self._slots & (self._slots + 1)).bit_length() - 1
        self._slots |= 1 << slot
        self.store.set_status(trial.id, Status.RUNNING, at=self._now(), slot=slot, **(change or {}))
        self.running.add(trial.id)
        if self.spending is not None:
            self.spending.launched(trial.id, time_total)
        log_path = self.store.log_file(trial.id)
        self.executor.submit(Job(trial.id, trial.config, data, iteration, time_total, log_path, self.metric))

    # Events.
    def _record(self, trial: _Trial, result: dict[str, Any]) -> bool:
        """Update the trial's last and best result; True if the best changed."""
        trial.iteration = int(result["training_iteration"])
        trial.last_result = result
        if self.objectives is not None:
            return self._judge(trial, result, self.objectives)
        if self.metric is None or self.metric not in result:
            return False
        self.metric_seen = True
        value = result[self.metric]
        if not finite(value):
            return False
        if trial.best is None or self._better(value, trial.best[self.metric]):
            trial.best = result
            if self.best is None or self._better(value, self.best.result[self.metric]):
                self.best = TrialRow(trial.id, trial.status, trial.iteration, trial.config, result)
            return True
        return False

    def _judge(self, trial: _Trial, result: dict[str, Any], objectives: Objectives) -> bool:
        """`_record` with several objectives or constraints: the trial's judged result (its best
        feasible one, or with several objectives its last that reports them all) and the best trial
        (by `objectives.score`: none with several objectives unless weighted)."""
        if not all(m in result for m in objectives.metrics):
            return False
        self.metric_seen = True
        if not objectives.judge(trial.best, result):
            return False
        trial.best = result
        score = objectives.score(result)
        if score is not None and (self.best is None or score < self._best_score):
            self.best = TrialRow(trial.id, trial.status, trial.iteration, trial.config, result)
            self._best_score = score
        return True

    def _better(self, a: float, b: float) -> bool:
        return better(a, b, self.mode)

    def _on_reported(self, event: Reported) -> Decision:
        trial = self.trials[event.trial_id]
        if trial.ending is not None:
            # Told to stop or pause, it reported again (it caught rung's TrialInterrupt): its
            # process is ended, as a time budget ends one; the late result is not stored.
            log.warning("trial %d reported after it was told to end; ending its process", trial.id)
            self.executor.stop(trial.id)
            return Decision.STOP
        result = event.result
        self.changes.reported(trial.id)
        if event.checkpoint is not None:
            self.store.save_checkpoint(trial.id, int(result["training_iteration"]), event.checkpoint)
            trial.checkpoint_iteration = int(result["training_iteration"])
        if self.spending is not None:
            self.spending.charge(trial.id, result)  # before anything reads it: stored, learnt, shown
        improved = self._record(trial, result)
        self.store.add_result(trial.id, result, trial.best if improved else None)
        if self.callbacks:
            self.callbacks.on_result(trial.id, trial.config, result)
        self.searcher.observe(trial.id, result)
        answer = self.scheduler.on_result(trial, result)
        decision = self._decide(trial, result, answer)
        if decision is Decision.CONTINUE and self._over_cost_budget() and trial.checkpoint_iteration is not None:
            # This report spent the last of the money and saved a checkpoint: the trial pauses
            # cleanly here (the others are stopped after this turn, see _spent).
            trial.ending, trial.held = Status.PAUSED, True
            decision = Decision.PAUSE
        if decision is Decision.PAUSE and isinstance(answer, Pause):
            self.changes.copy_at_pause(trial, answer.copy_weights_from)  # the donor's weights at the decision
        return decision

    def _over_cost_budget(self) -> bool:
        return self.cost_budget is not None and self.spending is not None and self.spending.total >= self.cost_budget

    def _decide(self, trial: _Trial, result: dict[str, Any], answer: Decision | Pause) -> Decision:
        """Apply `stop=` to the scheduler's decision; note how the trial ends if it does.

        `stop` wins over a pause too (as Ray Tune checks its stopper before the scheduler): a trial
        that reached it is done, not resumed later (nor, under PBT, continued from another's weights).
        """
        decision = Decision.PAUSE if isinstance(answer, Pause) else answer
        if (
            decision in (Decision.CONTINUE, Decision.PAUSE)
            and self.objectives is not None
            and self.objectives.broken_monotone(result) is not None
        ):
            # A monotone constraint broken now stays broken: training on cannot make the trial feasible.
            trial.ending = Status.STOPPED
            return Decision.STOP
        if decision is Decision.COMPLETE or (
            decision in (Decision.CONTINUE, Decision.PAUSE) and self.stop is not None and self.stop(trial.id, result)
        ):
            trial.ending = Status.TERMINATED
            return Decision.STOP
        trial.ending = {Decision.STOP: Status.STOPPED, Decision.PAUSE: Status.PAUSED}.get(decision)
        return decision

    def _on_ended(self, event: Ended) -> Exception | None:
        trial = self.trials[event.trial_id]
        self.running.discard(trial.id)
        if self.spending is not None:
            self.spending.stopped(trial.id)
        slot, trial.slot = trial.slot, None
        if slot is not None:
            self._slots &= ~(1 << slot)
        if event.kind == "abandoned":
            # Told to end, it did not, and its executor cannot end it (a thread): it fails, is never
            # retried (its code still runs), and the store says why.
            trial.error = event.error
            self._finish(trial, Status.ERROR, event.error, slot)
            log.warning("trial %d: %s", trial.id, event.error)
            return None
        if event.kind == "error":
            trial.num_failures += 1
            self.store.set_failures(trial.id, trial.num_failures)
            if trial.num_failures <= self.max_failures and not (self.out_of_time or self.out_of_money):
                log.warning(
                    "trial %d failed (%d of %d retries); restarting it",
                    trial.id,
                    trial.num_failures,
                    self.max_failures,
                )
                trial.status = Status.PENDING
                self.store.set_status(
                    trial.id,
                    Status.PENDING,
                    error=event.error,
                    at=self._now(),
                    slot=slot,
                    retry=trial.num_failures,
                    failed=event.error,
                )
                self.restarts.append(trial.id)
                return None
            trial.error = event.error
            self._finish(trial, Status.ERROR, event.error, slot)
            log.error("trial %d failed:\n%s", trial.id, event.error)
            return None
        status = trial.ending or Status.TERMINATED
        if event.kind == "completed" and status is Status.PAUSED:
            status = Status.TERMINATED  # it ended on its own: nothing left to resume
        if status is Status.PAUSED:
            trial.status = status
            self.paused[trial.id] = trial
            held = {"budget": "cost"} if trial.held else {}  # a resume starts it again (see replay)
            self.store.set_status(trial.id, status, at=self._now(), slot=slot, **held)
            return None
        reverted = self.changes.undo_unused(trial)  # exploited at its last step: nothing came of it
        error: Exception | None = None
        # Only an objective that returned on its own is judged: one stopped by `stop=` or the time
        # budget may not have reached its first report of the metric yet.
        if (
            event.kind == "completed"
            and status is Status.TERMINATED
            and (self.metric is not None or self.objectives is not None)
            and not self.metric_seen
        ):
            keys = [k for k in trial.last_result if k not in AUTO_KEYS]
            said = (
                f"metric {self.metric!r} was"
                if self.objectives is None or not self.objectives.multi
                else (f"metrics {list(self.objectives.metrics)!r} were (all in one result)")
            )
            error = MetricNotReportedError(
                f"{said} never reported; trial {trial.id} reported: {', '.join(keys) if keys else 'nothing'}"
            )
        self._finish(trial, status, slot=slot, **reverted)
        return error

    def _finish(
        self, trial: _Trial, status: Status, error: str | None = None, slot: int | None = None, **info: Any
    ) -> None:
        """End the trial; `slot` is the one it has just left (None: it held none, e.g. paused)."""
        trial.status = status
        self.store.set_status(trial.id, status, error=error, at=self._now(), slot=slot, **info)
        if self.callbacks:
            self.callbacks.on_trial_end(trial.id, status, error)
        self._ended(trial, status)

    def _ended(self, trial: _Trial, status: Status) -> None:
        """Tell the searcher and the scheduler a trial has ended (in a run and in a replay alike),
        then let go of it: it is counted, and `self.best` keeps its row if it is the best."""
        self.searcher.on_complete(trial.id, status, trial.last_result or None)
        if trial.id in self._untold:
            self._untold.discard(trial.id)
        else:
            self.scheduler.on_complete(trial, status)
        self.changes.forget(trial.id)
        if self.spending is not None:
            self.spending.ended(trial.id)
        if self.best is not None and self.best.id == trial.id:
            self.best = TrialRow(trial.id, status, trial.iteration, trial.config, self.best.result)
        # Its result dicts are in the store; a scheduler may still hold the trial (PBT's population).
        trial.last_result, trial.best = {}, None
        del self.trials[trial.id]
        self.ended[status] += 1

    def status_counts(self) -> Counter[Status]:
        """How many trials are in each status, ended ones included."""
        return self.ended + Counter(trial.status for trial in self.trials.values())

    def status(self, running: int = Progress.max_running) -> TuningStatus:
        """The run now, as a live view sees it: counts, the `running` running trials with the lowest
        ids, and the best trial (its status, iteration and config as they are now)."""
        rows = []
        for trial_id in heapq.nsmallest(running, self.running):
            trial = self.trials[trial_id]
            rows.append(TrialRow(trial.id, trial.status, trial.iteration, trial.config, trial.last_result))
        best = self.best
        live = None if best is None else self.trials.get(best.id)
        if best is not None and live is not None:
            best = TrialRow(best.id, live.status, live.iteration, live.config, best.result)
        counts = dict(self.status_counts())
        elapsed = self.clock.now() - self.started
        objectives = () if self.objectives is None else self.objectives.metrics
        return TuningStatus(
            self.metric, self.mode, counts, elapsed, tuple(rows), best, self.plan(), objectives,
            self.total_cost, self.cost_budget,
        )  # fmt: skip

    def plan(self) -> tuple[str, ...]:
        """What the searcher and scheduler say they do (those that say: a `describe()` method)."""
        said = (getattr(part, "describe", None) for part in (self.searcher, self.scheduler))
        return tuple(describe() for describe in said if callable(describe))

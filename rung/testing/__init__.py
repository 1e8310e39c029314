"""Contract suites that every executor, searcher and scheduler of `rung` must pass.

One module per kind: `rung.testing.executors` (EXECUTOR_CHECKS), and the searcher and scheduler
suites next to it. A new plugin passes its kind's suite in the tests.

`rung.testing.crash` checks a whole setup for crash consistency: it kills the driver with SIGKILL at
seeded points, resumes after each kill, and compares the experiment with an uninterrupted run
(`crash.check("module:setup", folder, kills=20)`); use it on your own objective and scheduler too.
"""

__all__ = ["crash", "executors", "schedulers", "searchers"]

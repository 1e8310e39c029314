"""Contract suites that every executor, searcher and scheduler of `rung` must pass.

One module per kind: `rung.testing.executors` (EXECUTOR_CHECKS), and the searcher and scheduler
suites next to it. A new plugin passes its kind's suite in the tests.
"""

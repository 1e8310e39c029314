"""Benchmarks of rung (overhead now; learning-curve comparisons later)."""

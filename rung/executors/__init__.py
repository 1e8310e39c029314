"""Executors: where trials run. Import from the submodules (`base`, `thread`, `process`).

Kept empty so that a worker process (`python -m rung.executors._worker`) imports only what it uses.
"""

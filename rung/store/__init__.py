"""The embedded store: SQLite (WAL) plus checkpoint files under `<storage>/<name>/`."""

from rung.store.schema import list_experiments
from rung.store.sqlite import Store

__all__ = ["Store", "list_experiments"]

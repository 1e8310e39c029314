"""The embedded store: SQLite (WAL) plus checkpoint files under `<storage>/<name>/`."""

from rung.store.sqlite import Store, list_experiments

__all__ = ["Store", "list_experiments"]

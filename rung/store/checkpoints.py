"""Checkpoint files: written atomically (temporary file, then rename), one folder per trial."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["log_file", "read_bytes", "remove", "trial_dir", "write_atomic"]


def trial_dir(root: Path, trial_id: int) -> Path:
    """The folder of one trial's files (checkpoints, log)."""
    return root / "trials" / f"{trial_id:06d}"


def log_file(root: str | Path, trial_id: int) -> str:
    """The file of what the trial printed, in `trial_dir`, as a string (cheaper than a Path)."""
    return os.path.join(root, "trials", f"{trial_id:06d}", "log.txt")


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see either the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def read_bytes(path: Path) -> bytes:
    return path.read_bytes()


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()

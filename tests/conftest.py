from __future__ import annotations

import signal
from pathlib import Path

import pytest

# A shell that starts a job in the background (`.ci/run &` in a script, nohup) hands it SIGINT ignored,
# and processes it starts inherit that: Ctrl-C would then never reach the tests that press it (nor the
# drivers they start). The tests expect Ctrl-C to interrupt, as it does at a terminal.
signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    return tmp_path / "runs"

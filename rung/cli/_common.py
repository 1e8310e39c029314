"""What every `rung` command prints with: a rich console that shows user strings as written, and stderr lines."""

from __future__ import annotations

import sys
from typing import Any

from rung._text import visible


def _console() -> Any:
    """stdout, through rich. Every user string goes in as `safe(...)` Text; markup and emoji codes
    are off as well, so a str that slips through is still printed as written."""
    from rich.console import Console

    return Console(markup=False, emoji=False)


def _err(message: str) -> None:
    """A line on stderr, its control characters shown (it may quote a store's or a user's text)."""
    print(visible(message, multiline=True), file=sys.stderr)


def _fmt(value: Any, spec: str = ".5g") -> str:
    return format(value, spec) if isinstance(value, float) else str(value)

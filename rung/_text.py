"""User strings made safe for a terminal: what rung prints shows them, it never obeys them.

Config values, metric names, error text and experiment names come from users, and from stores
someone may hand you. Printed raw, `[/x]` crashes rich (MarkupError), `[link=...]` becomes a
hyperlink, and escape sequences (ESC, OSC 8 hyperlinks, a clear-screen, a bidi override) act on the
terminal. `visible` turns every control character into its Python escape (`\\x1b`), for `print` and
logging; `safe` gives the same text as a rich `Text`, which rich never parses as markup or emoji
codes, for tables, titles and lines printed through a console.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.text import Text

__all__ = ["LogGuard", "safe", "visible"]

# C0 controls, DEL and C1 controls (C1 0x9b is a CSI and 0x9d an OSC on terminals that take 8-bit
# controls), and the bidirectional overrides and isolates that reorder what a line shows.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROL_KEEPING_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


_SHORT = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _SHORT.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def visible(value: object, *, multiline: bool = False) -> str:
    """`str(value)` with every control character shown as its escape (`\\x1b`, `\\u202e`).

    Args:
        value: any value; its `str()` is shown.
        multiline: keep newlines and tabs (a traceback); else they are shown as `\\n` and `\\t` too.

    Example:
        >>> visible("\\x1b[2Jgone")
        '\\\\x1b[2Jgone'
    """
    pattern = _CONTROL_KEEPING_LINES if multiline else _CONTROL
    return pattern.sub(_escape, str(value))


def safe(value: object, *, multiline: bool = False, style: str = "") -> Text:
    """`visible(value)` as a rich `Text`: printed as written, never read as markup or emoji codes.

    Args:
        value: any value; its `str()` is shown.
        multiline: keep newlines and tabs (a traceback).
        style: a rich style for the whole text (ours, not the user's).

    Example:
        >>> console.print(safe(trial.error, multiline=True))  # doctest: +SKIP
    """
    from rich.text import Text

    return Text(visible(value, multiline=multiline), style=style)


class LogGuard(logging.Filter):
    """Makes the control characters of a `rung` log record visible (a failed trial's traceback, a
    path a browser asked the dashboard for), so a log line on a terminal cannot act on it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        shown = visible(message, multiline=True)
        if shown != message:
            record.msg, record.args = shown, None
        if record.exc_info and not record.exc_text:
            # Formatted now, as a Formatter would, so the exception's text is shown alike.
            record.exc_text = visible(logging.Formatter().formatException(record.exc_info), multiline=True)
        return True

    @classmethod
    def install(cls, logger: logging.Logger) -> None:
        """Add the guard to `logger` once (each module that logs to the terminal asks for it)."""
        if not any(isinstance(f, cls) for f in logger.filters):
            logger.addFilter(cls())

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import rung
from rung._text import LogGuard, safe, visible

HOSTILE = ["[/x]", "[link=http://evil]x[/link]", "\x1b]8;;http://evil\x07", "\x1b[2J"]
"""A closing tag rich cannot match (MarkupError), a hyperlink in markup, an OSC 8 hyperlink, a clear-screen."""


def test_visible_shows_every_control_character_as_its_escape() -> None:
    assert visible("\x1b]8;;http://evil\x07") == "\\x1b]8;;http://evil\\x07"
    assert visible("a\x00b\x7fc\x9bd\u202ee\u2066") == "a\\x00b\\x7fc\\x9bd\\u202ee\\u2066"
    assert visible("one\ntwo\tthree\r") == "one\\ntwo\\tthree\\r"
    assert visible("one\ntwo\tthree\r", multiline=True) == "one\ntwo\tthree\\r"
    assert visible("naïve ✓ 👍‍🔥 [/x]") == "naïve ✓ 👍‍🔥 [/x]"  # printable text (a ZWJ emoji too) is kept
    assert visible(3.5) == "3.5"


def test_safe_text_is_printed_as_written() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200)  # markup and emoji on, as a caller's may be
    for text in [*HOSTILE, ":thumbs_up: trailing\\"]:
        console.print(safe(text))
    printed = out.getvalue()
    assert "[/x]" in printed and "[link=http://evil]x[/link]" in printed and ":thumbs_up: trailing\\\n" in printed
    assert "\\x1b]8;;http://evil\\x07" in printed and "\\x1b[2J" in printed
    assert "\x1b]8" not in printed and "\x1b[2J" not in printed and "\x07" not in printed


def test_log_guard_shows_control_characters_of_messages_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("rung.test_text")
    LogGuard.install(logger)
    LogGuard.install(logger)
    assert sum(isinstance(f, LogGuard) for f in logger.filters) == 1
    with caplog.at_level(logging.INFO, logger="rung.test_text"):
        logger.info("asked for %s", "/\x1b[2J")
        try:
            raise ValueError("\x1b]8;;http://evil\x07")
        except ValueError:
            logger.exception("failed:\n%s", "second line")
    first, second = caplog.records
    assert first.getMessage() == "asked for /\\x1b[2J"
    assert second.getMessage() == "failed:\nsecond line"
    assert "ValueError: \\x1b]8;;http://evil\\x07" in caplog.text and "\x1b" not in caplog.text


def test_a_failed_trials_logged_traceback_shows_escapes(storage: Path, caplog: pytest.LogCaptureFixture) -> None:
    def fail(config: dict[str, Any]) -> None:
        raise RuntimeError(" ".join(HOSTILE))

    with caplog.at_level(logging.ERROR, logger="rung"):
        rung.run(fail, {}, executor="thread", name="fails", storage=storage, verbose=0)
    [record] = [r for r in caplog.records if r.getMessage().startswith("trial 1 failed")]
    assert "RuntimeError: [/x] [link=http://evil]x[/link] \\x1b]8;;http://evil\\x07 \\x1b[2J" in record.getMessage()
    assert "\x1b" not in caplog.text and "\x07" not in caplog.text

"""`rung dashboard`: serve the read-only web view of the experiments in the storage folder."""

from __future__ import annotations

import argparse

from rung._text import visible
from rung.cli._common import _err


def cmd_dashboard(args: argparse.Namespace) -> int:
    from rung.dashboard.server import serve

    try:
        serve(
            args.storage,
            args.host,
            args.port,
            ready=lambda url: print(visible(f"rung dashboard: {url} (Ctrl-C to stop)")),
        )
    except OSError as exc:
        _err(f"error: cannot serve on {args.host}:{args.port}: {exc.strerror or exc}; choose another --port")
        return 2
    return 0

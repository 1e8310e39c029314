"""A read-only web view of a store: `rung dashboard`, or `rung.dashboard.server.serve(storage)`."""

from __future__ import annotations

from rung.dashboard.server import make_server, serve

__all__ = ["make_server", "serve"]

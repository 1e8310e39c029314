"""`rung dashboard`: a read-only web view of a store, served by the standard library.

Routes: `/` (experiments), `/e/<name>` (one experiment), `/api/experiments`,
`/api/experiments/<name>` (the experiment page's overview: `rung.store.overview`),
`/api/experiments/<name>/trials?offset=&limit=&sort=&order=&q=` (a page of its trials table:
`rung.store.paging`), `/api/experiments/<name>/timeline` (its worker timeline, asked apart so that
the page draws before it), `/static/<file>`. Pages are static HTML + JS that poll the JSON API, so
they update while another process writes the store. User strings reach the page only as JSON data
that the script inserts with `textContent`; a Content-Security-Policy forbids inline scripts too.
At most `max_connections` requests are served at once (one thread each); a connection that finds
them all busy waits a moment for one, then gets 503; a connection idle for `timeout` seconds is closed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import mimetypes
import re
import socket
import threading
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from rung._text import LogGuard, visible
from rung.dashboard.reader import Reader
from rung.store.paging import PageQuery

__all__ = ["make_server", "serve"]

log = logging.getLogger("rung")
LogGuard.install(log)  # paths a browser asks for are logged: their escape sequences must not reach a terminal

STATIC = Path(__file__).with_name("static")
_LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_CONNECTIONS = 32
"""Requests served at once (threads), by default: a browser opens about 6 per server."""
_HOST = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9.-]+))(?::[0-9]{1,5})?")
_CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:"


def host_name(header: str) -> str | None:
    """The host of a `Host` header (`name`, `name:port`, `[v6]` or `[v6]:port`), lowercased, or None if
    the header is anything else: `evil.com\\@127.0.0.1`, which a URL parser reads as 127.0.0.1, is None.

    Example:
        >>> host_name("[::1]:8765"), host_name("LOCALHOST"), host_name(r"evil.com\\@127.0.0.1")
        ('::1', 'localhost', None)
    """
    match = _HOST.fullmatch(header)
    if match is None:
        return None
    return (match["v6"] or match["name"]).lower()


class _Server(ThreadingHTTPServer):
    """A thread per request, at most `max_connections` at once."""

    daemon_threads = True
    request_queue_size = 64  # connections beyond the cap wait in the kernel's queue (5 by default)
    connection_wait_s = 1.0
    """How long a connection that finds every slot busy waits for one before it gets 503."""

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], max_connections: int) -> None:
        super().__init__(address, handler)
        self.max_connections = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)

    def process_request(self, request: Any, client_address: Any) -> None:
        # The accepting thread waits here: connections beyond the cap wait in the listen queue, not
        # in threads of their own.
        if not self._slots.acquire(timeout=self.connection_wait_s):
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def server_close(self) -> None:
        super().server_close()
        reader = getattr(self.RequestHandlerClass, "reader", None)
        if isinstance(reader, Reader):
            reader.close()  # its private copies of the databases go

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _refuse(self, request: socket.socket) -> None:
        body = json.dumps({"error": f"the dashboard is serving {self.max_connections} requests already; try again"})
        head = (
            "HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        try:
            # What the client sent already is read first: closing a socket with unread data resets the
            # connection, and the client could lose the answer.
            request.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                request.recv(1 << 16)
            request.setblocking(True)
            request.settimeout(1.0)
            request.sendall((head + body).encode())
        except OSError:
            pass
        finally:
            self.shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    reader: Reader
    server_version = "rung-dashboard"
    timeout = 30.0  # an idle connection gives its thread back after this many seconds

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("dashboard: " + format, *args)

    loopback = True
    _head_only = False

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", _CSP)
        self.end_headers()
        if not self._head_only:
            self.wfile.write(body)

    def _json(self, code: int, data: Any) -> None:
        # default=repr: a config value the store kept as an object (a class, an instance) shows as text.
        self._send(code, json.dumps(data, allow_nan=False, default=repr).encode(), "application/json")

    def _host_allowed(self) -> bool:
        """On loopback, only requests addressed to loopback names: a page elsewhere that rebinds its
        own domain name to 127.0.0.1 (DNS rebinding) sends its own name as Host, and is refused."""
        if not self.loopback:
            return True
        host = host_name(self.headers.get("Host", ""))
        bound = self.server.server_address[0]  # type: ignore[index]
        return host is not None and (host in _LOOPBACK_NAMES or host == str(bound))

    def _refuse_method(self) -> None:
        self.send_response(405)
        self.send_header("Allow", "GET, HEAD")
        body = json.dumps({"error": f"{self.command} is not allowed: the dashboard only reads"}).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse_method

    def do_HEAD(self) -> None:
        self._head_only = True
        try:
            self.do_GET()
        finally:
            self._head_only = False

    def do_GET(self) -> None:
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        if not self._host_allowed():
            self._json(403, {"error": "this dashboard answers requests addressed to 127.0.0.1 or localhost only"})
            return
        try:
            if path == "/" or path.startswith("/e/"):
                self._send(200, (STATIC / "index.html").read_bytes(), "text/html; charset=utf-8")
            elif path == "/api/experiments":
                self._json(200, self.reader.experiments())
            elif path.startswith("/api/experiments/") and path.endswith("/trials"):
                name = path[len("/api/experiments/") : -len("/trials")]
                try:
                    query = PageQuery.parse(
                        urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query, keep_blank_values=True)
                    )
                except ValueError as exc:
                    self._json(400, {"error": str(exc)})
                    return
                try:
                    self._json(200, self.reader.trials(name, query))
                except FileNotFoundError:
                    self._json(404, {"error": f"no experiment {name!r}"})
            elif path.startswith("/api/experiments/") and path.endswith("/timeline"):
                name = path[len("/api/experiments/") : -len("/timeline")]
                try:
                    self._json(200, self.reader.timeline(name))
                except FileNotFoundError:
                    self._json(404, {"error": f"no experiment {name!r}"})
            elif path.startswith("/api/experiments/"):
                name = path[len("/api/experiments/") :]
                try:
                    self._json(200, self.reader.experiment(name))
                except FileNotFoundError:
                    self._json(404, {"error": f"no experiment {name!r}"})
            elif path.startswith("/static/"):
                try:
                    file = (STATIC / path[len("/static/") :]).resolve()
                    found = file.parent == STATIC.resolve() and file.is_file()
                except (OSError, ValueError):  # a name too long, a NUL byte: no such file
                    found = False
                if not found:
                    self._json(404, {"error": "not found"})
                    return
                kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
                self._send(200, file.read_bytes(), kind)
            else:
                self._json(404, {"error": "not found"})
        except ConnectionError:  # the browser left (a reload, a closed tab)
            return
        except Exception as exc:  # a store mid-write or damaged: report it, keep serving
            log.warning("dashboard: %s failed: %s", visible(path), exc)
            self._json(500, {"error": str(exc)})


def make_server(
    storage: str | Path, host: str = "127.0.0.1", port: int = 8765, max_connections: int = MAX_CONNECTIONS
) -> ThreadingHTTPServer:
    """A dashboard server over `storage`, bound but not yet serving (port 0 picks a free port).

    At most `max_connections` requests are served at once, each by its own thread.

    Example:
        >>> server = make_server("rung-runs", port=0)  # doctest: +SKIP
        >>> threading.Thread(target=server.serve_forever, daemon=True).start()  # doctest: +SKIP
    """
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"dashboard port must be an integer in 0..65535; got port={port!r}")
    if isinstance(max_connections, bool) or not isinstance(max_connections, int) or max_connections < 1:
        raise ValueError(f"dashboard max_connections must be an integer >= 1; got max_connections={max_connections!r}")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        log.warning(
            "the dashboard listens on %s, not loopback: anyone who can reach this machine can read the experiments",
            host,
        )
    handler = type("Handler", (_Handler,), {"reader": Reader(storage), "loopback": loopback})
    return _Server((host, port), handler, max_connections)


def serve(
    storage: str | Path = "rung-runs",
    host: str = "127.0.0.1",
    port: int = 8765,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the dashboard until interrupted (what `rung dashboard` runs).

    Args:
        storage: the folder of experiments.
        host: the address to bind (a non-loopback one logs a warning).
        port: the port (0: any free one).
        ready: called with the dashboard's URL once it listens (the CLI prints it).
    """
    server = make_server(storage, host, port)
    url = f"http://{host}:{server.server_port}/"
    log.info("rung dashboard on %s over %s", url, storage)
    try:
        if ready is not None:
            ready(url)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def start_background(storage: str | Path, host: str = "127.0.0.1", port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Start a server in a daemon thread; return it and its base URL (for tests and notebooks)."""
    server = make_server(storage, host, port)
    threading.Thread(target=server.serve_forever, name="rung-dashboard", daemon=True).start()
    return server, f"http://{host}:{server.server_port}"

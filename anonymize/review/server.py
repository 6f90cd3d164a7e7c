"""The review page's HTTP server: 127.0.0.1 only, one random token, a fixed set of routes.

The footage under review may show people who must not be identified, so the server trusts
nothing but the page it served itself:

- it listens on 127.0.0.1, never on another interface;
- every request carries the run's token (``?token=`` or the ``X-Review-Token`` header),
  made by ``secrets`` per run and compared in constant time; there is no cookie, so another
  page on this machine (any port: cookies ignore ports) cannot borrow a session;
- a request whose Host is not this server (DNS rebinding), or whose Origin or
  Sec-Fetch-Site says it comes from another page, is refused; POST bodies must be JSON,
  which a cross-origin form cannot send without a preflight this server never allows;
- URLs are matched against fixed routes: no path from a request ever reaches the file
  system, so there is nothing to traverse and no directory to list;
- the page loads nothing from anywhere else (Content-Security-Policy 'self').
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import socket
import sys
import threading
import webbrowser
from collections.abc import Callable
from dataclasses import asdict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from anonymize.api import Anonymizer, Progress
from anonymize.config import Settings
from anonymize.media import MediaError
from anonymize.review.session import OutputExists, ReviewError, ReviewSession

__all__ = ["HOST", "ReviewServer", "serve"]

HOST = "127.0.0.1"
_MAX_BODY = 1 << 20
_MAX_DEPTH = 16  # the page's requests nest 4 deep; more is an attack on the parser
# A client that goes away mid-answer (a closed tab, a skipped frame) is not an error.
_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)
_STATIC = {  # route -> (packaged file, content type); the only files the server can send
    "/static/review.js": ("review.js", "text/javascript; charset=utf-8"),
    "/static/review.css": ("review.css", "text/css; charset=utf-8"),
    "/static/icon.svg": ("icon.svg", "image/svg+xml"),
}
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_FRAME = re.compile(r"/api/frame/(\d{1,9})\.jpg")
_THUMB = re.compile(r"/api/thumb/(\d{1,9})\.jpg")
_TRACK = re.compile(r"/api/track/(\d{1,9})")
_MANUAL = re.compile(r"/api/manual/(m[0-9a-f]{1,32})(/keyframe|/delete)")


class ReviewServer(ThreadingHTTPServer):
    """Serves one ``ReviewSession`` on 127.0.0.1 (``port`` 0 picks a free one)."""

    # server_close waits for every request thread: one still decoding or encoding a frame
    # (PyAV, OpenCV) when the interpreter exits is killed inside C++ and aborts the process.
    daemon_threads = False
    allow_reuse_address = False  # never share the port with another listener

    def __init__(self, session: ReviewSession, port: int = 0):
        self.session = session
        self.token = secrets.token_urlsafe(32)
        self._open: set[socket.socket] = set()  # connections, kept alive between requests
        self._open_lock = threading.Lock()
        super().__init__((HOST, port), _Handler)
        self.port = self.server_address[1]
        self.origins = {f"http://{HOST}:{self.port}", f"http://localhost:{self.port}"}

    @property
    def url(self) -> str:
        """The page's address, token included: the only way in."""
        return f"http://{HOST}:{self.port}/?token={self.token}"

    def handle_error(self, request: object, client_address: object) -> None:
        """Stay quiet when a client disconnected early; anything else is a bug to show."""
        if isinstance(sys.exc_info()[1], _GONE):
            return
        super().handle_error(request, client_address)

    def process_request(self, request: socket.socket, client_address: object) -> None:
        """Keep the connection in ``_open`` while it lasts, for ``server_close``."""
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: socket.socket) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        """Hang up on every connection (a browser keeps some open, idle) and wait for the
        requests in flight to end."""
        with self._open_lock:
            for request in self._open:
                with contextlib.suppress(OSError):  # already hung up by the browser
                    request.shutdown(socket.SHUT_RDWR)
        super().server_close()

    def start(self) -> threading.Thread:
        """Serve in a background thread (for tests and embedding); stop with ``shutdown``."""
        thread = threading.Thread(target=self.serve_forever, name="review-server", daemon=True)
        thread.start()
        return thread


def serve(
    src: Path,
    settings: Settings,
    port: int = 0,
    open_browser: bool = True,
    announce: Callable[[str], None] = print,
    progress: Progress | None = None,
    anonymizer: Anonymizer | None = None,
) -> None:
    """Review ``src`` until interrupted: load or detect its regions, serve the page, tell
    ``announce`` the URL (and open it in a browser unless ``open_browser`` is off)."""
    session = ReviewSession(src, settings, anonymizer, progress)
    try:
        server = ReviewServer(session, port)
    except BaseException:
        session.close()
        raise
    with server:
        try:
            announce(server.url)
            if open_browser:  # Ctrl+C may come while the browser starts: stop as cleanly
                webbrowser.open(server.url)
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            try:
                server.server_close()  # first: no request may use the session after close
            finally:
                session.close()


class _Refused(Exception):
    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status


class _Handler(BaseHTTPRequestHandler):
    server: ReviewServer
    server_version = "anonymize-review"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: URLs carry the token, and the terminal is for the user."""

    def do_GET(self) -> None:
        self._handle(self._get)

    def do_POST(self) -> None:
        self._handle(self._post)

    def _unsupported(self) -> None:
        self._handle(self._not_allowed)

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = do_TRACE = do_CONNECT = _unsupported

    def _not_allowed(self, path: str, query: dict) -> None:
        raise _Refused(HTTPStatus.METHOD_NOT_ALLOWED, "method not allowed")

    def _handle(self, route: Callable[[str, dict], None]) -> None:
        try:
            path, query = self._checked()
            route(path, query)
        except _GONE:
            self.close_connection = True  # nobody is left to answer
        except _Refused as refused:
            self._send_json({"error": str(refused)}, refused.status)
        except OutputExists as err:
            self._send_json({"error": str(err)}, HTTPStatus.CONFLICT)
        except ReviewError as err:
            self._send_json({"error": str(err)}, HTTPStatus.BAD_REQUEST)
        except KeyError:
            self._send_json({"error": "not found"}, HTTPStatus.NOT_FOUND)
        except MediaError as err:
            self._send_json({"error": str(err)}, HTTPStatus.INTERNAL_SERVER_ERROR)
        except Exception as err:  # the page shows the cause; the server keeps running
            message = f"internal error: {type(err).__name__}: {err}"
            self._send_json({"error": message}, HTTPStatus.INTERNAL_SERVER_ERROR)

    def _checked(self) -> tuple[str, dict]:
        """The request's path and query once it has proved it comes from our page."""
        if self.headers.get("Host") not in {o.removeprefix("http://") for o in self.server.origins}:
            raise _Refused(HTTPStatus.FORBIDDEN, "wrong Host")
        origin = self.headers.get("Origin")
        if origin is not None and origin not in self.server.origins:
            raise _Refused(HTTPStatus.FORBIDDEN, "cross-origin requests are refused")
        if self.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            raise _Refused(HTTPStatus.FORBIDDEN, "cross-site requests are refused")
        if not self.path.startswith("/") or self.path.startswith("//"):
            raise _Refused(HTTPStatus.NOT_FOUND, "not found")
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        token = self.headers.get("X-Review-Token") or (query.get("token") or [""])[0]
        if not secrets.compare_digest(token.encode(), self.server.token.encode()):
            raise _Refused(HTTPStatus.FORBIDDEN, "missing or wrong token")
        return parts.path, query

    # -- routes -------------------------------------------------------------------------

    def _get(self, path: str, query: dict) -> None:
        session = self.server.session
        flag = _flag(query)
        if path == "/":
            self._send(_page(self.server.token), "text/html; charset=utf-8")
        elif path in _STATIC:
            name, kind = _STATIC[path]
            self._send(_asset(name), kind)
        elif path == "/api/info":
            self._send_json(session.info())
        elif path == "/api/regions":
            self._send(session.regions_json(), "application/json")
        elif path == "/api/status":
            self._send_json(asdict(session.status()))
        elif match := _FRAME.fullmatch(path):
            self._send(session.frame_jpeg(int(match[1]), obscured=flag("obscured")), "image/jpeg")
        elif match := _THUMB.fullmatch(path):
            self._send(session.thumbnail_jpeg(int(match[1]), reveal=flag("reveal")), "image/jpeg")
        else:
            raise _Refused(HTTPStatus.NOT_FOUND, "not found")

    def _post(self, path: str, query: dict) -> None:
        session = self.server.session
        body = self._json_body()
        if match := _TRACK.fullmatch(path):
            session.set_keep(int(match[1]), _field(body, "keep"))
            self._send(session.regions_json(), "application/json")
        elif path == "/api/manual":
            new_id = session.add_manual(body)
            self._send_json({"id": new_id, "regions": json.loads(session.regions_json())})
        elif match := _MANUAL.fullmatch(path):
            if match[2] == "/delete":
                session.delete_manual(match[1])
            else:
                session.add_keyframe(match[1], body)
            self._send(session.regions_json(), "application/json")
        elif path == "/api/render":
            overwrite = _field(body, "overwrite", default=False)
            session.start_render(overwrite=overwrite is True)
            self._send_json(asdict(session.status()), HTTPStatus.ACCEPTED)
        else:
            raise _Refused(HTTPStatus.NOT_FOUND, "not found")

    # -- plumbing -----------------------------------------------------------------------

    def _json_body(self) -> object:
        kind = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise _Refused(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send JSON (application/json)")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise _Refused(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required") from None
        if not 0 <= length <= _MAX_BODY:
            raise _Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request too large")
        try:
            value = json.loads(self.rfile.read(length) or b"{}")
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ReviewError("the request is not valid JSON") from None
        except RecursionError:
            raise ReviewError("the request's JSON is nested too deeply") from None
        if _depth(value) > _MAX_DEPTH:
            raise ReviewError("the request's JSON is nested too deeply")
        return value

    def _send_json(self, value: object, status: HTTPStatus = HTTPStatus.OK) -> None:
        self._send(json.dumps(value).encode(), "application/json", status)

    def _send(self, body: bytes, kind: str, status: HTTPStatus = HTTPStatus.OK) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in _SECURITY_HEADERS.items():
            self.send_header(name, value)
        if status >= 400:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)


def _depth(value: object) -> int:
    """How deeply ``value``'s lists and objects nest, found without recursion (a deep value
    would exhaust the stack of anything that recurses over it, validation included)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth)
            todo.extend((child, depth + 1) for child in item)
    return deepest


def _flag(query: dict) -> Callable[[str], bool]:
    return lambda name: (query.get(name) or ["0"])[0] == "1"


def _field(body: object, name: str, default: object = None) -> object:
    if not isinstance(body, dict):
        raise ReviewError("the request must be a JSON object")
    if name not in body and default is None:
        raise ReviewError(f"the request needs {name!r}")
    return body.get(name, default)


def _asset(name: str) -> bytes:
    return resources.files("anonymize.review").joinpath("static", name).read_bytes()


def _page(token: str) -> bytes:
    # The token is URL-safe base64, so it needs no escaping inside an attribute.
    return _asset("index.html").replace(b"{{TOKEN}}", token.encode())

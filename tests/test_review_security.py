"""The review server trusts only its own page: 127.0.0.1, the run's token, same origin, fixed
routes. Every request here is made with raw HTTP, the way a hostile local page or process
could make it, and every refusal is checked for leaking nothing."""

from __future__ import annotations

import http.client
import json
import socket
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from anonymize.api import Anonymizer
from anonymize.config import Settings
from anonymize.review import ReviewServer, ReviewSession
from anonymize.types import Box, Detection

WIDTH, HEIGHT, FRAMES = 96, 64, 6


class FixedDetector:
    """Finds one 'face' in the same place in every frame: enough to make a track."""

    name = "fixed"
    labels = ("face",)

    def detect(self, frame: np.ndarray) -> list[Detection]:
        return [Detection(Box(20, 10, 50, 40), 0.9, "face", self.name)]


def make_clip(path: Path, frames: int = FRAMES, options: dict | None = None) -> Path:
    """A tiny H.264 clip whose frames differ, so a wrong frame is visible in the pixels."""
    with av.open(str(path), "w") as out:
        options = {"crf": "10", "preset": "ultrafast", **(options or {})}
        stream = out.add_stream("libx264", rate=10, options=options)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for index in range(frames):
            image = np.full((HEIGHT, WIDTH, 3), 40 + 30 * (index % 6), np.uint8)
            image[:, : 8 * (index % 12 + 1)] = 230
            image[index % HEIGHT, :] = 0  # every frame differs, however many there are
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = index, Fraction(1, 10)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def open_session(tmp_path: Path) -> ReviewSession:
    clip = make_clip(tmp_path / "clip.mp4")
    return ReviewSession(clip, Settings(), Anonymizer(Settings(), detectors=[FixedDetector()]))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """One server for the module: every test leaves the regions file as it found it."""
    session = open_session(tmp_path_factory.mktemp("review"))
    server = ReviewServer(session)
    server.start()
    yield server
    server.shutdown()
    server.server_close()
    session.close()


def request(
    server: ReviewServer,
    method: str,
    target: str,
    body: bytes | None = None,
    headers: dict | None = None,
    token: str | None = "valid",
) -> tuple[int, bytes]:
    """Send ``target`` exactly as written (no normalisation), with the token unless told."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        sent = {"Host": f"127.0.0.1:{server.port}"}
        if token == "valid":
            sent["X-Review-Token"] = server.token
        elif token is not None:
            sent["X-Review-Token"] = token
        sent.update(headers or {})
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for name, value in sent.items():
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def post_json(server: ReviewServer, target: str, value: object, **kw) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
    return request(server, "POST", target, json.dumps(value).encode(), headers, **kw)


ROUTES = [
    "/",
    "/static/review.js",
    "/static/review.css",
    "/static/icon.svg",
    "/api/info",
    "/api/regions",
    "/api/status",
    "/api/frame/0.jpg",
    "/api/thumb/1.jpg",
]


def test_every_route_works_with_the_token(server: ReviewServer) -> None:
    for route in ROUTES:
        status, body = request(server, "GET", route)
        assert status == 200, (route, body[:200])
    status, page = request(server, "GET", f"/?token={server.token}", token=None)
    assert status == 200 and server.token.encode() in page


@pytest.mark.parametrize("token", [None, "", "wrong", "x" * 43])
def test_missing_or_wrong_token_is_refused(server: ReviewServer, token: str | None) -> None:
    for route in ROUTES:
        status, body = request(server, "GET", route, token=token)
        assert status == 403, route
        assert b"<html" not in body and b"\xff\xd8" not in body and b"frames" not in body
    status, _ = request(server, "GET", "/?token=wrong", token=None)
    assert status == 403
    status, _ = post_json(server, "/api/track/1", {"keep": True}, token=token)
    assert status == 403
    assert json.loads(server.session.regions_json())["tracks"][0]["keep"] is False


def test_the_token_is_random_per_run(tmp_path: Path) -> None:
    session = open_session(tmp_path)
    try:
        tokens = set()
        for _ in range(3):
            with ReviewServer(session) as server:
                tokens.add(server.token)
                assert len(server.token) >= 40 and server.token in server.url
        assert len(tokens) == 3
    finally:
        session.close()


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "http://127.0.0.1:1"},  # another local port is another origin
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # a page on another port of 127.0.0.1
        {"Host": "evil.example"},  # DNS rebinding: the name resolves here, the Host says not
    ],
)
def test_cross_origin_requests_are_refused(server: ReviewServer, headers: dict) -> None:
    status, _ = post_json(server, "/api/track/1", {"keep": True}, headers=headers)
    assert status == 403
    status, _ = post_json(server, "/api/render", {}, headers=headers)
    assert status == 403
    status, _ = request(server, "GET", "/api/regions", headers=headers)
    assert status == 403
    assert json.loads(server.session.regions_json())["tracks"][0]["keep"] is False
    assert server.session.status().state == "idle"
    assert not server.session.output_path.exists()


def test_same_origin_post_is_accepted(server: ReviewServer) -> None:
    headers = {"Origin": f"http://127.0.0.1:{server.port}", "Sec-Fetch-Site": "same-origin"}
    status, body = post_json(server, "/api/track/1", {"keep": True}, headers=headers)
    assert status == 200, body
    assert json.loads(server.session.regions_json())["tracks"][0]["keep"] is True
    status, _ = post_json(server, "/api/track/1", {"keep": False}, headers=headers)
    assert status == 200


def test_posts_must_be_json(server: ReviewServer) -> None:
    # A cross-origin HTML form can only send form encodings or text/plain.
    for kind in ("application/x-www-form-urlencoded", "text/plain", "multipart/form-data"):
        status, _ = request(
            server, "POST", "/api/track/1", b'{"keep": true}', {"Content-Type": kind}
        )
        assert status == 415
    status, _ = request(server, "POST", "/api/track/1", b"{", {"Content-Type": "application/json"})
    assert status == 400
    assert json.loads(server.session.regions_json())["tracks"][0]["keep"] is False


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"])
def test_other_methods_are_refused(server: ReviewServer, method: str) -> None:
    status, _ = request(server, method, "/api/regions")
    assert status == 405


TRAVERSALS = [
    "/../../../../etc/passwd",
    "/static/../../../../etc/passwd",
    "/static/../session.py",
    "/static/..%2f..%2fserver.py",
    "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/%2E%2E%2Fserver.py",
    "/static/review.js/../../server.py",
    "/static/..\\server.py",
    "/etc/passwd",
    "//etc/passwd",
    "/static//etc/passwd",
    "http://127.0.0.1/etc/passwd",
    "/api/frame/../../../etc/passwd",
    "/api/frame/-1.jpg",
    "/api/frame/1e3.jpg",
    "/api/frame/99999.jpg",
    "/api/thumb/..%2f..%2fetc%2fpasswd.jpg",
    "/clip.mp4",
    "/clip.mp4.regions.json",
    "/static/",
    "/static",
    "/api/",
    "/static/index.html%00.js",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_no_file_outside_the_fixed_routes(server: ReviewServer, target: str) -> None:
    status, body = request(server, "GET", target)
    assert status in (403, 404), (target, status)
    source = (Path(__file__).parents[1] / "anonymize" / "review" / "server.py").read_bytes()
    for secret in (b"root:", source[:200], b"anonymize-regions", b"\x00\x00\x00", b"<li"):
        assert secret not in body, target
    # ... and not with the token in the query either
    joiner = "&" if "?" in target else "?"
    status, _ = request(server, "GET", f"{target}{joiner}token={server.token}", token=None)
    assert status in (403, 404), (target, status)


def test_bound_to_loopback_only(server: ReviewServer) -> None:
    assert server.server_address[0] == "127.0.0.1"
    assert server.url.startswith(f"http://127.0.0.1:{server.port}/")
    other = _non_loopback_address()
    if other is None:
        return  # no other interface to try on this machine; the bound address is checked above
    with pytest.raises(OSError), socket.create_connection((other, server.port), timeout=2):
        pass


def _non_loopback_address() -> str | None:
    """This machine's address on its default route, if it has one (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: routing only, nothing is sent
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def test_big_bodies_are_refused_before_they_are_read(server: ReviewServer) -> None:
    headers = {"Content-Type": "application/json", "Content-Length": str(2 << 20)}
    status, _ = request(server, "POST", "/api/manual", None, headers)
    assert status == 413


def test_deeply_nested_json_is_a_bad_request_not_a_crash(server: ReviewServer) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000  # beyond the parser's recursion limit
    nested = json.dumps({"label": "area", "keyframes": [[[[[[[[[[[[[[[[[[[0]]]]]]]]]]]]]]]]]]]})
    for body in (deep, nested.encode()):
        status, answer = request(
            server, "POST", "/api/manual", body, {"Content-Type": "application/json"}
        )
        assert status == 400, answer[:200]
        assert json.loads(answer) == {"error": "the request's JSON is nested too deeply"}
    assert request(server, "GET", "/api/info")[0] == 200  # and the server goes on


def test_a_client_that_hangs_up_early_leaves_no_traceback(server: ReviewServer, capfd) -> None:
    for _ in range(20):
        client = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        client.sendall(
            f"GET /api/frame/0.jpg?obscured=1&token={server.token} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{server.port}\r\n\r\n".encode()
        )
        # Close with a reset, as a browser does when a tab goes: the answer has nowhere to go.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
    assert request(server, "GET", "/api/info")[0] == 200  # served after every hang-up
    assert "Traceback" not in capfd.readouterr().err

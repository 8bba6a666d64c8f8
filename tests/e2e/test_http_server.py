"""HTTP/1.1 server end to end: `demux_http` + `serve_http` in a real pipework process, talked to by
curl, httpx and raw sockets — the fast path (a sync and an async handler), the general path (a
longer sub-pipeline), a streamed response, pipelining, keep-alive, 100-continue, every limit and
request smuggling vector."""

from __future__ import annotations

import hashlib
import importlib
import json
import select
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import httptools
import pytest
from helpers import REQUIRE_ALL, Pipework, free_port, get_small, require, run_script, serve_listeners

TIMEOUT = 5.0

SCRIPT = """\
import asyncio
import hashlib

import pipework as pw

PATTERN = bytes(range(256))
BLOCK = PATTERN * 128  # 32 KiB


def handle(req, ctx):
    path = req.path
    if path == "/hello":
        return "hello"
    if path == "/echo":
        return {{
            "method": req.method,
            "target": req.target,
            "query": req.query,
            "ctype": req.headers.get("content-type"),
            "size": len(req.body),
            "sha256": hashlib.sha256(req.body).hexdigest(),
        }}
    if path == "/json":
        doc = req.json()
        doc["seen"] = True
        return doc
    if path == "/conn":
        return pw.Response(str(ctx.id), headers={{"x-conn": str(ctx.id)}})
    if path.startswith("/status/"):
        return int(path[8:])
    if path.startswith("/bytes/"):
        n = int(path[7:])
        return pw.Response((PATTERN * (n // 256 + 1))[:n], content_type="application/octet-stream")
    if path.startswith(("/slow", "/fast")):
        return path
    if path == "/boom":
        raise RuntimeError("a handler that fails")
    return None


async def ahandle(req, ctx):
    if req.path.startswith("/slow"):
        await asyncio.sleep(float(req.query.get("s", ["0.3"])[0]))
    else:
        await asyncio.sleep(0)
    return handle(req, ctx)


def stream_start(evt):
    n = int(evt.head.query_params().get("n", ["0"])[0])
    head = pw.ResponseHead(200, "OK", raw_headers=[(b"content-type", b"application/octet-stream")])
    return [pw.MessageStart(head)] + [pw.Data(BLOCK)] * n


async def stream_end(evt):
    await asyncio.sleep(0.02)  # the rest of the body comes later, from another task
    return [pw.Data(BLOCK)] * 4 + [pw.MessageEnd()]


LIMITS = dict(max_uri=256, max_header_bytes=1024, max_headers=16, max_body=4096)

pw.listen("127.0.0.1:{sync}", lambda p: p.demux_http().to(lambda p: p.serve_http(handle)))
pw.listen("127.0.0.1:{async_}", lambda p: p.demux_http().to(lambda p: p.serve_http(ahandle)))
pw.listen("127.0.0.1:{long}", lambda p: p.demux_http().to(
    lambda p: p.handle_message_start(lambda evt: None).serve_http(ahandle)))
pw.listen("127.0.0.1:{long_sync}", lambda p: p.demux_http().to(
    lambda p: p.handle_message_start(lambda evt: None).serve_http(handle)))
pw.listen("127.0.0.1:{stream}", lambda p: p.demux_http().to(
    lambda p: p.replace_data(None).replace_message_start(stream_start).replace_message_end(stream_end)))
pw.listen("127.0.0.1:{limits}", lambda p: p.demux_http(**LIMITS).to(lambda p: p.serve_http(handle)))
pw.listen("127.0.0.1:{limits_long}", lambda p: p.demux_http(**LIMITS).to(
    lambda p: p.handle_message_start(lambda evt: None).serve_http(ahandle)))
"""

PATTERN = bytes(range(256))
BLOCK = PATTERN * 128
LISTENERS = ["sync", "async_", "long", "long_sync", "stream", "limits", "limits_long"]
KINDS = ["sync", "async_", "long", "long_sync"]  # the fast path (two), the general path (two)
ASYNC_KINDS = ["async_", "long"]


def require_module(name: str) -> ModuleType:
    """Import a Python peer; skip without it (fail under PIPEWORK_REQUIRE_ALL=1)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        msg = f"{name} is not installed (.venv/bin/pip install {name})"
        if REQUIRE_ALL:
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture(scope="module")
def ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    yield from serve_listeners(tmp_path_factory.mktemp("http"), SCRIPT, LISTENERS)


def url(port: int, path: str) -> str:
    return f"http://127.0.0.1:{port}{path}"


# -- a raw-socket client with an independent response parser (llhttp's) ---------------------------
@dataclass
class Resp:
    status: int = 0
    fields: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        for k, v in self.fields:
            if k == name.encode():
                return v.decode("latin-1")
        return None


class Reader:
    """Splits the bytes a server sends into responses (none of them to HEAD)."""

    def __init__(self) -> None:
        self.done: list[Resp] = []
        self.cur = Resp()
        self.parser = httptools.HttpResponseParser(self)

    def on_message_begin(self) -> None:
        self.cur = Resp()

    def on_header(self, name: bytes, value: bytes) -> None:
        self.cur.fields.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.cur.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.cur.body += body

    def on_message_complete(self) -> None:
        self.done.append(self.cur)


class Raw:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.reader = Reader()
        self.raw = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv_until(self, n: int) -> list[Resp]:
        """Read until ``n`` responses are complete in all; fail on EOF before."""
        while len(self.reader.done) < n:
            data = self.sock.recv(1 << 16)
            assert data, f"closed after {len(self.reader.done)} of {n} responses: {self.raw[-300:]!r}"
            self.raw += data
            self.reader.parser.feed_data(data)
        return self.reader.done

    def assert_closed(self) -> None:
        """The server closes: EOF, with no byte more."""
        assert self.sock.recv(1 << 16) == b""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Raw:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def get(path: str, *fields: str, version: str = "1.1") -> bytes:
    return (
        f"GET {path} HTTP/{version}\r\nHost: t\r\n" + "".join(f + "\r\n" for f in fields) + "\r\n"
    ).encode()


def post(path: str, body: bytes, *fields: str) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n"
    return (head + "".join(f + "\r\n" for f in fields) + "\r\n").encode() + body


def curl(*args: str, timeout: float = 10) -> subprocess.CompletedProcess[bytes]:
    r = subprocess.run(
        [require("curl"), "-sS", "--max-time", str(timeout), *args],
        capture_output=True,
        timeout=timeout + 5,
        check=False,
    )
    assert r.returncode == 0, r.stderr.decode()
    return r


# -- real clients -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_curl_get_post_head_json(ports: SimpleNamespace, kind: str, tmp_path: Path) -> None:
    port = getattr(ports, kind)
    r = curl("-i", url(port, "/hello"))
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\ncontent-length: 5" in head.lower()
    assert b"\r\ndate: " in head.lower()
    assert body == b"hello"

    doc = json.loads(curl("-d", "a=1&b=two", url(port, "/echo?x=y&x=z")).stdout)
    assert doc["method"] == "POST"
    assert doc["query"] == {"x": ["y", "z"]}
    assert doc["ctype"] == "application/x-www-form-urlencoded"
    assert doc["size"] == 9

    r = curl("-I", url(port, "/bytes/1000"))
    assert r.stdout.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"content-length: 1000\r\n" in r.stdout.lower()

    payload = {"k": [1, 2, {"nested": "caf\u00e9"}]}
    r = curl("-H", "content-type: application/json", "--data-binary", json.dumps(payload), url(port, "/json"))
    assert json.loads(r.stdout) == {**payload, "seen": True}

    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * 4000)
    doc = json.loads(curl("--data-binary", f"@{big}", "-H", "Expect:", url(port, "/echo")).stdout)
    assert doc["size"] == 1_024_000
    assert doc["sha256"] == hashlib.sha256(big.read_bytes()).hexdigest()

    r = curl("-o", "/dev/null", "-w", "%{http_code}\n", url(port, "/missing"), url(port, "/status/204"))
    assert r.stdout.split() == [b"404", b"204"]


@pytest.mark.parametrize("kind", KINDS)
def test_curl_reuses_the_connection(ports: SimpleNamespace, kind: str) -> None:
    port = getattr(ports, kind)
    r = curl(
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-w",
        "%{num_connects} ",
        url(port, "/hello"),
        url(port, "/bytes/70000"),
        url(port, "/echo"),
    )
    assert r.stdout.split() == [b"1", b"0", b"0"]


@pytest.mark.parametrize("kind", KINDS)
def test_httpx(ports: SimpleNamespace, kind: str) -> None:
    httpx: Any = require_module("httpx")
    port = getattr(ports, kind)
    with httpx.Client(base_url=url(port, ""), timeout=TIMEOUT) as client:
        r = client.get("/hello")
        assert (r.status_code, r.text, r.http_version) == (200, "hello", "HTTP/1.1")
        assert r.headers["content-type"] == "text/plain; charset=utf-8"
        body = bytes(range(256)) * 400
        doc = client.post("/echo", content=body, params={"q": "a b"}).json()
        assert doc["size"] == len(body)
        assert doc["sha256"] == hashlib.sha256(body).hexdigest()
        assert doc["query"] == {"q": ["a b"]}
        assert client.post("/json", json={"x": None, "y": [1.5]}).json() == {
            "x": None,
            "y": [1.5],
            "seen": True,
        }
        r = client.head("/bytes/4096")
        assert (r.status_code, r.headers["content-length"], r.content) == (200, "4096", b"")
        r = client.get("/bytes/200000")
        assert r.content == (PATTERN * 800)[:200000]
        assert client.get("/nothing-here").status_code == 404
        assert client.delete("/status/204").status_code == 204
        r = client.get("/boom")  # a failing handler: 500 for that request, the connection goes on
        assert r.status_code == 500
        assert client.get("/hello").text == "hello"


@pytest.mark.parametrize("kind", KINDS)
def test_keep_alive_serves_many_requests_on_one_connection(ports: SimpleNamespace, kind: str) -> None:
    httpx: Any = require_module("httpx")
    port = getattr(ports, kind)
    limits = httpx.Limits(max_connections=1)
    with httpx.Client(base_url=url(port, ""), timeout=TIMEOUT, limits=limits) as client:
        seen = {client.get("/conn").headers["x-conn"] for _ in range(40)}
        seen |= {client.post("/conn", content=b"x" * 100).headers["x-conn"] for _ in range(10)}
    assert len(seen) == 1


# -- pipelining -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_pipelined_requests_are_answered_in_order(ports: SimpleNamespace, kind: str) -> None:
    port = getattr(ports, kind)
    reqs = []
    for i in range(30):
        if i % 3 == 0:
            reqs.append(get(f"/slow{i}?s=0.{(30 - i) % 4}"))
        elif i % 3 == 1:
            reqs.append(post("/echo", b"b" * i))
        else:
            reqs.append(get(f"/fast{i}"))
    reqs.append(get("/fast-last", "Connection: close"))
    with Raw(port) as c:
        c.send(b"".join(reqs))
        got = c.recv_until(len(reqs))
        c.assert_closed()
    assert all(r.status == 200 for r in got)
    for i, r in enumerate(got[:-1]):
        if i % 3 == 1:
            assert json.loads(r.body)["size"] == i
        else:
            assert r.body.decode() == f"/{'slow' if i % 3 == 0 else 'fast'}{i}"
    assert got[-1].body == b"/fast-last"
    assert got[-1].header("connection") == "close"
    assert all(r.header("connection") is None for r in got[:-1])


@pytest.mark.parametrize("kind", ASYNC_KINDS)
def test_a_slow_answer_holds_back_the_fast_ones_behind_it(ports: SimpleNamespace, kind: str) -> None:
    port = getattr(ports, kind)
    with Raw(port) as c:
        t0 = time.monotonic()
        c.send(get("/slow-a?s=0.4") + get("/fast-b") + get("/slow-c?s=0.35") + get("/fast-d"))
        got = c.recv_until(4)
        elapsed = time.monotonic() - t0
    assert [r.body for r in got] == [b"/slow-a", b"/fast-b", b"/slow-c", b"/fast-d"]
    assert elapsed < 0.65, "the requests were answered one after another (0.75 s), not concurrently"


@pytest.mark.parametrize("kind", KINDS)
def test_more_pipelined_requests_than_may_wait(ports: SimpleNamespace, kind: str) -> None:
    """Past 64 unanswered requests the connection stops being read, and reads again as they are
    answered: all 200 come back, in order."""
    reqs = [get(f"/slow{i}?s=0.05") if i % 2 else get(f"/fast{i}") for i in range(199)]
    with Raw(getattr(ports, kind)) as c:
        c.send(b"".join(reqs) + get("/fast-last", "Connection: close"))
        got = c.recv_until(200)
        c.assert_closed()
    assert [r.body for r in got[:-1]] == [f"/{'slow' if i % 2 else 'fast'}{i}".encode() for i in range(199)]


def test_under_the_plain_asyncio_loop(tmp_path: Path) -> None:
    """The same server under asyncio's own loop (the module's server runs on uvloop when present)."""
    mine = {n: free_port() for n in LISTENERS}
    script = tmp_path / "server.py"
    script.write_text(SCRIPT.format(**mine))
    p = Pipework("run", "--loop", "asyncio", str(script))
    try:
        p.wait_log("listening on tcp", count=len(LISTENERS))
        for kind in ("sync", "long"):
            with Raw(mine[kind]) as c:
                c.send(get("/slow?s=0.1") + post("/echo", b"abc") + get("/fast", "Connection: close"))
                got = c.recv_until(3)
                c.assert_closed()
            assert [r.status for r in got] == [200, 200, 200]
            assert (got[0].body, json.loads(got[1].body)["size"], got[2].body) == (b"/slow", 3, b"/fast")
        with Raw(mine["limits_long"]) as c:
            c.send(REFUSED["body-by-chunks"][0])
            assert c.recv_until(1)[0].status == 413
            c.assert_closed()
        with Raw(mine["stream"]) as c:
            c.send(get("/s?n=3", "Connection: close"))
            assert c.recv_until(1)[0].body == BLOCK * 7
            c.assert_closed()
    finally:
        p.cleanup()


@pytest.mark.parametrize("kind", [*KINDS, "stream"])
def test_head_sends_the_head_only(ports: SimpleNamespace, kind: str) -> None:
    target = "/s?n=2" if kind == "stream" else "/bytes/1000"
    with socket.create_connection(("127.0.0.1", getattr(ports, kind)), timeout=TIMEOUT) as s:
        s.sendall(f"HEAD {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(1 << 16):
            data += chunk
    head, sep, rest = data.partition(b"\r\n\r\n")
    assert (sep, rest) == (b"\r\n\r\n", b"")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    if kind == "stream":
        assert b"\r\ntransfer-encoding: chunked" in head
    else:
        assert b"\r\ncontent-length: 1000\r\n" in head + b"\r\n"


# -- connection management --------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_connection_close_and_http10(ports: SimpleNamespace, kind: str) -> None:
    port = getattr(ports, kind)
    for request in (get("/hello", "Connection: close"), get("/hello", version="1.0")):
        with Raw(port) as c:
            c.send(request)
            (r,) = c.recv_until(1)
            assert (r.status, r.body, r.header("connection")) == (200, b"hello", "close")
            c.assert_closed()
    with Raw(port) as c:  # HTTP/1.0 that asks for keep-alive keeps the connection
        for i in range(3):
            c.send(get("/hello", "Connection: keep-alive", version="1.0"))
            r = c.recv_until(i + 1)[-1]
            assert (r.status, r.body) == (200, b"hello")
            assert r.header("connection") is None
        c.send(get("/hello", version="1.0"))
        assert c.recv_until(4)[-1].header("connection") == "close"
        c.assert_closed()


@pytest.mark.parametrize("kind", KINDS)
def test_bytes_after_a_closing_request_are_not_read(ports: SimpleNamespace, kind: str) -> None:
    port = getattr(ports, kind)
    with Raw(port) as c:
        c.send(get("/hello", "Connection: close") + b"GET /ignored HTTP/1.1\r\nHost : smuggled\r\n\r\n")
        got = c.recv_until(1)
        c.assert_closed()
    assert len(got) == 1
    assert got[0].body == b"hello"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /chat HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x80",
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01",
    ],
    ids=["upgrade", "connect"],
)
def test_upgrade_and_connect_are_answered_then_closed(
    ports: SimpleNamespace, kind: str, request_bytes: bytes
) -> None:
    """A handler that does not switch protocols answers as for any other request, and the
    connection ends (the bytes after the head are not HTTP)."""
    with Raw(getattr(ports, kind)) as c:
        c.send(request_bytes)
        (r,) = c.recv_until(1)
        assert r.header("connection") == "close"
        c.assert_closed()


# -- 100-continue -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_expect_100_continue_with_curl(ports: SimpleNamespace, kind: str, tmp_path: Path) -> None:
    body = tmp_path / "body.bin"
    body.write_bytes(b"c" * 3000)
    t0 = time.monotonic()
    # curl waits for the 100 up to --expect100-timeout before it sends the body anyway
    r = curl(
        "-v",
        "--expect100-timeout",
        "10",
        "-H",
        "Expect: 100-continue",
        "--data-binary",
        f"@{body}",
        url(getattr(ports, kind), "/echo"),
    )
    assert time.monotonic() - t0 < 3
    assert b"HTTP/1.1 100 Continue" in r.stderr
    assert json.loads(r.stdout)["size"] == 3000


@pytest.mark.parametrize("kind", KINDS)
def test_expect_100_continue_comes_before_the_body_is_sent(ports: SimpleNamespace, kind: str) -> None:
    with Raw(getattr(ports, kind)) as c:
        c.send(b"PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        assert c.sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        c.send(b"hello")
        (r,) = c.recv_until(1)
        assert json.loads(r.body)["size"] == 5


# -- a streamed response ----------------------------------------------------------------------------
def test_streamed_response_arrives_chunked_and_intact(ports: SimpleNamespace, tmp_path: Path) -> None:
    expected = BLOCK * (30 + 4)  # 30 blocks with the head, 4 more from another task later
    with Raw(ports.stream) as c:
        c.send(get("/s?n=30") + get("/s?n=0") + get("/s?n=1", "Connection: close"))
        got = c.recv_until(3)
        c.assert_closed()
        assert b"\r\ntransfer-encoding: chunked\r\n" in c.raw
    assert [r.body for r in got] == [expected, BLOCK * 4, BLOCK * 5]
    for r in got:
        assert r.header("transfer-encoding") == "chunked"
        assert r.header("content-length") is None

    out = tmp_path / "out.bin"
    curl("-o", str(out), url(ports.stream, "/s?n=30"))
    assert out.read_bytes() == expected

    httpx: Any = require_module("httpx")
    with httpx.Client(timeout=TIMEOUT) as client:
        r = client.get(url(ports.stream, "/s?n=30"))
        assert r.headers["transfer-encoding"] == "chunked"
        assert r.content == expected
        r = client.head(url(ports.stream, "/s?n=30"))
        assert (r.status_code, r.content) == (200, b"")
        assert client.get(url(ports.stream, "/s?n=2")).content == BLOCK * 6  # the connection goes on


# -- limits and smuggling: the exact status, then the server closes -----------------------------------
H = "Host: t\r\n"
REFUSED: dict[str, tuple[bytes, int]] = {
    "uri-too-long": (f"GET /{'u' * 300} HTTP/1.1\r\n{H}\r\n".encode(), 414),
    "header-bytes": (
        f"GET / HTTP/1.1\r\n{H}".encode()
        + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 90) for i in range(12))
        + b"\r\n",
        431,
    ),
    "one-long-header": (f"GET / HTTP/1.1\r\n{H}Cookie: ".encode() + b"c" * 5000 + b"\r\n\r\n", 431),
    "header-count": (f"GET / HTTP/1.1\r\n{H}".encode() + b"X: y\r\n" * 20 + b"\r\n", 431),
    "body-by-content-length": (f"POST / HTTP/1.1\r\n{H}Content-Length: 4097\r\n\r\n".encode(), 413),
    "body-by-chunks": (
        f"POST /echo HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\n".encode()
        + (b"400\r\n" + b"b" * 1024 + b"\r\n") * 5
        + b"0\r\n\r\n",
        413,
    ),
    "cl-and-te": (
        f"POST /echo HTTP/1.1\r\n{H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        .encode(),
        400,
    ),
    "two-content-lengths": (
        f"POST /echo HTTP/1.1\r\n{H}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd".encode(),
        400,
    ),
    "obs-fold": (f"GET / HTTP/1.1\r\n{H}X-Folded: a\r\n b\r\n\r\n".encode(), 400),
    "bare-lf": (b"GET / HTTP/1.1\nHost: t\n\n", 400),
    "invalid-chunk-size": (
        f"POST /echo HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\nzz\r\n".encode(),
        400,
    ),
    "negative-content-length": (f"POST /echo HTTP/1.1\r\n{H}Content-Length: -5\r\n\r\n".encode(), 400),
    "garbage-content-length": (f"POST /echo HTTP/1.1\r\n{H}Content-Length: 5a\r\n\r\nhello".encode(), 400),
    "space-before-colon": (b"GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400),
    "nul-in-header": (f"GET / HTTP/1.1\r\n{H}X: a\x00b\r\n\r\n".encode(), 400),
    "te-not-chunked": (
        f"POST /echo HTTP/1.1\r\n{H}Transfer-Encoding: gzip, identity\r\n\r\nabc".encode(),
        400,
    ),
}


@pytest.mark.parametrize("kind", ["limits", "limits_long"])
@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_request_gets_its_status_and_the_connection_closes(
    ports: SimpleNamespace, kind: str, case: str
) -> None:
    wire, status = REFUSED[case]
    with Raw(getattr(ports, kind)) as c:
        c.send(wire)
        (r,) = c.recv_until(1)
        assert r.status == status, r
        assert r.header("connection") == "close"
        c.assert_closed()


@pytest.mark.parametrize("kind", ["limits", "limits_long"])
@pytest.mark.parametrize("case", ["cl-and-te", "body-by-chunks", "header-count"])
def test_refusal_after_good_pipelined_requests(ports: SimpleNamespace, kind: str, case: str) -> None:
    wire, status = REFUSED[case]
    with Raw(getattr(ports, kind)) as c:
        c.send(get("/slow?s=0.1") + post("/echo", b"abc") + wire + get("/never"))
        got = c.recv_until(3)
        c.assert_closed()
    assert [r.status for r in got] == [200, 200, status]
    assert got[0].body == b"/slow"
    assert got[2].header("connection") == "close"


@pytest.mark.parametrize("kind", ["limits", "limits_long"])
def test_a_header_line_that_never_ends(ports: SimpleNamespace, kind: str) -> None:
    """Sent piece by piece, it is refused once past the limit, without waiting for its end."""
    with Raw(getattr(ports, kind)) as c:
        c.send(f"GET / HTTP/1.1\r\n{H}Cookie: ".encode())
        for _ in range(50):
            c.send(b"c" * 200)
            if select.select([c.sock], [], [], 0.02)[0]:
                break
        (r,) = c.recv_until(1)
        assert r.status == 431
        c.assert_closed()


@pytest.mark.parametrize("kind", ["limits", "limits_long"])
def test_a_body_refused_halfway_sent_in_pieces(ports: SimpleNamespace, kind: str) -> None:
    """The head was taken and the request started; the body then passes the limit."""
    with Raw(getattr(ports, kind)) as c:
        c.send(f"POST /echo HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\n".encode())
        for _ in range(3):
            c.send(b"400\r\n" + b"b" * 1024 + b"\r\n")
            time.sleep(0.02)
        c.send(b"800\r\n" + b"b" * 2048 + b"\r\n")
        (r,) = c.recv_until(1)
        assert r.status == 413
        c.assert_closed()


@pytest.mark.parametrize("kind", ["limits", "limits_long"])
def test_limits_let_requests_at_the_limit_through(ports: SimpleNamespace, kind: str) -> None:
    with Raw(getattr(ports, kind)) as c:
        c.send(post("/echo", b"x" * 4096) + get("/" + "u" * 254) + get("/hello", *["X: y"] * 15))
        got = c.recv_until(3)
    assert [r.status for r in got] == [200, 404, 200]
    assert json.loads(got[0].body)["size"] == 4096


def serve_a_file(pipework: Any, tmp_path: Path, demux: str = "", listen: str = "") -> int:
    """A pipework process serving ``/a.txt`` (one byte, ``a``) with these extra arguments to
    demux_http() and listen(); its port."""
    (tmp_path / "a.txt").write_text("a")
    port = free_port()
    run_script(
        pipework,
        tmp_path / "site.py",
        "import pipework as pw\n"
        f"files = pw.pipeline(lambda q: q.serve_files({str(tmp_path)!r}))\n"
        f"site = pw.pipeline(lambda p: p.demux_http({demux}).to(files))\n"
        f"pw.listen('127.0.0.1:{port}', site, {listen})\n",
    )
    return port


def test_an_idle_keep_alive_connection_is_closed(pipework: Any, tmp_path: Path) -> None:
    """A kept-alive connection quiet for the listener's idle timeout is closed (demux_http's own
    default is 75 s, too long to wait for here: tests/unit/core/test_script.py checks it)."""
    port = serve_a_file(pipework, tmp_path, listen="idle_timeout=0.5")
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        for _ in range(2):  # requests in between keep it open
            assert get_small(s, "/a.txt", b"a").startswith(b"HTTP/1.1 200 ")
            time.sleep(0.3)
        t0 = time.monotonic()
        assert s.recv(1) == b""
        assert 0.1 < time.monotonic() - t0 < 3


def test_a_request_head_that_trickles_in_gets_408(pipework: Any, tmp_path: Path) -> None:
    """header_timeout counts from the first byte of a head: a head sent in pieces within it is
    served; one still unfinished after it gets 408 and the connection closes."""
    port = serve_a_file(pipework, tmp_path, demux="header_timeout=0.5")
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.sendall(b"GET /a.txt HTTP/1.1\r\n")
        time.sleep(0.2)
        s.sendall(b"Host: x\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 200 ")
        s.sendall(b"GET /a.txt HTTP/1.1\r\nHo")  # and no more
        t0 = time.monotonic()
        got = b""
        while chunk := s.recv(4096):
            got += chunk
        assert got.startswith(b"HTTP/1.1 408 "), got
        assert b"connection: close" in got.lower()
        assert 0.3 < time.monotonic() - t0 < 3

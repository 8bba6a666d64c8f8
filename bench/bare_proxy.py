"""A bare uvloop + httptools HTTP/1.1 reverse proxy: the ceiling for a reverse proxy in Python.

``bench/http_proxy.py`` runs it beside ``pipework reverse-proxy``, nginx and HAProxy, so the
figures show how far pipework's engine is from what uvloop and llhttp alone can do. Usage:
``bare_proxy.py LISTEN_PORT BACKEND_PORT`` (the backend on 127.0.0.1).

Theory of operation: each client request is parsed whole with httptools, its hop-by-hop headers
dropped, and written to an idle kept-alive connection to the backend (a new one when none is idle).
The response is parsed whole with ``HttpResponseParser`` and sent to the client with its
Content-Length; the upstream connection then goes back to the idle pool, which keeps at most
POOL_IDLE connections, like nginx's ``keepalive 64``. One request per client connection is in
flight at a time; pipelined ones wait in order. A failed or closed upstream gets the client a 502.
What it leaves out, to stay a ceiling: timeouts, flow control, retries, X-Forwarded-* and Via,
1xx and Upgrade, HEAD (the response parser would wait for a body), and 204/304 (answered with a
Content-Length of 0).
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque

import httptools
import uvloop

POOL_IDLE = 64  # idle upstream connections kept; more are closed when returned (nginx: keepalive 64)
# dropped from both directions; content-length is rewritten for the whole body
HOP_BY_HOP = frozenset(
    b"connection keep-alive proxy-connection te trailer transfer-encoding upgrade content-length".split()
)
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
BAD_GATEWAY = b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
IDLE: list[Upstream] = []
TASKS: set[asyncio.Task[object]] = set()  # connection attempts in progress: referenced, not collected


def message(start: bytes, headers: list[bytes], body: bytes, extra: bytes = b"") -> bytes:
    """A whole HTTP/1.1 message: start line, the kept headers, extra, Content-Length and body."""
    return b"%s\r\n%s%scontent-length: %d\r\n\r\n%s" % (start, b"".join(headers), extra, len(body), body)


class Gather(asyncio.Protocol):
    """llhttp callbacks both sides share: a message's fields (minus hop-by-hop) and body."""

    headers: list[bytes]
    body: list[bytes]

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() not in HOP_BY_HOP:
            self.headers.append(b"%s: %s\r\n" % (name, value))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)


class Upstream(Gather):
    """One connection to the backend, lent to one client request at a time."""

    def __init__(self, client: Client, request: bytes) -> None:
        self.client: Client | None = client
        self.pending = request  # written once connected
        self.t: asyncio.Transport | None = None
        self.p = httptools.HttpResponseParser(self)
        self.reason = b""
        self.headers: list[bytes] = []
        self.body: list[bytes] = []

    def connection_made(self, t: asyncio.BaseTransport) -> None:
        self.t = t  # type: ignore[assignment]
        self.t.write(self.pending)  # type: ignore[union-attr]

    def connected(self, task: asyncio.Task[object]) -> None:
        TASKS.discard(task)
        if (task.cancelled() or task.exception() is not None) and self.client is not None:
            self.client.respond(BAD_GATEWAY, close=True)
            self.client = None

    def send(self, client: Client, request: bytes) -> None:
        self.client = client
        self.t.write(request)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        try:
            self.p.feed_data(data)
        except httptools.HttpParserError:
            self.t.close()  # type: ignore[union-attr]  # connection_lost answers 502

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_message_complete(self) -> None:
        client, self.client = self.client, None
        start = b"HTTP/1.1 %d %s" % (self.p.get_status_code(), self.reason)
        close = b"" if client is None or client.keep_alive else b"connection: close\r\n"
        response = message(start, self.headers, b"".join(self.body), close)
        self.reason, self.headers, self.body = b"", [], []
        if self.p.should_keep_alive() and len(IDLE) < POOL_IDLE:
            IDLE.append(self)
        else:
            self.t.close()  # type: ignore[union-attr]
        if client is not None:
            client.respond(response)

    def connection_lost(self, exc: Exception | None) -> None:
        if self in IDLE:
            IDLE.remove(self)
        if self.client is not None:
            self.client.respond(BAD_GATEWAY, close=True)
            self.client = None


class Client(Gather):
    """One client connection: requests parsed whole, answered one at a time, in order."""

    def connection_made(self, t: asyncio.BaseTransport) -> None:
        self.t: asyncio.Transport = t  # type: ignore[assignment]
        self.p = httptools.HttpRequestParser(self)
        self.queue: deque[tuple[bytes, bool]] = deque()  # (request, keep-alive) waiting their turn
        self.busy = False
        self.keep_alive = True

    def data_received(self, data: bytes) -> None:
        try:
            self.p.feed_data(data)
        except httptools.HttpParserError:
            self.t.write(BAD_REQUEST)
            self.t.close()

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers: list[bytes] = []
        self.body: list[bytes] = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_message_complete(self) -> None:
        start = b"%s %s HTTP/1.1" % (self.p.get_method(), self.url)
        self.queue.append((message(start, self.headers, b"".join(self.body)), self.p.should_keep_alive()))
        if not self.busy:
            self.forward()

    def forward(self) -> None:
        """Send the next waiting request on an idle upstream connection, or on a new one."""
        request, self.keep_alive = self.queue.popleft()
        self.busy = True
        while IDLE:
            up = IDLE.pop()  # the most recently used: its socket is warm
            if not up.t.is_closing():  # type: ignore[union-attr]
                up.send(self, request)
                return
        up = Upstream(self, request)
        task = LOOP.create_task(LOOP.create_connection(lambda: up, "127.0.0.1", BACKEND))
        TASKS.add(task)
        task.add_done_callback(up.connected)

    def respond(self, response: bytes, close: bool = False) -> None:
        """Write one response; then close, or forward the next waiting request."""
        self.busy = False
        if self.t.is_closing():
            return
        self.t.write(response)
        if close or not self.keep_alive:
            self.t.close()
        elif self.queue:
            self.forward()

    def connection_lost(self, exc: Exception | None) -> None:
        self.queue.clear()


LOOP = uvloop.new_event_loop()
BACKEND = int(sys.argv[2]) if len(sys.argv) > 2 else 0

if __name__ == "__main__":
    LOOP.run_until_complete(LOOP.create_server(Client, "127.0.0.1", int(sys.argv[1]), backlog=4096))
    LOOP.run_forever()

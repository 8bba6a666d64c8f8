"""A bare uvloop + httptools HTTP server answering one file from memory: the ceiling for Python.

``bench/http_static.py`` runs it beside ``pipework serve`` and nginx, so the figures show how far
pipework's engine is from what uvloop and llhttp alone can do. Usage:
``bare_http.py PORT FILE [--fields]`` — every request is answered with FILE's contents.

With ``--fields`` it also takes the request target and header fields from llhttp (the callbacks
any server needs to look at a request: Host, conditionals, Range, Accept-Encoding) and answers
only once it has them, doing nothing else with them: the floor for a server that reads requests.
"""

from __future__ import annotations

import asyncio
import sys
from email.utils import formatdate

import httptools
import uvloop

BODY = b""
HEAD = b""
DATE = b""  # the Date line, made once a second as any real server does, not per request


class Server(asyncio.Protocol):
    def connection_made(self, t: asyncio.BaseTransport) -> None:
        self.t: asyncio.Transport = t  # type: ignore[assignment]
        self.p = httptools.HttpRequestParser(self)

    def data_received(self, data: bytes) -> None:
        self.p.feed_data(data)

    def on_message_complete(self) -> None:
        self.t.write(HEAD + DATE + BODY)


class FieldsServer(Server):
    """Server, taking the target, the fields, the method and keep-alive as they are parsed."""

    def connection_made(self, t: asyncio.BaseTransport) -> None:
        super().connection_made(t)
        self.url = b""
        self.fields: list[tuple[bytes, bytes]] = []

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.fields.append((name, value))

    def on_headers_complete(self) -> None:
        p = self.p
        self.head = (p.get_method(), self.url, self.fields, p.should_keep_alive())
        self.fields = []


def tick(loop: asyncio.AbstractEventLoop) -> None:
    global DATE
    DATE = b"date: " + formatdate(usegmt=True).encode() + b"\r\n\r\n"
    loop.call_later(1.0, tick, loop)


def main() -> None:
    global BODY, HEAD
    with open(sys.argv[2], "rb") as f:
        BODY = f.read()
    HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: %d\r\n" % len(BODY)
    loop = uvloop.new_event_loop()
    tick(loop)
    protocol = FieldsServer if "--fields" in sys.argv[3:] else Server
    loop.run_until_complete(loop.create_server(protocol, "127.0.0.1", int(sys.argv[1])))
    loop.run_forever()


if __name__ == "__main__":
    main()

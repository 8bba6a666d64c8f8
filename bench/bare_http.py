"""A bare uvloop + httptools HTTP server answering one file from memory: the ceiling for Python.

``bench/run.py`` runs it beside ``pipework serve`` and nginx, so the figures show how far
pipework's engine is from what uvloop and llhttp alone can do. Usage:
``bare_http.py PORT FILE`` — every request is answered with FILE's contents.
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
    loop.run_until_complete(loop.create_server(Server, "127.0.0.1", int(sys.argv[1])))
    loop.run_forever()


if __name__ == "__main__":
    main()

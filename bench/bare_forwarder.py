"""A bare uvloop TCP forwarder with no engine: the floor for what a Python proxy can cost.

``bench/run.py --only bare`` runs it beside pipework, so the figures show how much pipework's
engine adds on top of uvloop itself. Usage: ``bare_forwarder.py LISTEN_PORT BACKEND_PORT``.
"""

from __future__ import annotations

import asyncio
import sys

import uvloop


class Up(asyncio.Protocol):
    def __init__(self, down: Down) -> None:
        self.down = down
        self.t: asyncio.Transport | None = None

    def connection_made(self, t: asyncio.BaseTransport) -> None:
        self.t = t  # type: ignore[assignment]
        if self.down.pending:
            self.t.write(b"".join(self.down.pending))  # type: ignore[union-attr]
            self.down.pending = []

    def data_received(self, data: bytes) -> None:
        self.down.t.write(data)

    def eof_received(self) -> None:
        self.down.t.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.down.t.close()


class Down(asyncio.Protocol):
    tasks: set[asyncio.Task[object]] = set()

    def connection_made(self, t: asyncio.BaseTransport) -> None:
        self.t: asyncio.Transport = t  # type: ignore[assignment]
        self.pending: list[bytes] = []
        self.up = Up(self)
        task = LOOP.create_task(LOOP.create_connection(lambda: self.up, "127.0.0.1", BACKEND))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def data_received(self, data: bytes) -> None:
        if self.up.t is None:
            self.pending.append(data)
        else:
            self.up.t.write(data)

    def eof_received(self) -> bool:
        if self.up.t is not None:
            self.up.t.write_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if self.up.t is not None:
            self.up.t.close()


LOOP = uvloop.new_event_loop()
BACKEND = int(sys.argv[2])

if __name__ == "__main__":
    LOOP.run_until_complete(LOOP.create_server(Down, "127.0.0.1", int(sys.argv[1])))
    LOOP.run_forever()

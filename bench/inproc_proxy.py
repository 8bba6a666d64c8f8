"""In one process: pipework's reverse proxy between a load generator and a backend, for A/B work.

Theory of operation: the machine this project is measured on is shared and noisy, and wrk plus
nginx plus the server under test need three processes on two cores. To compare two versions of
the proxy's hot path, this runs everything in one uvloop process pinned to one core: a backend
answering every request with a fixed 1 KiB response (the head nginx sends), pipework's
``reverse-proxy`` program (``demux_http().to(proxy(...))``) in front of it, and ``--connections``
clients, each sending a GET and waiting for the whole response before the next. The process CPU
time (``time.process_time``) per request is reported for the whole loop, and again with the
clients talking to the backend directly: the difference is what the proxy costs per request.

Usage: bench/inproc_proxy.py [--seconds S] [--connections N] [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import sys
import time
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipework.apps import reverse_proxy
from pipework.core.runtime import Worker
from pipework.core.script import run_declarations

BODY = os.urandom(1024)
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 26 Nov 2026 04:03:15 GMT\r\n"
    b"Content-Type: application/octet-stream\r\nContent-Length: 1024\r\n"
    b"Last-Modified: Thu, 26 Nov 2026 03:58:10 GMT\r\nConnection: keep-alive\r\n"
    b'ETag: "6b07ae52-400"\r\nAccept-Ranges: bytes\r\n\r\n' + BODY
)


class Backend(asyncio.Protocol):
    """Answers each request head with RESPONSE (the load only sends GETs without bodies)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t: asyncio.Transport = transport  # type: ignore[assignment]
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        n = buf.count(b"\r\n\r\n")
        self.buf = buf[buf.rfind(b"\r\n\r\n") + 4 :] if n else buf
        if n:
            self.t.write(RESPONSE * n)


class Client(asyncio.Protocol):
    """One keep-alive connection sending GETs one after another while ``running``."""

    done = 0
    running = True

    def __init__(self, request: bytes, size: int) -> None:
        self.request = request
        self.size = size  # bytes in one whole response from this path
        self.got = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t: asyncio.Transport = transport  # type: ignore[assignment]
        self.t.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.got += len(data)
        if self.got >= self.size:
            if self.got != self.size:
                raise RuntimeError(f"response of {self.got} bytes, expected {self.size}")
            self.got = 0
            Client.done += 1
            if Client.running:
                self.t.write(self.request)


async def response_size(port: int, request: bytes) -> int:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(request)
    head = await r.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    await r.readexactly(length)
    w.close()
    return len(head) + length


async def load(port: int, connections: int, seconds: float) -> tuple[int, float]:
    loop = asyncio.get_running_loop()
    request = f"GET /file HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: bench\r\n\r\n".encode()
    size = await response_size(port, request)
    Client.done, Client.running = 0, True
    conns = [
        await loop.create_connection(lambda: Client(request, size), "127.0.0.1", port)
        for _ in range(connections)
    ]
    await asyncio.sleep(0.5)  # warm up
    n0, c0 = Client.done, time.process_time()
    await asyncio.sleep(seconds)
    n1, c1 = Client.done, time.process_time()
    Client.running = False
    await asyncio.sleep(0.1)
    for t, _ in conns:
        t.close()
    return n1 - n0, c1 - c0


async def main(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    backend = await loop.create_server(Backend, "127.0.0.1", 0)
    bport = backend.sockets[0].getsockname()[1]
    prog = run_declarations(
        "bench", lambda: reverse_proxy.declare("127.0.0.1:0", [f"http://127.0.0.1:{bport}"])
    )
    worker = Worker(lambda: prog)
    await worker.apply(prog)
    pport = next(iter(worker.listeners.values())).port  # type: ignore[attr-defined]
    n, cpu = await load(bport, args.connections, args.seconds)
    direct = cpu / n * 1e6
    print(f"direct to the backend: {n / args.seconds:,.0f} req/s, {direct:.1f} us CPU/req")
    prof = cProfile.Profile() if args.profile else None
    if prof:
        prof.enable()
    gc0 = [g["collections"] for g in gc.get_stats()]
    n, cpu = await load(pport, args.connections, args.seconds)
    gc1 = [g["collections"] for g in gc.get_stats()]
    print(
        "collections per 1000 requests by generation:",
        [round((b - a) * 1000 / n, 1) for a, b in zip(gc0, gc1, strict=True)],
    )
    if prof:
        prof.disable()
        prof.dump_stats(args.profile)
    through = cpu / n * 1e6
    print(f"through pipework:      {n / args.seconds:,.0f} req/s, {through:.1f} us CPU/req")
    print(f"pipework's share:      {through - direct:.1f} us CPU/req")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--profile", metavar="FILE", help="cProfile the proxied run into FILE")
    ap.add_argument("--gc", type=int, metavar="N", help="gc.set_threshold(N) before the runs")
    a = ap.parse_args()
    if a.gc is not None:
        gc.set_threshold(a.gc)
    uvloop.run(main(a))

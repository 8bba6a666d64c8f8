"""HTTP backends and clients for the load-balancing and routing tests: real processes, raw sockets.

``Backend`` runs tests/backend.py (asyncio, no pipework code) in its own process; ``backends``
is the fixture that starts them and kills them after the test. ``fetch`` sends one request on a
fresh connection; ``blast`` sends thousands, pipelined over a few connections, and reports which
backend answered each.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import free_port, wait_port

BACKEND = Path(__file__).resolve().parent / "backend.py"


class Backend:
    def __init__(self, name: str, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.name = name
        self.host = host
        self.port = port or free_port()
        self.proc = subprocess.Popen(
            [sys.executable, str(BACKEND), str(self.port), name, "--host", host], stdout=subprocess.DEVNULL
        )
        wait_port(host, self.port)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def control(self, **settings: object) -> None:
        query = "&".join(f"{k}={v}" for k, v in settings.items())
        assert fetch(self.port, f"/_control?{query}", host=self.host)[0] == 200

    def count(self, clear: bool = False) -> int:
        return int(fetch(self.port, "/_count" + ("?clear=1" if clear else ""), host=self.host)[2])

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def backends() -> Iterator[Callable[..., list[Backend]]]:
    """``backends(n)`` starts n backends on 127.0.0.1; ``backends(n, hosts=[...], port=p)`` one
    on each of the given loopback addresses."""
    made: list[Backend] = []

    def make(n: int, hosts: list[str] | None = None, port: int | None = None) -> list[Backend]:
        where = hosts or ["127.0.0.1"] * n
        new = [Backend(f"b{len(made) + i + 1}", where[i], port) for i in range(n)]
        made.extend(new)
        return new

    yield make
    for b in made:
        b.kill()


def read_response(rf) -> tuple[int, dict[str, str], bytes]:  # type: ignore[no-untyped-def]
    line = rf.readline()
    if not line:
        raise ConnectionError("closed")
    status = int(line.split()[1])
    fields: dict[str, str] = {}
    while True:
        h = rf.readline()
        if h in (b"\r\n", b""):
            break
        k, _, v = h.decode("latin-1").partition(":")
        fields.setdefault(k.strip().lower(), v.strip())
    body = rf.read(int(fields.get("content-length", "0")))
    return status, fields, body


def fetch(
    port: int, path: str, headers: dict[str, str] | None = None, host: str = "127.0.0.1"
) -> tuple[int, dict[str, str], bytes]:
    """One GET on a fresh connection (``Host: t`` unless ``headers`` name one)."""
    fields = {"Host": "t", **(headers or {})}
    with socket.create_connection((host, port), timeout=10) as s:
        extra = "".join(f"{k}: {v}\r\n" for k, v in fields.items())
        s.sendall(f"GET {path} HTTP/1.1\r\n{extra}\r\n".encode())
        return read_response(s.makefile("rb"))


def blast(
    port: int, n: int, conns: int = 8, batch: int = 50, header: Callable[[int], str] | None = None
) -> list[tuple[int, str, str]]:
    """``n`` GETs over ``conns`` connections, pipelined in batches; (status, backend, key) each."""
    out: list[tuple[int, str, str]] = []
    lock = threading.Lock()

    def worker(k: int) -> None:
        mine = list(range(k, n, conns))
        got = []
        with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
            rf = s.makefile("rb")
            for i in range(0, len(mine), batch):
                part = mine[i : i + batch]
                reqs = []
                for j in part:
                    extra = f"x-user: {header(j)}\r\n" if header else ""
                    reqs.append(f"GET /r/{j} HTTP/1.1\r\nHost: t\r\n{extra}\r\n")
                s.sendall("".join(reqs).encode())
                for j in part:
                    status, fields, _ = read_response(rf)
                    got.append((status, fields.get("x-backend", ""), header(j) if header else ""))
        with lock:
            out.extend(got)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(out) == n
    return out



"""Request mirroring end to end: a real pipework process in front of a main backend, copying
requests to a shadow server (Python's own http.server, recording what it gets); the client only
ever sees the main backend's answers and never waits for the shadow."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import free_ports, run_script
from http_peers import Backend, fetch
from prometheus_client.parser import text_string_to_metric_families


class Shadow:
    """An HTTP server that records each whole request it gets; ``delay`` seconds before answering."""

    def __init__(self) -> None:
        self.got: list[tuple[str, str, dict[str, str], bytes]] = []
        self.delay = 0.0
        self.status = 200
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.got.append(
                    (self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                time.sleep(owner.delay)
                self.send_response(owner.status)
                self.send_header("Content-Length", "6")
                self.end_headers()
                self.wfile.write(b"shadow")

            do_GET = do_POST = do_PUT = _any

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, n: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.got) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.got) >= n, f"the shadow got {len(self.got)} requests, not {n}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


SCRIPT = """
import pipework as pw

main = "127.0.0.1:{backend}"
shadow = "127.0.0.1:{shadow}"
pw.listen({all}, lambda p: p.demux_http().to(
    lambda p: p.mirror(shadow, host_suffix="-shadow", max_body=1000, name="all").proxy(main)))
pw.listen({half}, lambda p: p.demux_http().to(
    lambda p: p.mirror(shadow, fraction=0.5, name="half").proxy(main)))
pw.listen({one}, lambda p: p.demux_http().to(
    lambda p: p.mirror(shadow, max_in_flight=1, timeout=2, name="one").proxy(main)))
pw.listen({admin}, lambda p: p.demux_http().to(lambda p: p.serve_metrics()))
"""


@pytest.fixture
def env(pipework, tmp_path: Path) -> Iterator[SimpleNamespace]:
    backend, shadow = Backend("main"), Shadow()
    ports = dict(zip(("all", "half", "one", "admin"), free_ports(4), strict=True))
    try:
        run_script(
            pipework, tmp_path / "m.py", SCRIPT.format(backend=backend.port, shadow=shadow.port, **ports)
        )
        yield SimpleNamespace(backend=backend, shadow=shadow, **ports)
    finally:
        shadow.close()
        backend.kill()


def post(port: int, path: str, body: bytes) -> tuple[int, bytes, float]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        start = time.monotonic()
        c.request("POST", path, body=body, headers={"Host": "api.test"})
        r = c.getresponse()
        return r.status, r.read(), time.monotonic() - start
    finally:
        c.close()


def mirrored(admin: int) -> dict[tuple[str, str], float]:
    text = fetch(admin, "/metrics")[2].decode()
    return {
        (s.labels["mirror"], s.labels["outcome"]): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "pipework_mirror_requests_total"
    }


def wait_count(admin: int, step: str, outcome: str, n: int) -> dict[tuple[str, str], float]:
    """The counters once ``step`` has counted ``n`` copies with ``outcome`` (or after 5 s)."""
    deadline = time.monotonic() + 5
    counts = mirrored(admin)
    while counts.get((step, outcome)) != n and time.monotonic() < deadline:
        time.sleep(0.05)
        counts = mirrored(admin)
    return counts


def test_a_copy_of_each_request_goes_to_the_shadow(env: SimpleNamespace) -> None:
    status, body, _ = post(env.all, "/orders?id=7", b'{"item": 42}')
    assert (status, body) == (200, b"main")  # the client gets the main backend's answer
    env.shadow.wait(1)
    method, target, fields, got = env.shadow.got[0]
    assert (method, target, got) == ("POST", "/orders?id=7", b'{"item": 42}')
    assert fields["host"] == "api.test-shadow"
    assert fields["x-forwarded-for"] == "127.0.0.1"  # proxied as any request is
    assert wait_count(env.admin, "all", "completed", 1)[("all", "completed")] == 1


def test_the_client_never_waits_for_a_slow_shadow(env: SimpleNamespace) -> None:
    env.shadow.delay = 1.5
    status, body, took = post(env.all, "/slow", b"x")
    assert (status, body) == (200, b"main")
    assert took < 1.0, took
    env.shadow.wait(1)
    assert wait_count(env.admin, "all", "completed", 1)[("all", "completed")] == 1  # finished on its own


def test_a_body_over_max_body_is_not_mirrored(env: SimpleNamespace) -> None:
    assert post(env.all, "/big", b"b" * 5000)[:2] == (200, b"main")
    assert post(env.all, "/small", b"s" * 10)[:2] == (200, b"main")
    env.shadow.wait(1)
    time.sleep(0.3)
    assert [g[1] for g in env.shadow.got] == ["/small"]
    assert wait_count(env.admin, "all", "cut", 1)[("all", "cut")] == 1


def test_a_fraction_of_requests_is_mirrored(env: SimpleNamespace) -> None:
    for i in range(200):
        assert fetch(env.half, f"/h{i}")[0] == 200
    time.sleep(0.5)
    n = len(env.shadow.got)
    assert 60 <= n <= 140, n  # binomial(200, 0.5): outside this once in 10^8 runs


def test_at_most_max_in_flight_copies_and_a_timeout(env: SimpleNamespace) -> None:
    env.shadow.delay = 3.0  # longer than the step's timeout (2 s)
    assert post(env.one, "/a", b"1")[0] == 200
    env.shadow.wait(1)
    assert post(env.one, "/b", b"2")[0] == 200  # the first copy is still open: not copied
    counts = wait_count(env.admin, "one", "failed", 1)
    assert (counts[("one", "dropped")], counts[("one", "failed")]) == (1, 1)  # /b dropped; /a timed out
    assert [g[1] for g in env.shadow.got] == ["/a"]


def test_a_failing_shadow_is_counted_and_harmless(env: SimpleNamespace) -> None:
    env.shadow.status = 503
    assert post(env.all, "/x", b"1")[:2] == (200, b"main")
    env.shadow.wait(1)
    assert wait_count(env.admin, "all", "failed", 1)[("all", "failed")] == 1

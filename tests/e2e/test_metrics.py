"""The metrics endpoint read by Prometheus' own parser (prometheus_client), after real traffic
through real backends: one process, and a group of workers whose numbers a scrape combines."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

from helpers import free_port, require, run_script
from http_peers import fetch
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def curl(*args: str) -> str:
    require("curl")
    return subprocess.run(["curl", "-sS", "--max-time", "10", *args], capture_output=True, text=True,
                          timeout=30, check=True).stdout  # fmt: skip


def scrape(port: int) -> Samples:
    text = fetch(port, "/metrics")[2].decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def labels(**kv: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(kv.items()))


def test_metrics_after_traffic(pipework, tmp_path: Path, backends) -> None:
    a, b = backends(2)
    port, admin = free_port(), free_port()
    run_script(
        pipework,
        tmp_path / "m.py",
        "import pipework as pw\n"
        f"api = pw.Upstream([{a.address!r}, {b.address!r}], name='api')\n"
        f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.demux_http().to(\n"
        "    lambda p: p.rate_limit(5, 60, key='header:x-user').proxy(api))))\n"
        "scrape = pw.pipeline(lambda p: p.demux_http().to(lambda p: p.serve_metrics()))\n"
        f"pw.listen('127.0.0.1:{admin}', scrape)\n",
    )
    codes = [curl("-o", "/dev/null", "-w", "%{http_code}", "-H", "X-User: ann", f"http://127.0.0.1:{port}/x")
             for _ in range(7)]  # fmt: skip
    assert codes == ["200"] * 5 + ["429"] * 2
    text = curl(f"http://127.0.0.1:{admin}/metrics")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("pipework_http_responses_total", (("code", "200"),))] == 5
    assert samples[("pipework_http_responses_total", (("code", "429"),))] == 2
    assert samples[("pipework_rate_limit_rejections_total", (("limit", "5/60s by header:x-user"),))] == 2
    for t in (a, b):
        key = (("target", t.address), ("upstream", "api"))
        assert samples[("pipework_upstream_target_healthy", key)] == 1
        assert samples[("pipework_upstream_target_active", key)] == 0
        assert samples[("pipework_upstream_target_connections", key)] >= 1  # kept alive for the next
    assert samples[("pipework_connections_active", ())] >= 1  # this scrape's own
    assert samples[("pipework_upstream_retries_total", (("upstream", "api"),))] == 0
    assert samples[("pipework_workers", ())] == 1


ROUTES = """\
import pipework as pw
fast = pw.Upstream([{a!r}], name="fast")
slow = pw.Upstream([{b!r}], name="slow")
routes = pw.Router()
routes.add(fast, prefix="/ok/", name="ok")
routes.add(pw.to(slow, name="slow-route"), prefix="/slow/")
routes.add(fast, path="/items/{{id}}")
pw.listen("127.0.0.1:{port}", pw.pipeline(lambda p: p.demux_http().to(lambda p: p.route(routes))))
pw.listen("127.0.0.1:{direct}", pw.pipeline(lambda p: p.demux_http().to(lambda p: p.proxy(fast))))
pw.listen("127.0.0.1:{admin}", pw.pipeline(lambda p: p.demux_http().to(lambda p: p.serve_metrics())))
"""


class Client:
    """Requests on one kept-alive connection, answers read as raw bytes (to count them)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        assert chunk, "closed"
        self.buf += chunk

    def send(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes, int]:
        """(status, body, bytes the response took on the wire); answers have a Content-Length."""
        length = f"content-length: {len(body)}\r\n" if method == "POST" else ""
        self.sock.sendall(f"{method} {path} HTTP/1.1\r\nhost: t\r\n{length}\r\n".encode() + body)
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        end = self.buf.index(b"\r\n\r\n") + 4
        head = self.buf[:end].decode("latin-1")
        size = int(re.search(r"(?im)^content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
        while len(self.buf) < end + size:
            self._fill()
        answer, self.buf = self.buf[end : end + size], self.buf[end + size :]
        return int(head.split()[1]), answer, end + size


def histogram(samples: Samples, name: str, **kv: str) -> tuple[list[tuple[float, float]], float, float]:
    """(cumulative buckets as (le, count) in order, sum, count) of one histogram's label set."""
    buckets = sorted(
        (float(dict(lab)["le"]), v)
        for (n, lab), v in samples.items()
        if n == name + "_bucket" and {k: x for k, x in lab if k != "le"} == kv
    )
    return buckets, samples[(name + "_sum", labels(**kv))], samples[(name + "_count", labels(**kv))]


def test_requests_by_route_upstream_and_class_with_latency_and_bytes(
    pipework, tmp_path: Path, backends
) -> None:
    a, b = backends(2)
    b.control(status=503, delay=0.3)  # every ordinary answer of b: 503 after 0.3 s
    port, direct, admin = free_port(), free_port(), free_port()
    run_script(pipework, tmp_path / "r.py", ROUTES.format(a=a.address, b=b.address, port=port, direct=direct,
                                                         admin=admin))  # fmt: skip
    bodies = [b"x" * n for n in (0, 10, 1000, 70_000)]  # the last past the proxy's 64 KiB gathering
    with Client(port) as c:
        ok = [c.send("POST", "/ok/thing", body) for body in bodies]
        assert {(st, body) for st, body, _ in ok} == {(200, b"b1")}
        assert [c.send("GET", f"/items/{i}")[0] for i in range(3)] == [200] * 3
        slow = [c.send("GET", "/slow/x") for _ in range(2)]
        assert {(st, body) for st, body, _ in slow} == {(503, b"b2")}
        missing = c.send("GET", "/nowhere")
        assert missing[0] == 404
    with Client(direct) as c:
        assert [c.send("GET", "/d")[0] for _ in range(5)] == [200] * 5

    m = scrape(admin)
    req = "pipework_http_requests_total"
    lp, ld = str(port), str(direct)
    assert m[(req, labels(listener=lp, route="ok", upstream="fast", **{"class": "2xx"}))] == 4
    assert m[(req, labels(listener=lp, route="/items/{id}", upstream="fast", **{"class": "2xx"}))] == 3
    assert m[(req, labels(listener=lp, route="slow-route", upstream="slow", **{"class": "5xx"}))] == 2
    assert m[(req, labels(listener=lp, route="", upstream="", **{"class": "4xx"}))] == 1
    assert m[(req, labels(listener=ld, route="", upstream="fast", **{"class": "2xx"}))] == 5
    ours = {k: v for k, v in m.items() if k[0] == req and dict(k[1])["listener"] in (lp, ld)}
    assert sum(ours.values()) == 4 + 3 + 2 + 1 + 5  # nothing else counted
    assert m[("pipework_http_responses_total", labels(code="503"))] == 2

    rx, tx = "pipework_http_request_body_bytes_total", "pipework_http_response_bytes_total"
    assert m[(rx, labels(listener=lp, route="ok"))] == sum(map(len, bodies))
    assert m[(tx, labels(listener=lp, route="ok"))] == sum(wire for _, _, wire in ok)
    assert m[(tx, labels(listener=lp, route="slow-route"))] == sum(wire for _, _, wire in slow)
    assert m[(tx, labels(listener=lp, route=""))] == missing[2]
    assert m[(rx, labels(listener=ld, route=""))] == 0

    dur = "pipework_http_request_duration_seconds"
    for route, n in (("ok", 4), ("/items/{id}", 3), ("slow-route", 2), ("", 1)):
        buckets, total, count = histogram(m, dur, listener=lp, route=route)
        assert count == n
        assert buckets[-1] == (float("inf"), n)
        counts = [v for _, v in buckets]
        assert counts == sorted(counts)  # cumulative
        assert total > 0
    buckets, total, _ = histogram(m, dur, listener=lp, route="slow-route")
    assert dict(buckets)[0.25] == 0  # both took over 0.3 s
    assert total >= 0.6
    slow_head, head_total, head_count = histogram(m, "pipework_upstream_header_seconds", upstream="slow")
    assert head_count == 2
    assert dict(slow_head)[0.25] == 0
    assert head_total >= 0.6
    _, _, fast_count = histogram(m, "pipework_upstream_response_seconds", upstream="fast")
    assert fast_count == 4 + 3 + 5


GROUP = """\
import os
import pipework as pw
pw.listen("127.0.0.1:{port}", pw.pipeline(lambda p: p.demux_http().to(
    lambda p: p.serve_http(lambda req: str(os.getpid())))))
pw.listen("127.0.0.1:{admin}", pw.pipeline(lambda p: p.demux_http().to(
    lambda p: p.serve_metrics(refresh=0.2))))
"""


def served(port: int, n: int) -> dict[str, int]:
    """n GETs, each on a new connection (so SO_REUSEPORT spreads them); the count by worker pid."""
    by: dict[str, int] = {}
    for _ in range(n):
        status, _, body = fetch(port, "/g")
        assert status == 200
        by[body.decode()] = by.get(body.decode(), 0) + 1
    return by


def group_total(admin: int, port: int) -> tuple[float, float]:
    m = scrape(admin)
    key = labels(listener=str(port), route="", upstream="", **{"class": "2xx"})
    ok = m[("pipework_http_requests_total", key)]
    assert m[("pipework_http_responses_total", labels(code="200"))] >= ok  # scrapes count there too
    return ok, m[("pipework_workers", ())]


def settled(admin: int, port: int, want: tuple[float, float], timeout: float = 5.0) -> None:
    """Wait until a scrape says ``want`` (snapshots are written every 0.2 s)."""
    deadline = time.monotonic() + timeout
    while (got := group_total(admin, port)) != want:
        assert time.monotonic() < deadline, got
        time.sleep(0.1)


def test_workers_combined_whichever_answers(pipework, tmp_path: Path) -> None:
    port, admin = free_port(), free_port()
    (tmp_path / "g.py").write_text(GROUP.format(port=port, admin=admin))
    p = pipework("run", str(tmp_path / "g.py"), "--workers", "2")
    p.wait_log("listening on tcp", count=4)
    by = served(port, 60)
    assert len(by) == 2, by  # both workers served
    settled(admin, port, (60, 2))  # each worker's next snapshot is written
    for _ in range(8):  # new connections: scrapes reach both workers
        assert group_total(admin, port) == (60, 2)

    # a worker killed outright: what it counted stays; its replacement starts a file of its own
    pids = [int(x) for x in re.findall(r"started worker \d+ \(pid (\d+)\)", p.output())]
    os.kill(pids[0], signal.SIGKILL)
    p.wait_log(r"worker 1 \(pid \d+\) exited with signal SIGKILL; restarting")
    p.wait_log("listening on tcp", count=6)
    for _ in range(6):
        assert group_total(admin, port)[0] == 60
    served(port, 40)
    settled(admin, port, (100, 2))
    for _ in range(8):
        assert group_total(admin, port) == (100, 2)
    assert not re.search(r"Traceback", p.output())

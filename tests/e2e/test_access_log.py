"""Access logs (combined and JSON) and the per-status response counters of demux_http."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import httpx
from helpers import free_port, require

SCRIPT = """\
    import pipework as pw

    def app(req):
        if req.path == "/stats":
            return {{str(k): v for k, v in pw.http_status_counts().items()}}
        if req.path == "/missing":
            return None
        return "ok"

    site = pw.pipeline(lambda p: p.serve_files({root!r}))
    pw.listen("127.0.0.1:{fast}", pw.pipeline(lambda p: p.demux_http(access_log="combined").to(
        lambda p: p.serve_http(app))))
    pw.listen("127.0.0.1:{deep}", pw.pipeline(lambda p: p.demux_http(access_log="json").to(
        lambda p: p.handle_message_start(lambda e: None).serve_http(app))))
    pw.listen("127.0.0.1:{files}", pw.pipeline(lambda p: p.demux_http(access_log="combined").to(site)))
"""


def curl(*args: str) -> str:
    require("curl")
    return subprocess.run(
        ["curl", "-s", "--max-time", "10", *args], capture_output=True, text=True, timeout=20, check=False
    ).stdout


def test_access_logs_and_counters(pipework, tmp_path: Path) -> None:
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "f.txt").write_text("file body\n")
    ports = {"fast": free_port(), "deep": free_port(), "files": free_port()}
    script = tmp_path / "s.py"
    script.write_text(textwrap.dedent(SCRIPT.format(root=str(tmp_path / "www"), **ports)))
    p = pipework("run", str(script))
    p.wait_log("listening on tcp", count=3)

    assert curl("-A", "tester/1.0", "-e", "http://ref/", f"http://127.0.0.1:{ports['fast']}/a?b=1") == "ok"
    curl(f"http://127.0.0.1:{ports['fast']}/missing")
    line = p.wait_log(
        r'127\.0\.0\.1 - - \[[^\]]+\] "GET /a\?b=1 HTTP/1\.1" 200 2 "http://ref/" "tester/1\.0" [\d.]+'
    )
    assert line
    p.wait_log(r'"GET /missing HTTP/1\.1" 404 10 "-" "curl/')

    curl("-X", "POST", "-d", "xyz", f"http://127.0.0.1:{ports['deep']}/posted")
    m = p.wait_log(r'\{"time":[^\n]*"target":"/posted"[^\n]*\}')
    rec = json.loads(m.group(0))
    assert rec["method"] == "POST"
    assert rec["status"] == 200
    assert rec["bytes"] == 2
    assert rec["remote"] == "127.0.0.1"
    assert rec["user_agent"].startswith("curl/")

    assert curl(f"http://127.0.0.1:{ports['files']}/f.txt") == "file body\n"
    curl(f"http://127.0.0.1:{ports['files']}/nope")
    p.wait_log(r'"GET /f\.txt HTTP/1\.1" 200 10 ')
    p.wait_log(r'"GET /nope HTTP/1\.1" 404 ')

    stats = json.loads(curl(f"http://127.0.0.1:{ports['fast']}/stats"))
    assert stats == {"200": 3, "404": 2}  # counted before this /stats answer itself
    assert not re.search(r"Traceback", p.output())


UPSTREAM_SCRIPT = """\
import pipework as pw
api = pw.Upstream([{backend!r}], name="api")
routes = pw.Router()
routes.add(pw.to(api, name="echo"), prefix="/_echo")
pw.listen("127.0.0.1:{json}", pw.pipeline(lambda p: p.demux_http(access_log="json").to(
    lambda p: p.request_id().route(routes))))
pw.listen("127.0.0.1:{combined}", pw.pipeline(lambda p: p.demux_http(access_log="combined").to(
    lambda p: p.request_id().proxy(api))))
"""
TRACE = "0af7651916cd43dd8448eb211c80319c"
#: the combined format with pipework's extras (docs/observability.md)
COMBINED = (
    r'127\.0\.0\.1 - - \[[^\]]+\] "GET (?P<target>\S+) HTTP/1\.1" (?P<status>\d+) (?P<bytes>\d+) "-" "[^"]*" '
    r'(?P<rt>\d+\.\d{3}) "(?P<rid>[^"]+)" "(?P<route>[^"]+)" "(?P<addr>[^"]+)" '
    r"(?P<uct>\d+\.\d{3}) (?P<uht>\d+\.\d{3}) (?P<urt>\d+\.\d{3}) \"(?P<trace>[0-9a-f]{32})\"\n"
)


def get(port: int, path: str, headers: dict[str, str], body: bytes | None = None) -> bytes:
    """The body of the answer to a GET (a POST with ``body``), by httpx."""
    with httpx.Client(timeout=10) as c:
        url = f"http://127.0.0.1:{port}{path}"
        r = c.get(url, headers=headers) if body is None else c.post(url, headers=headers, content=body)
        return r.content


def echoed(body: bytes, name: str) -> str:
    """A field's value in what tests/backend.py's /_echo sends back (the request as it got it)."""
    m = re.search(rf"(?im)^{name}: (.*)$", body.decode("latin-1"))
    assert m, body
    return m.group(1).strip()


def test_upstream_timing_request_id_and_trace_in_the_log(pipework, tmp_path: Path, backends) -> None:
    (b,) = backends(1)
    ports = {"json": free_port(), "combined": free_port()}
    script = tmp_path / "u.py"
    script.write_text(UPSTREAM_SCRIPT.format(backend=b.address, **ports))
    p = pipework("run", str(script))
    p.wait_log("listening on tcp", count=2)

    # the client's id and trace go through: the upstream gets the same trace id, a new span
    parent = {"traceparent": f"00-{TRACE}-b7ad6b7169203331-01"}
    body = get(ports["json"], "/_echo/a", {"X-Request-Id": "req-42", **parent})
    assert echoed(body, "x-request-id") == "req-42"
    sent = echoed(body, "traceparent")
    assert re.fullmatch(rf"00-{TRACE}-[0-9a-f]{{16}}-01", sent)
    assert not sent.endswith("b7ad6b7169203331-01")
    rec = json.loads(p.wait_log(r'\{"time":[^\n]*"target":"/_echo/a"[^\n]*\}').group(0))
    assert set(rec) == set(documented()[1])  # the fields docs/observability.md shows
    assert rec["request_id"] == "req-42"
    assert rec["trace_id"] == TRACE
    assert rec["route"] == "echo"
    assert rec["upstream"] == "api"
    assert rec["upstream_addr"] == b.address
    assert rec["status"] == 200
    assert rec["bytes"] == len(body)
    connect, header, response = (rec[f"upstream_{k}_time"] for k in ("connect", "header", "response"))
    assert 0 <= connect <= header <= response <= rec["duration"]
    assert connect > 0  # the first request opened the connection

    # none sent: both made; the trace the upstream got is the one logged; a pooled connection
    body = get(ports["json"], "/_echo/b", {}, b"12345")
    rec = json.loads(p.wait_log(r'\{"time":[^\n]*"target":"/_echo/b"[^\n]*\}').group(0))
    assert re.fullmatch(r"[0-9a-f]{32}", rec["request_id"])
    assert echoed(body, "x-request-id") == rec["request_id"]
    assert echoed(body, "traceparent").split("-")[1] == rec["trace_id"]
    assert rec["method"] == "POST"
    assert rec["request_bytes"] == 5
    assert rec["upstream_connect_time"] == 0
    assert 0 <= rec["upstream_header_time"] <= rec["upstream_response_time"]

    # no route: no upstream facts
    curl(f"http://127.0.0.1:{ports['json']}/elsewhere")
    rec = json.loads(p.wait_log(r'\{"time":[^\n]*"target":"/elsewhere"[^\n]*\}').group(0))
    assert rec["status"] == 404
    assert rec["route"] is None
    assert rec["upstream_addr"] is None
    assert rec["upstream_header_time"] is None

    # the combined format, with the extras after the request time
    body = get(ports["combined"], "/_echo/c", {"X-Request-Id": "comb-1", **parent})
    m = p.wait_log(COMBINED.replace("(?P<target>\\S+)", "(?P<target>/_echo/c)"))
    assert m.group("status") == "200"
    assert int(m.group("bytes")) == len(body)
    assert (m.group("rid"), m.group("route"), m.group("addr"), m.group("trace")) == (
        "comb-1",
        "-",
        b.address,
        TRACE,
    )
    assert float(m.group("uct")) <= float(m.group("uht")) <= float(m.group("urt"))
    curl(f"http://127.0.0.1:{ports['combined']}/plain")
    line = p.wait_log(
        r'"GET /plain HTTP/1\.1" 200 2 "-" "curl/[^"]*" \d+\.\d{3} "[0-9a-f]{32}" "-" "[^"]+" [^\n]*\n'
    )
    assert line
    assert not re.search(r"Traceback", p.output())


def documented() -> tuple[str, dict[str, object]]:
    """The example lines of docs/observability.md: combined, and JSON."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "observability.md").read_text()
    line = re.search(r"^127\.0\.0\.1 - - .*\n", doc, re.M)
    rec = re.search(r"```json\n(.*?)\n```", doc, re.S)
    assert line is not None
    assert rec is not None
    return line.group(0), json.loads(rec.group(1))


def test_the_documented_combined_line_is_the_format() -> None:
    assert re.fullmatch(COMBINED, documented()[0])


def test_an_access_log_file_shared_by_workers(pipework, tmp_path: Path) -> None:
    """--access-log FILE: every request's line in the file, whole lines from both workers, none
    on stderr with the other logs."""
    port = free_port()
    script = tmp_path / "site.py"
    script.write_text(
        "import os\n"
        "import pipework as pw\n"
        f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.demux_http(access_log='json').to(\n"
        "    lambda p: p.serve_http(lambda req: str(os.getpid())))))\n"
    )
    log = tmp_path / "logs" / "access.log"
    log.parent.mkdir()
    server = pipework("run", str(script), "--workers", "2", "--access-log", str(log))
    server.wait_log("listening on tcp", count=2)
    pids = set()
    for i in range(60):  # a new connection each: the kernel spreads them over the workers
        pids.add(httpx.get(f"http://127.0.0.1:{port}/n/{i}", timeout=10).text)
    assert len(pids) == 2
    deadline = time.monotonic() + 5
    while len(log.read_text().splitlines()) < 60 and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert sorted(r["target"] for r in lines) == sorted(f"/n/{i}" for i in range(60))
    assert all(r["status"] == 200 for r in lines)
    assert '"target":"/n/' not in server.output()


def test_sigusr1_reopens_the_access_log_after_rotation(pipework, tmp_path: Path) -> None:
    """logrotate's way (move, then USR1 to the supervisor): the lines before the signal are in
    the moved file, every one after it in a new file at the path, from both workers; the
    script's own SIGUSR1 task still runs in each of them."""
    port = free_port()
    script = tmp_path / "site.py"
    script.write_text(
        "import logging, os\n"
        "import pipework as pw\n"
        "pw.task('SIGUSR1', pw.pipeline(lambda p: p.on_start(\n"
        "    lambda: logging.getLogger('pipework').warning('task in %d', os.getpid()))))\n"
        f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.demux_http(access_log='json').to(\n"
        "    lambda p: p.serve_http(lambda req: str(os.getpid())))))\n"
    )
    log = tmp_path / "access.log"
    pid_file = tmp_path / "pipework.pid"
    server = pipework(
        "run", str(script), "--workers", "2", "--access-log", str(log), "--pid-file", str(pid_file)
    )
    server.wait_log("listening on tcp", count=2)
    assert pid_file.read_text() == f"{server.proc.pid}\n"

    def send(prefix: str) -> set[str]:
        return {httpx.get(f"http://127.0.0.1:{port}/{prefix}/{i}", timeout=10).text for i in range(40)}

    def targets(path: Path, n: int) -> list[str]:
        deadline = time.monotonic() + 5
        while len(path.read_text().splitlines()) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return sorted(json.loads(line)["target"] for line in path.read_text().splitlines())

    assert len(send("before")) == 2
    assert targets(log, 40) == sorted(f"/before/{i}" for i in range(40))
    log.rename(tmp_path / "access.log.1")
    os.kill(int(pid_file.read_text()), signal.SIGUSR1)  # as logrotate's postrotate does
    server.wait_log("task in", count=2)  # both workers have had the signal
    assert len(send("after")) == 2
    assert targets(log, 40) == sorted(f"/after/{i}" for i in range(40))
    assert targets(tmp_path / "access.log.1", 40) == sorted(f"/before/{i}" for i in range(40))
    assert server.stop() == 0
    assert not pid_file.exists()


def test_a_retried_request_logs_every_target_it_tried(pipework, tmp_path: Path, backends) -> None:
    """nginx's $upstream_addr: "dead, live" when the first target refused the connection."""
    (b,) = backends(1)
    dead, port = free_port(), free_port()
    script = tmp_path / "r.py"
    script.write_text(
        "import pipework as pw\n"
        f"up = pw.Upstream(['127.0.0.1:{dead}', '{b.address}'], outlier=False)\n"
        f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.demux_http(access_log='json').to(\n"
        "    lambda p: p.proxy(up))))\n"
    )
    p = pipework("run", str(script))
    p.wait_log("listening on tcp")
    for _ in range(4):  # round robin: some go to the dead target first
        assert httpx.get(f"http://127.0.0.1:{port}/x", timeout=10).status_code == 200
    p.wait_log('"target":"/x"', count=4)
    addrs = [json.loads(m.group(0))["upstream_addr"] for m in re.finditer(r'\{"time":[^\n]*\}', p.output())]
    assert len(addrs) == 4
    assert f"127.0.0.1:{dead}, {b.address}" in addrs
    assert set(addrs) <= {b.address, f"127.0.0.1:{dead}, {b.address}"}

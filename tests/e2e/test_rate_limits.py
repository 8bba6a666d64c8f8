"""Rate limits, connection limits and reloadable IP lists, end to end: quotas shared by the two
workers of one ``--workers 2`` group, by two pipework processes through a real redis-server
(killed and restarted under them), byte quotas, JWT-claim keys, per-address connection limits
with real sockets, and allow_ips files edited while serving."""

from __future__ import annotations

import collections
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from helpers import free_port, require, run_script, wait_port
from http_peers import fetch, read_response


def get(
    port: int, path: str = "/", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One GET on a new connection."""
    return fetch(port, path, headers)


def test_a_quota_is_shared_by_the_workers_of_a_group(pipework, tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    seen.mkdir()
    port = free_port()
    script = tmp_path / "w.py"
    # the key function notes which worker saw each request, to show both had enough requests
    # to admit the whole quota each if they did not share it
    script.write_text(
        "import os\nimport pipework as pw\n"
        "def key(head, ctx):\n"
        f"    with open(os.path.join({str(seen)!r}, str(os.getpid())), 'a') as f:\n"
        "        f.write('.')\n"
        "    return 'everyone'\n"
        f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.demux_http().to(\n"
        "    lambda p: p.rate_limit(30, 3600, key=key)\n"
        "        .replace_message(lambda m: pw.Response(str(os.getpid()))))))\n"
    )
    p = pipework("run", str(script), "--workers", "2")
    p.wait_log("listening on tcp", count=2)
    statuses: collections.Counter[int] = collections.Counter()
    served: collections.Counter[bytes] = collections.Counter()
    for _ in range(120):  # a new connection each: SO_REUSEPORT spreads them over both workers
        status, _, body = get(port)
        statuses[status] += 1
        if status == 200:
            served[body] += 1
    seen_by = {f.name: len(f.read_text()) for f in seen.iterdir()}
    assert len(seen_by) == 2, seen_by
    assert min(seen_by.values()) > 30, seen_by  # each could have admitted 30: unshared, 60
    assert statuses == {200: 30, 429: 90}
    assert len(served) == 2, served  # both workers admitted some of the one quota


@pytest.fixture
def redis_server() -> Iterator[dict[str, object]]:
    """A real redis-server on a free port; ``kill()`` and ``start()`` it again on that port."""
    exe = require("redis-server")
    port = free_port()
    state: dict[str, object] = {"port": port, "url": f"redis://127.0.0.1:{port}/0"}

    def start() -> None:
        proc = subprocess.Popen(
            [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        state["proc"] = proc
        wait_port("127.0.0.1", port)

    def kill() -> None:
        proc: subprocess.Popen[bytes] = state["proc"]  # type: ignore[assignment]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    state["start"] = start
    state["kill"] = kill
    start()
    yield state
    proc: subprocess.Popen[bytes] = state["proc"]  # type: ignore[assignment]
    if proc.poll() is None:
        kill()


def test_two_processes_share_a_quota_through_redis_and_survive_its_outage(
    pipework, tmp_path: Path, redis_server: dict[str, object]
) -> None:
    url = redis_server["url"]
    ports = [free_port(), free_port()]
    procs = []
    for i, port in enumerate(ports):
        procs.append(
            run_script(
                pipework,
                tmp_path / f"r{i}.py",
                "import os\nimport pipework as pw\n"
                f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.demux_http().to(\n"
                f"    lambda p: p.rate_limit(20, 3600, key='header:x-user', redis={url!r})\n"
                "        .replace_message(lambda m: pw.Response('ok')))))\n",
            )
        )
    for p in procs:
        p.wait_log("connected to Redis")

    def burst(user: str, n: int) -> dict[int, int]:
        admitted = dict.fromkeys(ports, 0)
        for i in range(n):
            port = ports[i % 2]
            if get(port, headers={"x-user": user})[0] == 200:
                admitted[port] += 1
        return admitted

    shared = burst("ann", 60)
    assert sum(shared.values()) == 20, shared
    assert min(shared.values()) > 0, shared
    status, fields, _ = get(ports[0], headers={"x-user": "ann"})
    assert status == 429
    assert fields["ratelimit-policy"] == "20;w=3600"
    assert int(fields["retry-after"]) >= 1

    redis_server["kill"]()  # type: ignore[operator]
    # each process falls back to its own quota: still limited, never failing
    local = burst("bob", 60)
    assert local == dict.fromkeys(ports, 20), local
    time.sleep(2.5)  # several reconnection attempts fail meanwhile
    assert burst("bob", 4) == dict.fromkeys(ports, 0)
    for p in procs:
        assert p.output().count("is unreachable") == 1, p.output()

    redis_server["start"]()  # type: ignore[operator]
    for p in procs:
        p.wait_log("is back; quotas are shared through it again")
    again = burst("cy", 60)
    assert sum(again.values()) == 20, again

    proc: subprocess.Popen[bytes] = redis_server["proc"]  # type: ignore[assignment]
    proc.send_signal(signal.SIGSTOP)  # Redis hangs: the wait for it is bounded (0.5 s)
    try:
        t0 = time.monotonic()
        assert get(ports[0], headers={"x-user": "dee"})[0] == 200
        assert time.monotonic() - t0 < 2.0
    finally:
        proc.send_signal(signal.SIGCONT)


def test_a_byte_quota_counts_request_and_response_bodies(pipework, tmp_path: Path, backends) -> None:
    (b,) = backends(1)
    port, proxied = free_port(), free_port()
    run_script(
        pipework,
        tmp_path / "b.py",
        "import pipework as pw\n"
        "def limit(p):\n"
        "    return p.rate_limit(1000, 3600, key='header:x-user', cost='bytes')\n"
        f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.demux_http().to(\n"
        "    lambda p: limit(p).replace_message(lambda m: pw.Response(b'x' * 300)))))\n"
        f"pw.listen('127.0.0.1:{proxied}', pw.pipeline(lambda p: p.demux_http().to(\n"
        f"    lambda p: limit(p).proxy({b.address!r}))))\n",
    )
    # 1000 bytes: each answer of 300 is charged after it went out; the 4th request still finds
    # bytes left (97), its answer puts the key in debt, and the 5th is refused
    codes = [get(port, headers={"x-user": "ann"})[0] for _ in range(5)]
    assert codes == [200, 200, 200, 200, 429]
    # the same through a proxy, the body streamed from a real backend (one quota: same settings)
    codes = [get(proxied, "/_cache?size=300", headers={"x-user": "dan"})[0] for _ in range(5)]
    assert codes == [200, 200, 200, 200, 429]
    assert b.count() == 4
    # a request body declared larger than the whole quota can never pass: no Retry-After
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nx-user: bob\r\ncontent-length: 2000\r\n\r\n" + b"y" * 2000)
        status, fields, _ = read_response(s.makefile("rb"))
    assert status == 429
    assert "retry-after" not in fields
    # one that fits is charged its length up front: 600 + the 300 of its answer
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nx-user: cy\r\ncontent-length: 600\r\n\r\n" + b"y" * 600)
        assert read_response(s.makefile("rb"))[0] == 200
    assert get(port, headers={"x-user": "cy"})[0] == 200  # 100 left: passes, goes into debt
    assert get(port, headers={"x-user": "cy"})[0] == 429


def test_a_quota_per_jwt_subject(pipework, tmp_path: Path) -> None:
    port = free_port()
    run_script(
        pipework,
        tmp_path / "j.py",
        "import pipework as pw\n"
        "key = pw.policy.jwt.JwtKey.hmac(b'k' * 32)\n"
        f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.demux_http().to(\n"
        "    lambda p: p.jwt_auth(key, algorithms=['HS256'])\n"
        "        .rate_limit(3, 3600, key='claim:sub')\n"
        "        .replace_message(lambda m: pw.Response('ok')))))\n",
    )

    def token(sub: str) -> dict[str, str]:
        t = jwt.encode({"sub": sub, "exp": int(time.time()) + 600}, b"k" * 32, algorithm="HS256")
        return {"Authorization": f"Bearer {t}"}

    assert [get(port, headers=token("ann"))[0] for _ in range(4)] == [200, 200, 200, 429]
    assert get(port, headers=token("bob"))[0] == 200  # another subject, from the same address


def _closed_at_once(s: socket.socket) -> bool:
    s.settimeout(5)
    try:
        return s.recv(100) == b""
    except ConnectionResetError:
        return True


def test_connections_per_address_are_limited(pipework, tmp_path: Path) -> None:
    port = free_port()
    run_script(
        pipework,
        tmp_path / "c.py",
        "import pipework as pw\n"
        f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.limit_connections(3).demux_http().to(\n"
        "    lambda p: p.replace_message(lambda m: pw.Response('ok')))))\n",
    )
    held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(3)]
    time.sleep(0.2)
    extra = socket.create_connection(("127.0.0.1", port), timeout=5)
    assert _closed_at_once(extra)
    extra.close()
    for s in held:  # the three admitted ones are served
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_response(s.makefile("rb"))[0] == 200
    held.pop().close()
    time.sleep(0.2)
    assert get(port)[0] == 200  # room again
    for s in held:
        s.close()


def test_connections_per_address_across_workers_answered_503(pipework, tmp_path: Path) -> None:
    port = free_port()
    script = tmp_path / "c2.py"
    script.write_text(
        "import pipework as pw\n"
        f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.limit_connections(4, status=503)\n"
        "    .demux_http().to(lambda p: p.replace_message(lambda m: pw.Response('ok')))))\n"
    )
    p = pipework("run", str(script), "--workers", "2")
    p.wait_log("listening on tcp", count=2)
    held = []
    for _ in range(12):
        held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        time.sleep(0.02)
    codes = []
    for s in held:
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        codes.append(read_response(s.makefile("rb"))[0])
    assert collections.Counter(codes) == {200: 4, 503: 8}
    assert {"[w1]", "[w2]"} <= set(p.output().split()), p.output()  # both workers refused some
    for s in held:
        s.close()


def test_allow_ips_files_are_reloaded(pipework, tmp_path: Path) -> None:
    allow = tmp_path / "allow.txt"
    allow.write_text("# who may come in\n127.0.0.1\n")
    port = free_port()
    p = run_script(
        pipework,
        tmp_path / "a.py",
        "import pipework as pw\n"
        f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.demux_http().to(\n"
        f"    lambda p: p.allow_ips({str(allow)!r}, reload=0.1)\n"
        "        .replace_message(lambda m: pw.Response('ok')))))\n",
    )
    assert get(port)[0] == 200

    def replace(text: str) -> None:
        new = tmp_path / "allow.new"
        new.write_text(text)
        os.replace(new, allow)  # as an editor or a deploy tool writes: whole, at once

    replace("10.0.0.0/8\n")
    p.wait_log("allow_ips: reloaded")
    assert get(port)[0] == 403
    replace("10.0.0.0/8\n127.0.0.300\n")  # a mistake on line 2: the lists in use stay
    p.wait_log(rf"allow_ips: {allow}:2: .*127\.0\.0\.300.*; keeping the lists in use")
    assert get(port)[0] == 403
    replace("10.0.0.0/8\n127.0.0.0/8\n")
    p.wait_log("allow_ips: reloaded", count=2)
    assert get(port)[0] == 200

"""The HTTP reverse proxy against real servers: nginx as the upstream, curl and raw sockets as clients."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import free_port, require, run_script, wait_port
from peers import TcpServer

ECHO = (
    "xff=$http_x_forwarded_for proto=$http_x_forwarded_proto host=$http_x_forwarded_host via=$http_via "
    "conn=$http_connection te=$http_te hop=$http_x_hop\\n"
)


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """nginx serving tmp_path/www on a free port, echoing request headers on /headers."""
    exe = require("nginx")
    www = tmp_path / "www"
    www.mkdir()
    port = free_port()
    temp = "\n".join(
        f"{k}_temp_path {tmp_path}/{k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        textwrap.dedent(f"""\
        daemon off;
        master_process off;
        worker_processes 1;
        pid {tmp_path}/nginx.pid;
        error_log stderr warn;
        events {{ worker_connections 1024; }}
        http {{
          {temp}
          access_log off;
          client_max_body_size 200m;
          server {{
            listen 127.0.0.1:{port};
            root {www};
            location /headers {{
              default_type text/plain;
              return 200 "{ECHO}";
            }}
            location /upload {{
              client_body_buffer_size 1m;
              proxy_pass http://127.0.0.1:{port}/headers;
            }}
          }}
        }}
    """)
    )
    proc = subprocess.Popen([exe, "-p", str(tmp_path), "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        wait_port("127.0.0.1", port)
        yield port, www
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(params=["direct", "pipeline"])
def route(request: pytest.FixtureRequest) -> str:
    """How requests reach proxy(): "direct" (a lone proxy under demux_http: no sub-pipeline) or
    "pipeline" (another filter before it: a sub-pipeline per request, events in and out)."""
    return str(request.param)


def start_proxy(  # type: ignore[no-untyped-def]
    pipework, tmp_path: Path, target: str, route: str = "direct", **opts: object
):
    port = free_port()
    args = ", ".join(f"{k}={v!r}" for k, v in opts.items())
    before = "" if route == "direct" else ".on_start(lambda: None)"
    p = run_script(
        pipework,
        tmp_path / "proxy.py",
        "import pipework as pw\n"
        f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.demux_http().to(\n"
        f"    lambda p: p{before}.proxy({target!r}{', ' + args if args else ''}))))\n",
    )
    return p, port


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    require("curl")
    return subprocess.run(
        ["curl", "-s", "--max-time", "20", *args], capture_output=True, text=True, timeout=30, check=False
    )


def test_get_head_and_404_through_to_nginx(pipework, route: str, tmp_path: Path, nginx) -> None:
    nport, www = nginx
    (www / "a.txt").write_text("alpha\n")
    _, port = start_proxy(pipework, tmp_path, f"http://127.0.0.1:{nport}", route=route)
    r = curl("-i", f"http://127.0.0.1:{port}/a.txt")
    assert r.stdout.startswith("HTTP/1.1 200 OK")
    assert r.stdout.endswith("\n\nalpha\n")
    assert "via: 1.1 pipework" in r.stdout.lower()
    r = curl("-I", f"http://127.0.0.1:{port}/a.txt")
    assert "content-length: 6" in r.stdout.lower()
    assert curl("-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{port}/missing").stdout == "404"


def test_forwarded_headers_and_hop_by_hop_stripped(pipework, route: str, tmp_path: Path, nginx) -> None:
    nport, _ = nginx
    _, port = start_proxy(pipework, tmp_path, f"http://127.0.0.1:{nport}", route=route)
    r = curl(
        "-H",
        "X-Forwarded-For: 10.1.1.1",
        "-H",
        "Connection: x-hop",
        "-H",
        "X-Hop: secret",
        "-H",
        "TE: trailers",
        f"http://127.0.0.1:{port}/headers",
    )
    assert r.stdout == (
        f"xff=10.1.1.1, 127.0.0.1 proto=http host=127.0.0.1:{port} via=1.1 pipework conn= te= hop=\n"
    )


def test_keep_alive_to_the_upstream_is_reused(pipework, route: str, tmp_path: Path) -> None:
    async def counting(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        while True:
            head = await r.readuntil(b"\r\n\r\n")
            if not head:
                return
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await w.drain()

    backend = TcpServer(counting)
    try:
        _, port = start_proxy(pipework, tmp_path, backend.address, route=route)
        for _ in range(20):
            assert curl(f"http://127.0.0.1:{port}/").stdout == "ok"
        assert backend.connections == 1
    finally:
        backend.close()


def test_stale_kept_alive_connection_is_retried_for_get(pipework, route: str, tmp_path: Path) -> None:
    async def one_per_connection(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await r.readuntil(b"\r\n\r\n")
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")  # says keep-alive, then closes
        await w.drain()
        await asyncio.sleep(0.05)
        w.close()

    backend = TcpServer(one_per_connection)
    try:
        _, port = start_proxy(pipework, tmp_path, backend.address, route=route)
        for _ in range(5):
            assert curl(f"http://127.0.0.1:{port}/").stdout == "ok"
            time.sleep(0.15)  # the server has closed the kept-alive connection by now
        assert backend.connections == 5
    finally:
        backend.close()


def test_bodies_stream_both_ways(pipework, route: str, tmp_path: Path, nginx) -> None:
    nport, www = nginx
    big = os.urandom(8 * 1024 * 1024)
    (www / "big.bin").write_bytes(big)
    _, port = start_proxy(pipework, tmp_path, f"http://127.0.0.1:{nport}", route=route)
    out = tmp_path / "got.bin"
    r = curl("-o", str(out), "-w", "%{http_code}", f"http://127.0.0.1:{port}/big.bin")
    assert r.stdout == "200"
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(big).digest()
    up = tmp_path / "up.bin"
    up.write_bytes(os.urandom(3 * 1024 * 1024))
    for mode in ([], ["-H", "Transfer-Encoding: chunked"]):
        r = curl(
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--data-binary",
            f"@{up}",
            *mode,
            f"http://127.0.0.1:{port}/upload",
        )
        assert r.stdout == "200"


def test_unreachable_upstream_is_502_and_slow_one_is_504(pipework, route: str, tmp_path: Path) -> None:
    _, port = start_proxy(pipework, tmp_path, f"http://127.0.0.1:{free_port()}", route=route)
    r = curl("-w", "%{http_code}", f"http://127.0.0.1:{port}/")
    assert r.stdout.endswith("502")
    assert "ConnectionRefused" in r.stdout

    async def silent(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    backend = TcpServer(silent)
    try:
        _, port2 = start_proxy(pipework, tmp_path, backend.address, route=route, read_timeout=0.5)
        t0 = time.monotonic()
        assert curl("-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{port2}/").stdout == "504"
        assert 0.4 < time.monotonic() - t0 < 5
    finally:
        backend.close()


def test_bad_upstream_response_is_502(pipework, route: str, tmp_path: Path) -> None:
    async def garbage(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await r.readuntil(b"\r\n\r\n")
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello")
        await w.drain()

    backend = TcpServer(garbage)
    try:
        p, port = start_proxy(pipework, tmp_path, backend.address, route=route)
        assert curl("-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{port}/").stdout == "502"
        p.wait_log("Content-Length")  # "bad Content-Length" or llhttp's "Duplicate Content-Length"
    finally:
        backend.close()


def test_pipelined_requests_through_the_proxy(pipework, route: str, tmp_path: Path, nginx) -> None:
    nport, www = nginx
    for name in "abc":
        (www / name).write_text(name * 3)
    _, port = start_proxy(pipework, tmp_path, f"http://127.0.0.1:{nport}", route=route)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(
            b"".join(b"GET /%s HTTP/1.1\r\nHost: x\r\n\r\n" % n.encode() for n in "abc")
            + b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        got = b""
        while chunk := s.recv(65536):
            got += chunk
    bodies = [part.split(b"\r\n\r\n", 1)[1][:3] for part in got.split(b"HTTP/1.1 200 OK")[1:]]
    assert bodies == [b"aaa", b"bbb", b"ccc", b"aaa"]


def test_messages_seen_and_replaced_around_the_proxy(pipework, tmp_path: Path, nginx) -> None:
    nport, www = nginx
    (www / "page.txt").write_text("from nginx\n")
    port = free_port()
    script = tmp_path / "m.py"
    script.write_text(
        textwrap.dedent(f"""\
        import logging
        import pipework as pw

        log = logging.getLogger("seen")

        def note(msg):
            log.warning("response %d with %d bytes", msg.head.status, len(msg.body))

        def answer(req):
            return pw.Response(f"answered here: {{req.head.target}}\\n")

        upstream = pw.pipeline(lambda p: p.proxy("http://127.0.0.1:{nport}").handle_message(note))
        local = pw.pipeline(lambda p: p.replace_message(answer))
        pw.listen("127.0.0.1:{port}", pw.pipeline(lambda p: p.demux_http().to(
            lambda p: p.pipe(lambda req: local if req.head.path == "/local" else upstream))))
    """)
    )
    p = pipework("run", str(script))
    p.wait_log("listening on tcp")
    assert curl(f"http://127.0.0.1:{port}/page.txt").stdout == "from nginx\n"
    p.wait_log("response 200 with 11 bytes")
    assert curl(f"http://127.0.0.1:{port}/local").stdout == "answered here: /local\n"


def test_mux_http_sends_requests_as_made_over_a_kept_alive_connection(pipework, tmp_path: Path) -> None:
    """mux_http is the client side without the forwarding fields: the request a script made goes
    as it is, gets the target's Host, a body of unknown length goes chunked, the connection is
    reused; the upstream's answer (its framing redone) comes back."""
    seen: list[bytes] = []

    async def recorder(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        while True:
            head = await r.readuntil(b"\r\n\r\n")
            body = await r.readuntil(b"0\r\n\r\n") if b"chunked" in head else b""
            seen.append(head + body)
            w.write(b"HTTP/1.1 201 Created\r\nContent-Length: %d\r\nX-Up: yes\r\n\r\n" % len(head) + head)
            await w.drain()

    backend = TcpServer(recorder)
    port = free_port()
    script = tmp_path / "mux.py"
    script.write_text(
        textwrap.dedent(f"""\
        import pipework as pw

        def remake(msg):
            head = pw.RequestHead("POST", "/api" + msg.head.target, "1.1", [(b"x-made", b"here")])
            return pw.Message(head, b"payload")

        pw.listen("127.0.0.1:{port}", pw.pipeline(lambda p: p.demux_http().to(
            lambda p: p.replace_message(remake).mux_http("http://{backend.address}"))))
    """)
    )
    try:
        p = pipework("run", str(script))
        p.wait_log("listening on tcp")
        for path in ("/one", "/two?x=1"):
            r = curl("-i", f"http://127.0.0.1:{port}{path}")
            status, _, rest = r.stdout.partition("\n")
            assert status == "HTTP/1.1 201 Created"
            assert "X-Up: yes" in rest
        assert backend.connections == 1
        first, second = seen
        assert first.startswith(b"POST /api/one HTTP/1.1\r\n")
        assert second.startswith(b"POST /api/two?x=1 HTTP/1.1\r\n")
        lower = first.lower()
        assert f"host: {backend.address}\r\n".encode() in lower
        assert b"x-made: here\r\n" in lower
        assert b"via:" not in lower
        assert b"x-forwarded" not in lower
        assert b"transfer-encoding: chunked\r\n" in lower
        assert first.endswith(b"\r\n\r\n7\r\npayload\r\n0\r\n\r\n")
    finally:
        backend.close()


def test_http10_client_gets_a_streamed_body_without_chunked_coding(
    pipework, route: str, tmp_path: Path
) -> None:
    """An HTTP/1.0 client cannot read chunked coding: a body of unknown length (the upstream
    sent it chunked) streams to it as it is, and the close ends it."""
    body = os.urandom(100_000)

    async def chunked(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await r.readuntil(b"\r\n\r\n")
        w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for i in range(0, len(body), 30_000):
            piece = body[i : i + 30_000]
            w.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await w.drain()
        w.write(b"0\r\n\r\n")
        await w.drain()

    backend = TcpServer(chunked)
    try:
        _, port = start_proxy(pipework, tmp_path, backend.address, route=route)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /big HTTP/1.0\r\nHost: x\r\n\r\n")
            got = b""
            while chunk := s.recv(65536):
                got += chunk
        head, _, rest = got.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"transfer-encoding" not in head.lower()
        assert b"connection: close" in head.lower()
        assert rest == body
    finally:
        backend.close()


def test_a_streamed_body_keeps_its_content_length(pipework, route: str, tmp_path: Path, nginx) -> None:
    """A large response keeps the upstream's Content-Length (no chunked coding) whether the proxy
    answers directly or through the events of a sub-pipeline, as nginx forwards it."""
    nport, www = nginx
    (www / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    _, port = start_proxy(pipework, tmp_path, f"http://127.0.0.1:{nport}", route=route)
    r = curl("-sS", "-D", "-", "-o", "/dev/null", f"http://127.0.0.1:{port}/big.bin")
    head = r.stdout.lower().splitlines()
    assert "content-length: 3145728" in head
    assert not [line for line in head if line.startswith("transfer-encoding")]


@pytest.mark.parametrize("change", ["grow", "shrink"])
def test_a_body_that_no_longer_matches_its_content_length(
    pipework, tmp_path: Path, nginx, change: str
) -> None:
    """A step that changes a streamed body but leaves its Content-Length: the client never reads
    past the length (extra bytes dropped) and the connection closes after a short one; both logged."""
    nport, www = nginx
    (www / "big.bin").write_bytes(b"x" * (1024 * 1024))
    port = free_port()
    op = "d + d" if change == "grow" else "d[: len(d) // 2]"
    p = run_script(
        pipework,
        tmp_path / "lying.py",
        "import pipework as pw\n"
        f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.demux_http().to(\n"
        f"    lambda p: p.proxy('127.0.0.1:{nport}').replace_data(lambda d: {op}))))\n",
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while chunk := s.recv(1 << 20):  # the connection closes after the first answer
            got += chunk
    head, _, body = got.partition(b"\r\n\r\n")
    assert b"content-length: 1048576\r\n" in head.lower() + b"\r\n"
    if change == "grow":
        assert body == b"x" * 1048576  # exactly the length, the rest dropped
        p.wait_log("went on past its Content-Length")
    else:
        assert len(body) < 1048576
        p.wait_log("bytes short of its Content-Length")

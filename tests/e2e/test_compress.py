"""Response compression end to end: nginx serves files, pipework compresses by Accept-Encoding,
curl --compressed and the codecs' own libraries decode. Request decompression: curl and httpx send
encoded bodies, an h11 server behind pipework receives them plain."""

from __future__ import annotations

import gzip
import json
import os
import re
import socket
import subprocess
import textwrap
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import brotli
import h11
import httpx
import pytest
import zstandard
from helpers import free_port, require, run_script, wait_port

BODY = json.dumps([{"id": i, "name": f"item {i}", "tags": ["a", "b", "c"]} for i in range(400)]).encode()


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[int]:
    exe = require("nginx")
    www = tmp_path / "www"
    www.mkdir()
    (www / "data.json").write_bytes(BODY)
    (www / "tiny.json").write_bytes(b"[1]")
    (www / "photo.png").write_bytes(b"\x89PNG" + bytes(5000))
    port = free_port()
    temp = "\n".join(
        f"{k}_temp_path {tmp_path}/{k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        textwrap.dedent(f"""\
        daemon off; master_process off; worker_processes 1; pid {tmp_path}/nginx.pid; error_log stderr warn;
        events {{ worker_connections 64; }}
        http {{ {temp} access_log off; types {{ application/json json; image/png png; }}
          server {{ listen 127.0.0.1:{port}; root {www}; }} }}
    """)
    )
    proc = subprocess.Popen([exe, "-p", str(tmp_path), "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        wait_port("127.0.0.1", port)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def fetch(port: int, path: str, accept: str | None, head: bool = False) -> tuple[dict[str, str], bytes]:
    args = ["curl", "-sS", "--max-time", "10", "-D", "-", "-o", "-", f"http://127.0.0.1:{port}{path}"]
    if accept is not None:
        args[1:1] = ["-H", f"Accept-Encoding: {accept}"]
    if head:
        args[1:1] = ["-I"]
    out = subprocess.run(args, capture_output=True, timeout=30, check=True).stdout
    raw_head, _, body = out.partition(b"\r\n\r\n")
    fields = {}
    for line in raw_head.decode("latin-1").split("\r\n")[1:]:
        k, _, v = line.partition(":")
        fields[k.strip().lower()] = v.strip()
    return fields, body


def test_compression_by_accept_encoding(pipework, tmp_path: Path, nginx: int) -> None:
    port = free_port()
    run_script(
        pipework,
        tmp_path / "z.py",
        "import pipework as pw\n"
        f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.demux_http().to(\n"
        f"    lambda p: p.compress_http().to(lambda p: p.proxy('127.0.0.1:{nginx}')))))\n",
    )
    for accept, coding, decode in (
        ("gzip", "gzip", gzip.decompress),
        ("br;q=1, gzip;q=0.5", "br", brotli.decompress),
        ("zstd, gzip;q=0.1", "zstd", lambda b: zstandard.ZstdDecompressor().decompressobj().decompress(b)),
    ):
        fields, body = fetch(port, "/data.json", accept)
        assert fields["content-encoding"] == coding
        assert "accept-encoding" in fields["vary"].lower()
        assert fields.get("content-length", str(len(body))) == str(len(body))  # of what was sent
        assert len(body) < len(BODY) // 3
        assert decode(body) == BODY
    fields, body = fetch(port, "/data.json", None)  # no Accept-Encoding: as it is
    assert "content-encoding" not in fields
    assert body == BODY
    fields, body = fetch(port, "/data.json", "identity, gzip;q=0")
    assert "content-encoding" not in fields
    fields, _ = fetch(port, "/tiny.json", "gzip")  # too small to be worth it
    assert "content-encoding" not in fields
    fields, _ = fetch(port, "/photo.png", "gzip")  # compressed already
    assert "content-encoding" not in fields
    fields, _ = fetch(port, "/data.json", "gzip", head=True)  # HEAD: the identity length stays
    assert "content-encoding" not in fields
    assert fields["content-length"] == str(len(BODY))
    require("curl")
    r = subprocess.run(["curl", "-sS", "--compressed", f"http://127.0.0.1:{port}/data.json"],
                       capture_output=True, timeout=30, check=True)  # fmt: skip
    assert r.stdout == BODY


# --- request bodies: decompress_request -------------------------------------------------------------


class BodyEcho:
    """An HTTP/1.1 server written with h11 (a peer, no pipework code) answering each request with
    its body as received and, in ``x-got``, its framing fields as JSON; ``requests`` counts the
    requests that arrived complete, ``broken`` those whose body stopped short."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.requests = 0
        self.broken = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        h = h11.Connection(h11.SERVER)
        with conn:
            while True:
                try:
                    request, body = self._read(conn, h)
                except (h11.RemoteProtocolError, OSError):
                    self.broken += 1
                    return
                if request is None:
                    if body:
                        self.broken += 1
                    return
                self.requests += 1
                got = {
                    k.decode(): v.decode()
                    for k, v in request.headers
                    if k in (b"content-encoding", b"content-length", b"transfer-encoding")
                }
                conn.sendall(h.send(h11.Response(status_code=200, headers=[
                    ("content-length", str(len(body))), ("x-got", json.dumps(got))])))  # fmt: skip
                conn.sendall(h.send(h11.Data(data=body)) + h.send(h11.EndOfMessage()))
                h.start_next_cycle()

    @staticmethod
    def _read(conn: socket.socket, h: h11.Connection) -> tuple[h11.Request | None, bytes]:
        request, body = None, bytearray()
        while True:
            e = h.next_event()
            if e is h11.NEED_DATA:
                h.receive_data(conn.recv(65536))
            elif isinstance(e, h11.Request):
                request = e
            elif isinstance(e, h11.Data):
                body += e.data
            elif isinstance(e, h11.EndOfMessage):
                return request, bytes(body)
            else:  # ConnectionClosed
                return None, bytes(body) if request is not None else b""

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def inflating(pipework, tmp_path: Path) -> Iterator[tuple[int, BodyEcho]]:
    echo = BodyEcho()
    port = free_port()
    run_script(
        pipework,
        tmp_path / "inflate.py",
        "import pipework as pw\n"
        f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.demux_http().to(\n"
        f"    lambda p: p.decompress_request(max_size={1024 * 1024}).proxy('127.0.0.1:{echo.port}'))))\n",
    )
    try:
        yield port, echo
    finally:
        echo.close()


def test_request_bodies_are_inflated_before_the_upstream(
    inflating: tuple[int, BodyEcho], tmp_path: Path
) -> None:
    port, _ = inflating
    url = f"http://127.0.0.1:{port}/upload"
    # curl sends a gzip file as it is, with the coding named
    gz = tmp_path / "body.gz"
    gz.write_bytes(gzip.compress(BODY))
    require("curl")
    r = subprocess.run(
        ["curl", "-sS", "--max-time", "10", "-D", "-", "--data-binary", f"@{gz}",
         "-H", "Content-Encoding: gzip", "-H", "Content-Type: application/json", url],
        capture_output=True, timeout=30, check=True,
    )  # fmt: skip
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    assert body == BODY
    got = json.loads(re.search(rb"x-got: (.*)\r\n", head).group(1))  # type: ignore[union-attr]
    assert got == {"transfer-encoding": "chunked"}  # no Content-Encoding, no stale Content-Length
    # httpx with each coding, whole and as a chunked stream
    zraw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    codings = {
        "br": brotli.compress(BODY),
        "zstd": zstandard.ZstdCompressor().compress(BODY),
        "deflate": zlib.compress(BODY),  # RFC 9110: the zlib format
        "x-gzip": gzip.compress(BODY),
    }
    with httpx.Client(timeout=10) as client:
        for coding, data in codings.items():
            resp = client.post(url, content=data, headers={"content-encoding": coding})
            assert resp.status_code == 200, coding
            assert resp.content == BODY, coding
        raw_deflate = zraw.compress(BODY) + zraw.flush()  # what some clients send as deflate
        assert client.post(url, content=raw_deflate, headers={"content-encoding": "deflate"}).content == BODY
        stacked = gzip.compress(brotli.compress(BODY))  # "br, gzip": br first, then gzip
        assert client.post(url, content=stacked, headers={"content-encoding": "br, gzip"}).content == BODY
        pieces = [data[i : i + 1000] for i in range(0, len(data), 1000)]
        resp = client.post(url, content=iter(pieces), headers={"content-encoding": "x-gzip"})
        assert resp.content == BODY
        # no coding: untouched, Content-Length kept
        resp = client.post(url, content=b"plain")
        assert resp.content == b"plain"
        assert json.loads(resp.headers["x-got"]) == {"content-length": "5"}


def test_bombs_garbage_and_unknown_codings_are_refused(
    inflating: tuple[int, BodyEcho], pipework, tmp_path: Path
) -> None:
    port, echo = inflating
    url = f"http://127.0.0.1:{port}/upload"
    bomb = gzip.compress(bytes(64 * 1024 * 1024), 9)  # 64 KiB that inflate to 64 MiB
    assert len(bomb) < 100_000
    zbomb = zstandard.ZstdCompressor(level=19).compress(bytes(64 * 1024 * 1024))
    with httpx.Client(timeout=10) as client:
        for coding, data in (("gzip", bomb), ("zstd", zbomb)):
            resp = client.post(url, content=data, headers={"content-encoding": coding})
            assert resp.status_code == 413, coding
        resp = client.post(url, content=os.urandom(4000), headers={"content-encoding": "gzip"})
        assert resp.status_code == 400
        resp = client.post(url, content=b"\x1f\x8b" + os.urandom(100), headers={"content-encoding": "br"})
        assert resp.status_code == 400
        truncated = gzip.compress(BODY)[:-20]
        resp = client.post(url, content=truncated, headers={"content-encoding": "gzip"})
        assert resp.status_code == 400
        resp = client.post(url, content=b"xyz", headers={"content-encoding": "compress"})
        assert resp.status_code == 415
        assert resp.headers["accept-encoding"] == "gzip, deflate, br, zstd"  # RFC 9110 15.5.16
        assert echo.requests == 0  # none of them reached the upstream whole
        # a body good at first that inflates past the limit later: the upstream request is cut
        z = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)

        def growing() -> Iterator[bytes]:
            yield z.compress(BODY) + z.flush(zlib.Z_SYNC_FLUSH)
            time.sleep(0.3)
            for _ in range(64):
                yield z.compress(bytes(1024 * 1024)) + z.flush(zlib.Z_SYNC_FLUSH)
            yield z.flush()

        resp = client.post(url, content=growing(), headers={"content-encoding": "gzip"})
        assert resp.status_code == 413
        resp = client.post(url, content=gzip.compress(b"fine"), headers={"content-encoding": "gzip"})
        assert resp.content == b"fine"
    assert echo.requests == 1
    deadline = time.monotonic() + 5
    while echo.broken < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert echo.broken == 1  # the cut request never completed at the upstream

"""Response compression end to end: nginx serves files, pipework compresses by Accept-Encoding,
curl --compressed and the codecs' own libraries decode."""

from __future__ import annotations

import gzip
import json
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import brotli
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

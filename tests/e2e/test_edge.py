"""Edge policies end to end: field changes both ways, error pages, maintenance mode (curl, a
real backend process)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from helpers import free_port, require, run_script


def curl(*args: str) -> str:
    require("curl")
    return subprocess.run(["curl", "-sS", "-i", "--max-time", "10", *args], capture_output=True, text=True,
                          timeout=30, check=True).stdout  # fmt: skip


def test_headers_error_pages_and_maintenance(pipework, tmp_path: Path, backends) -> None:
    (b,) = backends(1)
    (tmp_path / "502.html").write_text("<h1>we will be right back</h1>\n")
    switch = tmp_path / "down"
    port = free_port()
    run_script(
        pipework,
        tmp_path / "edge.py",
        "import pipework as pw\n"
        f"backend = pw.pipeline(lambda p: p.proxy({b.address!r}, retry=False))\n"
        "request = {'set': {'x-env': 'prod'}, 'remove': ['x-debug']}\n"
        "hardened = pw.pipeline(lambda p: p.headers(request=request,\n"
        "    response={'remove': ['x-backend']}, security=True).to(backend))\n"
        f"pages = {{502: {str(tmp_path / '502.html')!r}}}\n"
        f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.demux_http().to(\n"
        f"    lambda p: p.maintenance({str(switch)!r}, retry_after=120).error_pages(pages).to(hardened))))\n",
    )
    url = f"http://127.0.0.1:{port}/_echo"
    r = curl("-H", "X-Debug: 1", url)
    fields, _, body = r.partition("\n\n")  # text mode: CRLF read as LF
    assert "x-content-type-options: nosniff" in fields.lower()
    assert "x-frame-options: SAMEORIGIN" in fields
    assert "x-backend" not in fields.lower()
    assert "x-env: prod" in body.lower()
    assert "x-debug" not in body.lower()
    b.kill()  # the backend is gone: 502, with the site's page
    r = curl(url)
    assert r.startswith("HTTP/1.1 502")
    assert r.endswith("<h1>we will be right back</h1>\n")
    switch.touch()
    r = curl(url)
    assert r.startswith("HTTP/1.1 503")
    assert "retry-after: 120" in r.lower()
    assert r.endswith("down for maintenance\n")
    switch.unlink()
    time.sleep(0.05)
    assert curl(url).startswith("HTTP/1.1 502")

"""Basic authentication and API keys in front of a real backend, with htpasswd files made by
Apache's htpasswd tool and curl as the client."""

from __future__ import annotations

import subprocess
from pathlib import Path

from helpers import free_port, require, run_script


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    require("curl")
    return subprocess.run(
        ["curl", "-sS", "--max-time", "10", *args], capture_output=True, text=True, timeout=30, check=False
    )


def test_basic_auth_with_an_htpasswd_file(pipework, tmp_path: Path, backends) -> None:
    (b,) = backends(1)
    users = tmp_path / "users"
    exe = require("htpasswd")
    subprocess.run([exe, "-cbB", str(users), "ann", "s3cret"], check=True, capture_output=True, timeout=30)
    subprocess.run([exe, "-bm", str(users), "bob", "hunter2"], check=True, capture_output=True, timeout=30)
    port = free_port()
    run_script(
        pipework,
        tmp_path / "auth.py",
        "import pipework as pw\n"
        f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.demux_http().to(\n"
        f"    lambda p: p.basic_auth({str(users)!r}, realm='staff').proxy({b.address!r}))))\n",
    )
    url = f"http://127.0.0.1:{port}/x"
    r = curl("-i", url)
    assert r.stdout.startswith("HTTP/1.1 401")
    assert 'www-authenticate: Basic realm="staff", charset="UTF-8"\n' in r.stdout
    assert curl("-o", "/dev/null", "-w", "%{http_code}", "-u", "ann:wrong", url).stdout == "401"
    assert curl("-u", "ann:s3cret", url).stdout == b.name
    assert curl("-u", "bob:hunter2", url).stdout == b.name
    assert b.count() == 2  # refused requests never reached the backend


def test_api_keys_in_a_header_or_the_query(pipework, tmp_path: Path, backends) -> None:
    (b,) = backends(1)
    port = free_port()
    run_script(
        pipework,
        tmp_path / "keys.py",
        "import pipework as pw\n"
        "keys = {'k-123': 'mobile-app', 'k-456': 'partner'}\n"
        "def tag(e, ctx):\n"
        "    e.head.raw_headers.append((b'x-client', ctx.vars.client.encode()))\n"
        f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.demux_http().to(\n"
        "    lambda p: p.api_key(keys, query='api_key')\n"
        "        .handle_message_start(tag)\n"
        f"        .proxy({b.address!r}))))\n",
    )
    url = f"http://127.0.0.1:{port}/_echo"
    r = curl("-i", url)
    assert r.stdout.startswith("HTTP/1.1 401")
    assert r.stdout.endswith("an API key is required in the x-api-key field\n")
    assert curl(url + "?api_key=nope").stdout == "unknown API key\n"
    assert "x-client: mobile-app" in curl("-H", "X-Api-Key: k-123", url).stdout.lower()
    assert "x-client: partner" in curl(url + "?api_key=k-456").stdout.lower()

"""Basic authentication and API keys in front of a real backend, with htpasswd files made by
Apache's htpasswd tool and curl as the client."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from helpers import free_port, require, run_script, wait_port


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


def gated(pipework, tmp_path: Path, backend: str, gate: str, prelude: str = "") -> int:  # type: ignore[no-untyped-def]
    port = free_port()
    run_script(
        pipework,
        tmp_path / "gate.py",
        f"import pipework as pw\n{prelude}\n"
        f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.demux_http().to(\n"
        f"    lambda p: p.{gate}.proxy({backend!r}))))\n",
    )
    return port


def code(*args: str) -> str:
    return curl("-o", "/dev/null", "-w", "%{http_code}", *args).stdout


def test_allow_ips_with_trusted_proxies(pipework, tmp_path: Path, backends) -> None:
    (b,) = backends(1)
    lists = tmp_path / "deny.txt"
    lists.write_text("# abusers\n203.0.113.7\n")
    port = gated(
        pipework, tmp_path, b.address,
        f"allow_ips(['127.0.0.0/8', '198.51.100.0/24'], deny={str(lists)!r}, trusted_proxies=['127.0.0.1'])",
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/x"
    assert code(url) == "200"  # the peer itself, no X-Forwarded-For
    assert code("-H", "X-Forwarded-For: 198.51.100.9", url) == "200"
    assert code("-H", "X-Forwarded-For: 192.0.2.1", url) == "403"  # not allowed
    assert code("-H", "X-Forwarded-For: 203.0.113.7", url) == "403"  # denied by the file
    assert code("-H", "X-Forwarded-For: 192.0.2.1, 198.51.100.9", url) == "200"  # the rightmost untrusted


def test_jwt_auth_with_pyjwt_tokens(pipework, tmp_path: Path, backends) -> None:
    (b,) = backends(1)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path / "pub.pem"
    pem.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    port = gated(
        pipework, tmp_path, b.address, f"jwt_auth({str(pem)!r}, algorithms=['ES256'], audience='api')"
    )
    url = f"http://127.0.0.1:{port}/x"
    now = int(time.time())
    good = jwt.encode({"sub": "ann", "aud": "api", "exp": now + 60}, key, algorithm="ES256")
    expired = jwt.encode({"sub": "ann", "aud": "api", "exp": now - 3600}, key, algorithm="ES256")
    other = jwt.encode({"sub": "ann", "aud": "web", "exp": now + 60}, key, algorithm="ES256")
    assert curl("-H", f"Authorization: Bearer {good}", url).stdout == b.name
    r = curl("-i", "-H", f"Authorization: Bearer {expired}", url)
    assert r.stdout.startswith("HTTP/1.1 401")
    assert 'www-authenticate: Bearer error="invalid_token", error_description="expired"' in r.stdout
    assert code("-H", f"Authorization: Bearer {other}", url) == "401"
    assert code(url) == "401"
    assert b.count() == 1


def test_rate_limit_answers_429_with_retry_after(pipework, tmp_path: Path, backends) -> None:
    (b,) = backends(1)
    port = gated(pipework, tmp_path, b.address, "rate_limit(3, 60, key='header:x-user')")
    url = f"http://127.0.0.1:{port}/x"
    got = [code("-H", "X-User: ann", url) for _ in range(5)]
    assert got == ["200", "200", "200", "429", "429"]
    assert code("-H", "X-User: bob", url) == "200"  # a key of its own
    r = curl("-i", "-H", "X-User: ann", url)
    assert r.stdout.startswith("HTTP/1.1 429")
    fields = r.stdout.lower()
    assert "ratelimit-limit: 3\r" in fields or "ratelimit-limit: 3\n" in fields
    assert "ratelimit-remaining: 0" in fields
    assert "retry-after: " in fields


def test_cors_preflight_and_responses(pipework, tmp_path: Path, backends) -> None:
    (b,) = backends(1)
    port = free_port()
    run_script(
        pipework,
        tmp_path / "cors.py",
        "import pipework as pw\n"
        "origins = ['https://app.example.com', 'https://*.tools.example.com']\n"
        f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.demux_http().to(\n"
        "    lambda p: p.cors(origins, credentials=True, expose=['x-backend'], max_age=60)\n"
        f"        .to(lambda p: p.proxy({b.address!r})))))\n",
    )
    url = f"http://127.0.0.1:{port}/api"
    pre = [
        "-X",
        "OPTIONS",
        "-H",
        "Access-Control-Request-Method: PUT",
        "-H",
        "Access-Control-Request-Headers: Content-Type",
    ]
    r = curl("-i", *pre, "-H", "Origin: https://app.example.com", url)
    assert r.stdout.startswith("HTTP/1.1 204")
    fields = r.stdout.lower()
    assert "access-control-allow-origin: https://app.example.com" in fields
    assert "access-control-allow-credentials: true" in fields
    assert "access-control-allow-headers: content-type" in fields
    assert "access-control-max-age: 60" in fields
    assert b.count() == 0  # answered here
    assert curl("-i", *pre, "-H", "Origin: https://evil.example.net", url).stdout.startswith("HTTP/1.1 403")
    r = curl("-i", "-H", "Origin: https://a.tools.example.com", url)
    fields = r.stdout.lower()
    assert "access-control-allow-origin: https://a.tools.example.com" in fields
    assert "vary: origin" in fields
    assert "access-control-expose-headers: x-backend" in fields
    r = curl("-i", "-H", "Origin: https://evil.example.net", url)
    assert r.stdout.startswith("HTTP/1.1 200")  # served, but without CORS fields the browser hides it
    assert "access-control-allow-origin" not in r.stdout.lower()


def test_request_id_and_trace_context_reach_the_backend_and_the_log(
    pipework, tmp_path: Path, backends
) -> None:
    (b,) = backends(1)
    port = free_port()
    p = run_script(
        pipework,
        tmp_path / "ids.py",
        "import pipework as pw\n"
        f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.demux_http(access_log='json').to(\n"
        f"    lambda p: p.request_id().proxy({b.address!r}))))\n",
    )
    url = f"http://127.0.0.1:{port}/_echo"
    seen = curl(url).stdout.lower()
    rid = re.search(r"x-request-id: ([0-9a-f]{32})\r?\n", seen)
    assert rid is not None, seen
    assert re.search(r"traceparent: 00-[0-9a-f]{32}-[0-9a-f]{16}-01\r?\n", seen)
    p.wait_log(rf'"request_id":"{rid.group(1)}"')
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    seen = curl(
        "-H", "X-Request-Id: abc-123", "-H", f"traceparent: 00-{trace}-00f067aa0ba902b7-01", url
    ).stdout
    assert "x-request-id: abc-123" in seen.lower()
    span = re.search(rf"traceparent: 00-{trace}-([0-9a-f]{{16}})-01", seen.lower())
    assert span is not None
    assert span.group(1) != "00f067aa0ba902b7"  # a new span under the caller's trace
    seen = curl("-H", "X-Request-Id: bad id with spaces", url).stdout.lower()
    assert "x-request-id: bad id" not in seen


def test_forward_auth_asks_a_real_service(pipework, tmp_path: Path, backends) -> None:
    app, auth = backends(2)
    port = free_port()
    run_script(
        pipework,
        tmp_path / "fa.py",
        "import pipework as pw\n"
        f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.demux_http().to(\n"
        f"    lambda p: p.forward_auth({auth.address!r}, path='/auth', copy=['x-backend'])\n"
        f"        .proxy({app.address!r}))))\n",
    )
    url = f"http://127.0.0.1:{port}/_echo/app?q=1"
    seen = curl("-H", "Authorization: Bearer t0k3n", url).stdout.lower()
    assert seen.startswith("get /_echo/app?q=1 http/1.1")  # the app got the request
    assert f"x-backend: {auth.name}" in seen  # with the field the service gave, copied
    assert auth.count() == 1
    auth.control(status=401)
    r = curl("-i", url)
    assert r.stdout.startswith("HTTP/1.1 401")  # the service's answer, as it is
    assert r.stdout.endswith(auth.name)
    assert app.count() == 1  # only the allowed request reached the app
    auth.kill()
    assert code(url) == "502"


def test_forward_auth_holds_a_large_upload_until_the_verdict(pipework, tmp_path: Path, backends) -> None:
    """A body far larger than what is held waits (the client is not read) while a slow service
    decides, then goes through whole; a refused one never reaches the app."""
    (auth,) = backends(1)
    auth.control(delay=0.5)
    got: list[bytes] = []

    class App(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append(body)
            answer = hashlib.sha256(body).hexdigest().encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    app = ThreadingHTTPServer(("127.0.0.1", 0), App)
    threading.Thread(target=app.serve_forever, daemon=True).start()
    try:
        port = free_port()
        run_script(
            pipework,
            tmp_path / "fa.py",
            "import pipework as pw\n"
            f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.demux_http().to(\n"
            f"    lambda p: p.forward_auth({auth.address!r}, path='/auth')\n"
            f"        .proxy('127.0.0.1:{app.server_address[1]}'))))\n",
        )
        upload = tmp_path / "up.bin"
        upload.write_bytes(os.urandom(8 * 1024 * 1024))
        r = curl("--data-binary", f"@{upload}", f"http://127.0.0.1:{port}/upload")
        assert r.stdout == hashlib.sha256(upload.read_bytes()).hexdigest()
        auth.control(status=403, delay=0)
        assert code("--data-binary", f"@{upload}", f"http://127.0.0.1:{port}/upload") == "403"
        assert len(got) == 1
    finally:
        app.shutdown()
        app.server_close()


def test_jwt_auth_with_keys_from_a_jwks_url(pipework, tmp_path: Path, backends) -> None:
    (b,) = backends(1)
    keys = {"one": ec.generate_private_key(ec.SECP256R1()), "two": ec.generate_private_key(ec.SECP256R1())}
    www = tmp_path / "www"
    www.mkdir()

    def publish(*kids: str) -> None:
        doc = {"keys": []}
        for kid in kids:
            jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(keys[kid].public_key()))
            doc["keys"].append({**jwk, "kid": kid, "use": "sig", "alg": "ES256"})
        (www / "tmp.json").write_text(json.dumps(doc))
        (www / "tmp.json").replace(www / "jwks.json")

    publish("one")
    jwks_port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(jwks_port), "--bind", "127.0.0.1", "--directory", str(www)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_port("127.0.0.1", jwks_port)
        port = gated(
            pipework, tmp_path, b.address,
            f"jwt_auth(jwks_url='http://127.0.0.1:{jwks_port}/jwks.json', refresh=0.2, algorithms=['ES256'])",
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}/x"
        exp = int(time.time()) + 60

        def token(kid: str) -> str:
            return jwt.encode({"sub": "ann", "exp": exp}, keys[kid], algorithm="ES256", headers={"kid": kid})

        deadline = time.monotonic() + 5
        while code("-H", f"Authorization: Bearer {token('one')}", url) != "200":  # the first fetch
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert code("-H", f"Authorization: Bearer {token('two')}", url) == "401"  # not published yet
        publish("one", "two")  # the issuer rotates its keys
        while code("-H", f"Authorization: Bearer {token('two')}", url) != "200":
            assert time.monotonic() < deadline + 5
            time.sleep(0.05)
    finally:
        server.kill()
        server.wait()

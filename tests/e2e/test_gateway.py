"""``pipework gateway CONFIG.yaml`` end to end: a real gateway process, real backends, curl and
httpx as clients, PyJWT tokens, htpasswd files from Apache's tool, certificates from `pipework cert`."""

from __future__ import annotations

import base64
import gzip
import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from helpers import free_port, require
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]


def start(pipework, config: Path, *extra: str):  # type: ignore[no-untyped-def]
    gw = pipework("gateway", str(config), *extra)
    gw.wait_log("listening on tcp")
    return gw


def get(url: str, **kw: object) -> httpx.Response:
    return httpx.get(url, timeout=10, follow_redirects=False, **kw)  # type: ignore[arg-type]


def test_routes_upstreams_and_policies(pipework, tmp_path: Path, backends) -> None:
    b1, b2 = backends(2)
    port, admin = free_port(), free_port()
    users = tmp_path / "users"
    subprocess.run(
        [require("htpasswd"), "-cbB", str(users), "ann", "s3cret"], check=True, capture_output=True
    )
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "jwt.pem").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("<h1>static</h1>\n")
    config = tmp_path / "gateway.yaml"
    config.write_text(f"""
upstreams:
  both:
    targets: ["{b1.address}", "{b2.address}"]
    balancer: round_robin
  second: ["{b2.address}"]
policies:
  strict:
    - rate_limit: {{limit: 3, window: 1m}}
routes:
  - name: hello
    match: {{path: /hello, methods: [GET]}}
    respond: {{status: 200, body: "hello from the gateway\\n", headers: {{x-from: gateway}}}}
  - name: canary
    match: {{prefix: /api/, headers: {{x-canary: "1"}}}}
    upstream: second
  - name: api
    match: {{prefix: /api/}}
    upstream: both
    rewrite_prefix: /_echo/
    request_headers: {{set: {{x-gateway: "yes"}}}}
    timeouts: {{connect: 2s, read: 10s}}
    retry: 1
  - name: limited
    match: {{prefix: /limited/}}
    upstream: second
    policies: [strict]
  - name: staff
    match: {{prefix: /staff/}}
    upstream: second
    policies:
      - basic_auth: {{users: users, realm: staff}}
  - name: tokens
    match: {{prefix: /jwt/}}
    upstream: second
    policies:
      - jwt_auth: {{keys: jwt.pem, algorithms: [ES256], audience: gw}}
  - name: old
    match: {{path: "/old/{{rest*}}"}}
    redirect: {{location: "/api/{{rest}}?{{query}}", status: 301}}
  - name: site
    match: {{prefix: /site/}}
    static: site
    rewrite_prefix: /
listeners:
  - address: 127.0.0.1:{port}
    policies: [request_id]
    access_log: json
admin:
  address: 127.0.0.1:{admin}
""")
    gw = start(pipework, config)
    base = f"http://127.0.0.1:{port}"
    r = get(f"{base}/hello")
    assert (r.status_code, r.text, r.headers["x-from"]) == (200, "hello from the gateway\n", "gateway")
    assert get(f"{base}/hello", headers={}).status_code == 200
    assert httpx.post(f"{base}/hello", timeout=10).status_code == 404  # methods: [GET]
    served = [get(f"{base}/api/x").headers["x-backend"] for _ in range(6)]
    assert sorted(served) == sorted([b1.name, b2.name] * 3)  # round robin over both
    echoed = get(f"{base}/api/users?id=7").text  # /_echo... is the backend answering with the request
    assert echoed.startswith("GET /_echo/users?id=7 HTTP/1.1\r\n"), echoed
    assert "\r\nx-gateway: yes" in echoed.lower()
    assert re.search(r"(?i)\r\nx-request-id: [0-9a-f]{32}", echoed)
    line = gw.wait_log(r'\{[^\n]*"target":"/api/users\?id=7"[^\n]*\}').group(0)
    assert json.loads(line)["route"] == "api"  # the target as the client sent it, not rewritten
    canary = {get(f"{base}/api/x", headers={"x-canary": "1"}).text for _ in range(4)}
    assert canary == {b2.name}  # that route has no rewrite: the backend answers with its name
    codes = [get(f"{base}/limited/x").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    refused = get(f"{base}/limited/x")
    assert int(refused.headers["retry-after"]) > 0
    assert refused.headers["ratelimit-limit"] == "3"
    assert get(f"{base}/staff/x").status_code == 401
    assert get(f"{base}/staff/x", auth=("ann", "wrong")).status_code == 401
    assert get(f"{base}/staff/x", auth=("ann", "s3cret")).text == b2.name
    token = jwt.encode({"sub": "ann", "aud": "gw", "exp": int(time.time()) + 60}, key, algorithm="ES256")
    assert get(f"{base}/jwt/x").status_code == 401
    assert get(f"{base}/jwt/x", headers={"authorization": f"Bearer {token}"}).text == b2.name
    other = jwt.encode({"sub": "ann", "aud": "other", "exp": int(time.time()) + 60}, key, algorithm="ES256")
    assert get(f"{base}/jwt/x", headers={"authorization": f"Bearer {other}"}).status_code == 401
    r = get(f"{base}/old/a/b?q=1")
    assert (r.status_code, r.headers["location"]) == (301, "/api/a/b?q=1")
    assert get(f"{base}/site/index.html").text == "<h1>static</h1>\n"
    assert get(f"{base}/site/").text == "<h1>static</h1>\n"
    assert get(f"{base}/site/missing").status_code == 404
    assert get(f"{base}/nowhere").status_code == 404
    families = {
        f.name: f for f in text_string_to_metric_families(get(f"http://127.0.0.1:{admin}/metrics").text)
    }
    by_code = {s.labels["code"]: s.value for s in families["pipework_http_responses"].samples}
    assert by_code["429"] == 3
    by_route = {
        (s.labels["route"], s.labels["class"]): s.value
        for s in families["pipework_http_requests"].samples
        if s.name == "pipework_http_requests_total"
    }
    assert by_route[("limited", "4xx")] == 3  # route names from the file
    assert by_route[("limited", "2xx")] == 3


def test_https_listener_and_a_redirect_to_it(pipework, tmp_path: Path, backends) -> None:
    (b,) = backends(1)
    cert = [sys.executable, "-m", "pipework", "cert"]
    subprocess.run([*cert, "ca", "--out", str(tmp_path / "ca")], check=True, capture_output=True, cwd=ROOT)
    subprocess.run(
        [
            *cert,
            "issue",
            "--ca",
            str(tmp_path / "ca"),
            "--out",
            str(tmp_path),
            "--basename",
            "site",
            "a.test",
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    plain, secure = free_port(), free_port()
    config = tmp_path / "gw.yaml"
    config.write_text(f"""
upstreams:
  app: ["{b.address}"]
routes:
  - name: to-https
    listeners: [plain]
    redirect: {{location: "https://{{hostname}}:{secure}{{uri}}", status: 308}}
  - name: app
    listeners: [secure]
    upstream: app
listeners:
  - name: plain
    address: 127.0.0.1:{plain}
  - name: secure
    address: 127.0.0.1:{secure}
    tls: {{cert: site.pem, key: site-key.pem, min_version: TLSv1.3}}
""")
    start(pipework, config)
    r = subprocess.run(
        [
            "curl",
            "-sS",
            "-L",
            "--cacert",
            str(tmp_path / "ca" / "ca.pem"),
            "--resolve",
            f"a.test:{plain}:127.0.0.1",
            "--resolve",
            f"a.test:{secure}:127.0.0.1",
            f"http://a.test:{plain}/p?x=1",
            "-w",
            " %{url_effective}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert r.stdout == f"{b.name} https://a.test:{secure}/p?x=1", r.stderr
    r = subprocess.run(
        [
            "curl",
            "-sS",
            "--tlsv1.2",
            "--tls-max",
            "1.2",
            "--cacert",
            str(tmp_path / "ca" / "ca.pem"),
            "--resolve",
            f"a.test:{secure}:127.0.0.1",
            f"https://a.test:{secure}/",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert r.returncode != 0  # min_version: TLSv1.3


GOOD = """
upstreams:
  app: ["{backend}"]
routes:
  - name: {name}
    match: {{prefix: /}}
    upstream: app
    response_headers: {{set: {{x-version: "{name}"}}}}
listeners:
  - address: 127.0.0.1:{port}
"""


@pytest.mark.parametrize("workers", [1, 2])
def test_a_reload_with_mistakes_keeps_the_running_configuration(
    pipework, tmp_path: Path, backends, workers: int
) -> None:
    (b,) = backends(1)
    port = free_port()
    config = tmp_path / "gw.yaml"
    config.write_text(GOOD.format(backend=b.address, name="one", port=port))
    gw = pipework("gateway", str(config), "--workers", str(workers))
    gw.wait_log("listening on tcp", count=workers)
    url = f"http://127.0.0.1:{port}/x"
    assert get(url).headers["x-version"] == "one"
    config.write_text(
        GOOD.format(backend=b.address, name="two", port=port).replace("upstream: app", "upstream: ap")
    )
    gw.signal(signal.SIGHUP)
    msg = gw.wait_log(
        "reload failed, the previous script keeps serving" if workers == 1 else "reload refused"
    )
    assert (
        "gw.yaml:7: routes[0] (two).upstream: no upstream named 'ap'; did you mean 'app'?" in gw.output()
    ), msg
    for _ in range(3):
        assert get(url).headers["x-version"] == "one"
    config.write_text(GOOD.format(backend=b.address, name="three", port=port))
    gw.signal(signal.SIGHUP)
    gw.wait_log("reloaded", count=workers)
    for _ in range(4):
        assert get(url).headers["x-version"] == "three"


def test_check_reports_every_mistake_with_its_line(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(
        "upstreams:\n"
        "  api:\n"
        "    targets: [127.0.0.1:9]\n"
        "    balancer: fastest\n"
        "routes:\n"
        "  - match: {path: /a}\n"
        "    upstream: api\n"
        "    policies: [{rate_limit: {limit: 0}}]\n"
        "listeners:\n"
        "  - address: 127.0.0.1:80800\n"
    )
    r = subprocess.run(
        [sys.executable, "-m", "pipework", "gateway", "--check", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert r.returncode == 1
    lines = r.stderr.removeprefix("pipework: ").splitlines()
    assert [line.split(":")[1] for line in lines] == ["4", "8", "10"], r.stderr
    assert "unknown balancer 'fastest'" in lines[0]
    assert "routes[0].policies[0].rate_limit" in lines[1]
    ok = tmp_path / "ok.yaml"
    port = free_port()
    ok.write_text(GOOD.format(backend="127.0.0.1:9", name="x", port=port))
    r = subprocess.run(
        [sys.executable, "-m", "pipework", "gateway", "--check", str(ok)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert (r.returncode, r.stdout.strip()) == (
        0,
        f"{ok}: ok — 1 listener (127.0.0.1:{port}), 1 route, 1 upstream",
    )


CORPUS = sorted((Path(__file__).resolve().parents[1] / "gateway_corpus").glob("*.yaml"))


def test_the_corpus_is_big_enough() -> None:
    assert len(CORPUS) >= 20


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_each_mistake_in_the_corpus_is_found(path: Path) -> None:
    """Each file says on its first lines what the gateway must answer: ``# expect: LINE: text``."""
    from pipework.apps import gateway
    from pipework.core.script import ScriptError, run_declarations

    wanted = [
        line.removeprefix("# expect: ")
        for line in path.read_text().splitlines()
        if line.startswith("# expect: ")
    ]
    assert wanted, f"{path.name} says nothing it expects"
    with pytest.raises(ScriptError) as err:
        run_declarations(str(path), lambda: gateway.declare(str(path)))
    got = str(err.value).splitlines()
    assert len(got) == len(wanted), str(err.value)
    for line, want in zip(got, wanted, strict=True):
        number, _, text = want.partition(": ")
        assert line.startswith(f"{path}:{number}: "), (line, want)
        assert text in line, (line, want)


@pytest.fixture(scope="module")
def doc_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files docs/gateway.md's examples name: certificates, an htpasswd file, a JWT key,
    error pages."""
    d = tmp_path_factory.mktemp("docs")
    cert = [sys.executable, "-m", "pipework", "cert"]
    subprocess.run([*cert, "ca", "--out", str(d / "ca")], check=True, capture_output=True, cwd=ROOT)
    subprocess.run(
        [*cert, "issue", "--ca", str(d / "ca"), "--out", str(d), "--basename", "site", "a.test"],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    (d / "internal-ca.pem").write_bytes((d / "ca" / "ca.pem").read_bytes())
    subprocess.run([require("htpasswd"), "-cbB", str(d / "staff.htpasswd"), "ann", "pw"], check=True)
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (d / "jwt-public.pem").write_bytes(pem)
    (d / "errors").mkdir()
    for status in (502, 503):
        (d / "errors" / f"{status}.html").write_text(f"<h1>{status}</h1>\n")
    return d


DOC_BLOCKS = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "gateway.md").read_text(), re.S)


def test_the_docs_have_examples() -> None:
    assert len(DOC_BLOCKS) >= 6


@pytest.mark.parametrize("block", range(len(DOC_BLOCKS)))
def test_each_example_in_the_docs_loads(doc_files: Path, block: int) -> None:
    from pipework.apps import gateway
    from pipework.core.script import run_declarations

    path = doc_files / f"block{block}.yaml"
    path.write_text(DOC_BLOCKS[block])
    prog = run_declarations(str(path), lambda: gateway.declare(str(path)))
    assert prog.listens


def test_the_example_gateway_serves(pipework, tmp_path: Path, backends) -> None:
    """examples/gateway.yaml, its backends' and listener's addresses changed to free ones."""
    b1, b2 = backends(2)
    port = free_port()
    text = (ROOT / "examples" / "gateway.yaml").read_text()
    text = text.replace("127.0.0.1:9001", b1.address).replace("127.0.0.1:9002", b2.address)
    text = text.replace("address: 8080", f"address: 127.0.0.1:{port}")
    config = tmp_path / "gateway.yaml"
    config.write_text(text)
    start(pipework, config)
    base = f"http://127.0.0.1:{port}"
    assert {get(f"{base}/api/x").headers["x-backend"] for _ in range(4)} == {b1.name, b2.name}
    assert get(f"{base}/healthz").text == "ok\n"
    r = get(f"{base}/api/x", headers={"origin": "https://app.example.com"})
    assert r.headers["access-control-allow-origin"] == "https://app.example.com"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_connections_per_client_address(pipework, tmp_path: Path) -> None:
    port, admin = free_port(), free_port()
    config = tmp_path / "gw.yaml"
    config.write_text(f"""
routes:
  - respond: {{body: "hi\\n"}}
listeners:
  - address: 127.0.0.1:{port}
    limit_connections: {{per_ip: 2, status: 503}}
admin:
  address: 127.0.0.1:{admin}
""")
    start(pipework, config)
    held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2)]
    try:
        for s in held:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 200")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as third:
            third.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert third.recv(4096).startswith(b"HTTP/1.1 503")
        metrics = text_string_to_metric_families(get(f"http://127.0.0.1:{admin}/metrics").text)
        refused = [
            s.value for f in metrics for s in f.samples if s.name == "pipework_connections_refused_total"
        ]
        assert refused == [1]
    finally:
        for s in held:
            s.close()
    deadline = time.monotonic() + 5
    while get(f"http://127.0.0.1:{port}/").status_code != 200:  # the count goes down as they close
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_authorization_rules_and_request_decompression(pipework, tmp_path: Path) -> None:
    """jwt_auth then authorize by claims, methods and paths, with PyJWT tokens; decompress_request
    in front of a fixed answer: a gzip bomb and garbage refused."""
    port = free_port()
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "jwt.pem").write_bytes(pem)
    config = tmp_path / "gw.yaml"
    config.write_text(f"""
policies:
  signed-in:
    - jwt_auth: {{keys: jwt.pem, algorithms: [ES256]}}
routes:
  - name: admin
    match: {{prefix: /admin/}}
    respond: {{body: "admin area\\n"}}
    policies:
      - signed-in
      - authorize:
          rules:
            - {{allow: true, when: "'admin' in claims.roles"}}
            - {{allow: true, methods: [GET], paths: ["/admin/reports/*"], when: "'auditor' in claims.roles"}}
  - name: upload
    match: {{path: /upload}}
    respond: {{body: "stored\\n"}}
    policies:
      - decompress_request: {{max_size: 64k}}
listeners:
  - address: 127.0.0.1:{port}
""")
    start(pipework, config)
    base = f"http://127.0.0.1:{port}"

    def bearer(*roles: str) -> dict[str, str]:
        claims = {"sub": "ann", "roles": list(roles), "exp": int(time.time()) + 60}
        return {"authorization": "Bearer " + jwt.encode(claims, key, algorithm="ES256")}

    assert get(f"{base}/admin/users").status_code == 401
    assert get(f"{base}/admin/users", headers=bearer("admin")).text == "admin area\n"
    assert get(f"{base}/admin/users", headers=bearer("auditor")).status_code == 403
    assert get(f"{base}/admin/reports/q3", headers=bearer("auditor")).status_code == 200
    assert httpx.delete(f"{base}/admin/reports/q3", headers=bearer("auditor"), timeout=10).status_code == 403
    assert httpx.delete(f"{base}/admin/reports/q3", headers=bearer("admin"), timeout=10).status_code == 200
    gz = {"content-encoding": "gzip"}
    assert (
        httpx.post(f"{base}/upload", content=gzip.compress(b"x" * 1000), headers=gz, timeout=10).status_code
        == 200
    )
    bomb = gzip.compress(b"\0" * (1 << 20))
    assert httpx.post(f"{base}/upload", content=bomb, headers=gz, timeout=10).status_code == 413
    assert httpx.post(f"{base}/upload", content=b"not gzip at all", headers=gz, timeout=10).status_code == 400


def test_a_cached_route_and_purge_through_the_admin_listener(pipework, tmp_path: Path, backends) -> None:
    (b,) = backends(1)
    port, admin = free_port(), free_port()
    config = tmp_path / "gw.yaml"
    config.write_text(f"""
upstreams:
  app: ["{b.address}"]
caches:
  pages: {{max_size: 1m, max_object: 64k}}
routes:
  - name: cached
    match: {{prefix: /_cache/}}
    upstream: app
    policies:
      - cache: {{cache: pages}}
  - name: fresh
    upstream: app
listeners:
  - address: 127.0.0.1:{port}
admin:
  address: 127.0.0.1:{admin}
""")
    start(pipework, config)
    url = f"http://127.0.0.1:{port}/_cache/a?cc=max-age%3D60"
    first, second = get(url), get(url)
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert first.text == second.text
    assert b.count() == 1
    purged = httpx.request("PURGE", f"http://127.0.0.1:{admin}/_cache/a?cc=max-age%3D60", timeout=10)
    assert purged.json() == {"purged": 1}
    assert get(url).headers["x-cache"] == "MISS"
    assert b.count() == 2
    stats = get(f"http://127.0.0.1:{admin}/cache/stats").json()
    assert stats["pages"]["hits"] == 1
    metrics = text_string_to_metric_families(get(f"http://127.0.0.1:{admin}/metrics").text)
    samples = {(s.name, s.labels.get("cache")): s.value for f in metrics for s in f.samples}
    assert samples[("pipework_cache_hits_total", "pages")] == 1
    assert samples[("pipework_cache_misses_total", "pages")] == 2
    assert samples[("pipework_cache_purged_total", "pages")] == 1
    assert samples[("pipework_cache_entries", "pages")] == 1


def test_connect_tunnels(pipework, tmp_path: Path, backends) -> None:
    """A CONNECT route answered with a TCP tunnel to allowed targets (curl as a proxy client)."""
    (b,) = backends(1)
    port = free_port()
    config = tmp_path / "gw.yaml"
    config.write_text(f"""
routes:
  - name: proxying
    match: {{methods: [CONNECT]}}
    tunnel: {{allow: ["127.0.0.1:{b.port}"]}}
  - respond: {{body: "not a tunnel\\n"}}
listeners:
  - address: 127.0.0.1:{port}
""")
    start(pipework, config)
    via = ["curl", "-sS", "--max-time", "10", "-p", "-x", f"http://127.0.0.1:{port}"]
    r = subprocess.run([*via, f"http://127.0.0.1:{b.port}/x"], capture_output=True, text=True, timeout=30)
    assert r.stdout == b.name, r.stderr
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 403")
    assert get(f"http://127.0.0.1:{port}/").text == "not a tunnel\n"


def test_hs256_tokens_with_a_secret_from_a_jwks_file(pipework, tmp_path: Path) -> None:
    secret = b"a shared secret of at least 32 bytes!"
    k = base64.urlsafe_b64encode(secret).rstrip(b"=").decode()
    (tmp_path / "keys.json").write_text(json.dumps({"keys": [{"kty": "oct", "k": k, "alg": "HS256"}]}))
    port = free_port()
    config = tmp_path / "gw.yaml"
    config.write_text(f"""
routes:
  - respond: {{body: "in\\n"}}
    policies:
      - jwt_auth: {{keys: keys.json, algorithms: [HS256]}}
listeners:
  - address: 127.0.0.1:{port}
""")
    start(pipework, config)
    url = f"http://127.0.0.1:{port}/"
    good = jwt.encode({"sub": "ann", "exp": int(time.time()) + 60}, secret, algorithm="HS256")
    bad = jwt.encode({"sub": "ann", "exp": int(time.time()) + 60}, b"x" * 40, algorithm="HS256")
    assert get(url, headers={"authorization": f"Bearer {good}"}).text == "in\n"
    assert get(url, headers={"authorization": f"Bearer {bad}"}).status_code == 401


def test_a_route_mirrored_to_a_shadow_upstream(pipework, tmp_path: Path, backends) -> None:
    """``mirror:`` on a route: the client gets the main upstream's answers; the shadow one gets
    copies (its requests counted by the backend), counted in the metrics under the route's name."""
    main, shadow = backends(2)
    port, admin = free_port(), free_port()
    config = tmp_path / "gw.yaml"
    config.write_text(f"""
upstreams:
  main: ["{main.address}"]
  shadow: ["{shadow.address}"]
routes:
  - name: api
    upstream: main
    mirror: {{upstream: shadow, fraction: 1, max_body: 64KiB, timeout: 5s}}
listeners:
  - address: 127.0.0.1:{port}
admin:
  address: 127.0.0.1:{admin}
""")
    start(pipework, config)
    for i in range(5):
        assert get(f"http://127.0.0.1:{port}/x{i}").text == main.name
    deadline = time.monotonic() + 5
    while shadow.count() < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (main.count(), shadow.count()) == (5, 5)
    text = get(f"http://127.0.0.1:{admin}/metrics").text
    done = [
        s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "pipework_mirror_requests_total"
        and s.labels == {"mirror": "api", "outcome": "completed"}
    ]
    assert done == [5]


def test_a_reload_keeps_what_the_caches_store(pipework, tmp_path: Path, backends) -> None:
    """nginx's cache outlives a reload; so does a named cache here: after SIGHUP (with a route
    added and the cache made smaller) a stored page is still a HIT and the counters go on; a
    cache whose new max_object is under a page's size drops that page."""
    (b,) = backends(1)
    port, admin = free_port(), free_port()
    config = tmp_path / "gw.yaml"
    text = """
upstreams:
  app: ["{backend}"]
caches:
  pages: {{max_size: 1m, max_object: {max_object}}}
routes:
  - name: cached
    match: {{prefix: /_cache/}}
    upstream: app
    policies:
      - cache: {{cache: pages}}{extra}
listeners:
  - address: 127.0.0.1:{port}
admin:
  address: 127.0.0.1:{admin}
"""
    fill = {"backend": b.address, "port": port, "admin": admin}
    config.write_text(text.format(max_object="64k", extra="", **fill))
    gw = start(pipework, config)
    small, large = (
        f"http://127.0.0.1:{port}/_cache/{n}?cc=max-age%3D60&size={s}" for n, s in (("s", 100), ("l", 20000))
    )
    for url in (small, large, small, large):
        get(url)
    assert b.count() == 2
    extra = "\n  - name: hello\n    match: {path: /hello}\n    respond: hi"
    config.write_text(text.format(max_object="16k", extra=extra, **fill))
    gw.signal(signal.SIGHUP)
    gw.wait_log("reloaded")
    assert get(f"http://127.0.0.1:{port}/hello").text == "hi"  # the new configuration serves
    assert get(small).headers["x-cache"] == "HIT"  # kept
    assert get(large).headers["x-cache"] == "MISS"  # over the new max_object: dropped, not stored again
    assert b.count() == 3
    metrics = text_string_to_metric_families(get(f"http://127.0.0.1:{admin}/metrics").text)
    samples = {(s.name, s.labels.get("cache")): s.value for f in metrics for s in f.samples}
    assert samples[("pipework_cache_hits_total", "pages")] == 3  # two before the reload, one after
    assert samples[("pipework_cache_entries", "pages")] == 1


def test_environment_variables_in_the_file(pipework, tmp_path: Path, backends) -> None:
    """``${NAME}`` and ``${NAME:-default}`` read at load: a plain reference to a number is a
    number (retry), a quoted one a text, ``$${`` a literal."""
    (b,) = backends(1)
    port = free_port()
    config = tmp_path / "gw.yaml"
    config.write_text("""
upstreams:
  app: ["${APP_ADDRESS}"]
routes:
  - match: {path: /who}
    respond: {body: "${GREETING:-hello} $${NOT_A_VARIABLE}"}
  - upstream: app
    retry: ${RETRIES:-1}
listeners:
  - address: "127.0.0.1:${LISTEN_PORT}"
""")
    env = {"APP_ADDRESS": b.address, "LISTEN_PORT": str(port)}
    gw = pipework("gateway", str(config), env=env)
    gw.wait_log("listening on tcp")
    assert get(f"http://127.0.0.1:{port}/who").text == "hello ${NOT_A_VARIABLE}"
    assert get(f"http://127.0.0.1:{port}/x").text == b.name


def test_a_cached_route_behind_a_rate_limit(pipework, tmp_path: Path, backends) -> None:
    """A route to a cache behind a rate limit: hits are answered without a pipeline, misses go
    through the route's own steps once (the limit counts each request once), the rewrite is made
    once, and the access log names the route for both."""
    (b,) = backends(1)
    port = free_port()
    log = tmp_path / "access.log"
    config = tmp_path / "gw.yaml"
    config.write_text(f"""
upstreams:
  app: ["{b.address}"]
caches:
  pages: {{}}
routes:
  - name: pages
    match: {{prefix: /c/}}
    upstream: app
    rewrite_prefix: /_cache/
    policies:
      - rate_limit: {{limit: 4, window: 1m}}
      - cache: {{cache: pages}}
listeners:
  - address: 127.0.0.1:{port}
    access_log: json
""")
    start(pipework, config, "--access-log", str(log))
    url = f"http://127.0.0.1:{port}/c/x?cc=max-age%3D60"
    got = [get(url) for _ in range(4)]
    assert [r.headers["x-cache"] for r in got] == ["MISS", "HIT", "HIT", "HIT"]
    assert got[0].text.startswith(f"{b.name} /_cache/x ")  # rewritten once, from /c/x
    assert len({r.text for r in got}) == 1
    assert b.count() == 1
    assert get(url).status_code == 429  # the fifth request: each of the four counted once
    deadline = time.monotonic() + 5
    while len(log.read_text().splitlines()) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["route"], r["status"]) for r in lines] == [("pages", 200)] * 4 + [("pages", 429)]

"""Dynamic routing end to end: a real pipework routing by host, path, headers, query, cookies and
JSON bodies to real backend processes, with rewrites, redirects, header changes and splits."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from helpers import free_port, require, run_script
from http_peers import fetch, read_response


def start(pipework, tmp_path: Path, body: str) -> int:  # type: ignore[no-untyped-def]
    port = free_port()
    run_script(
        pipework,
        tmp_path / "routes.py",
        "import pipework as pw\n"
        f"{body}\n"
        f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.demux_http().to(\n"
        "    lambda p: p.route(routes))))\n",
    )
    return port


def echo(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """(backend name, the request lines it received) for a request to its /_echo."""
    status, fields, body = fetch(port, path, headers)
    assert status == 200, (status, body)
    return fields["x-backend"], body.decode().split("\r\n")


def post_json(port: int, path: str, doc: object) -> tuple[int, dict[str, str], bytes]:
    data = json.dumps(doc).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(
            f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n".encode()
            + data
        )
        return read_response(s.makefile("rb"))


def test_host_path_template_prefix_and_conditions(pipework, tmp_path: Path, backends) -> None:
    a, b, c, d = backends(4)
    port = start(
        pipework,
        tmp_path,
        f"""
routes = pw.Router()
routes.add({a.address!r}, host="api.example.com", prefix="/v1/")
routes.add({b.address!r}, host="*.example.com")
routes.add({c.address!r}, path="/users/{{id}}", methods=["GET"])
routes.add({d.address!r}, prefix="/", headers={{"x-tier": "gold"}})
routes.add({d.address!r}, prefix="/", query={{"beta": "1"}})
routes.add({d.address!r}, prefix="/", cookies={{"group": "b"}})
routes.add({c.address!r}, prefix="/")
""",
    )

    def who(path: str, **headers: str) -> str:
        return fetch(port, path, headers)[1]["x-backend"]

    assert who("/v1/x", Host="api.example.com") == a.name
    assert who("/v2/x", Host="api.example.com") == b.name  # falls through to the wildcard host
    assert who("/", Host="www.example.com:8080") == b.name
    assert who("/users/7") == c.name
    assert who("/other", **{"X-Tier": "gold"}) == d.name
    assert who("/other?beta=1") == d.name
    assert who("/other", Cookie="a=1; group=b") == d.name
    assert who("/other", Cookie="group=a") == c.name


def test_no_route_is_404_and_default_catches_it(pipework, tmp_path: Path, backends) -> None:
    (a,) = backends(1)
    port = start(pipework, tmp_path, f"routes = pw.Router()\nroutes.add({a.address!r}, path='/only')")
    status, _, body = fetch(port, "/elsewhere")
    assert (status, body) == (404, b"no route\n")
    assert fetch(port, "/only")[0] == 200


def test_json_body_fields_route_a_post(pipework, tmp_path: Path, backends) -> None:
    gold, other = backends(2)
    port = start(
        pipework,
        tmp_path,
        f"""
routes = pw.Router()
routes.add({gold.address!r}, path="/orders", json={{"customer.tier": "gold"}})
routes.add({other.address!r}, path="/orders")
""",
    )
    assert post_json(port, "/orders", {"customer": {"tier": "gold"}, "n": 1})[1]["x-backend"] == gold.name
    assert post_json(port, "/orders", {"customer": {"tier": "silver"}})[1]["x-backend"] == other.name
    assert post_json(port, "/orders", ["not", "an", "object"])[1]["x-backend"] == other.name
    assert gold.count() == 1  # the body went through whole after being read for the match


def test_rewrites_and_header_changes(pipework, tmp_path: Path, backends) -> None:
    (a,) = backends(1)
    port = start(
        pipework,
        tmp_path,
        f"""
up = pw.Upstream([{a.address!r}])
routes = pw.Router()
routes.add(pw.to(up, rewrite_prefix="/_echo/v2/"), prefix="/api/")
routes.add(pw.to(up, rewrite="/_echo/people/{{id}}/profile"), path="/users/{{id}}")
routes.add(
    pw.to(
        up,
        rewrite="/_echo",
        host="backend.internal",
        request_headers={{"set": {{"x-env": "prod"}}, "add": {{"x-added": "1"}}, "remove": ["x-secret"]}},
        response_headers={{"set": {{"x-served-by": "pipework"}}, "remove": ["x-backend"]}},
    ),
    path="/hdr",
)
""",
    )
    _, lines = echo(port, "/api/items?page=2")
    assert lines[0] == "GET /_echo/v2/items?page=2 HTTP/1.1"
    _, lines = echo(port, "/users/42")
    assert lines[0] == "GET /_echo/people/42/profile HTTP/1.1"
    _, fields, body = fetch(port, "/hdr", {"X-Secret": "s", "X-Env": "dev"})
    got = body.decode().lower()
    assert "host: backend.internal" in got
    assert "x-env: prod" in got
    assert "x-env: dev" not in got
    assert "x-added: 1" in got
    assert "x-secret" not in got
    assert fields["x-served-by"] == "pipework"
    assert "x-backend" not in fields


def test_redirects_with_curl(pipework, tmp_path: Path) -> None:
    require("curl")
    port = start(
        pipework,
        tmp_path,
        """
routes = pw.Router()
routes.add(pw.redirect("https://{host}{path}", 301), prefix="/secure/")
routes.add(pw.redirect("/new/{id}", 308), path="/old/{id}")
routes.add(pw.redirect("/elsewhere", 307), path="/tmp")
""",
    )
    for path, status, location in (
        ("/secure/a", "301", "https://example.test/secure/a"),
        ("/old/9", "308", "/new/9"),
        ("/tmp", "307", "/elsewhere"),
    ):
        r = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-H", "Host: example.test",
             "-w", "%{http_code} %{redirect_url}", f"http://127.0.0.1:{port}{path}"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        code, url = r.stdout.split(" ", 1)
        assert code == status
        assert url.endswith(location) if location.startswith("/") else url == location


def test_weighted_canary_split(pipework, tmp_path: Path, backends) -> None:
    stable, canary = backends(2)
    port = start(
        pipework,
        tmp_path,
        f"""
routes = pw.Router()
routes.add(pw.split({{{stable.address!r}: 90, {canary.address!r}: 10}}), prefix="/")
""",
    )
    seen = Counter(fetch(port, f"/r{i}")[1]["x-backend"] for i in range(600))
    assert 0.05 <= seen[canary.name] / 600 <= 0.17, seen


def test_split_by_header_and_sticky_by_cookie(pipework, tmp_path: Path, backends) -> None:
    v1, v2 = backends(2)
    port = start(
        pipework,
        tmp_path,
        f"""
blue, green = pw.to({v1.address!r}), pw.to({v2.address!r})
routes = pw.Router()
routes.add(pw.split(by="header:x-version", values={{"2": green}}, default=blue), prefix="/h")
routes.add(pw.split({{blue: 50, green: 50}}, by="cookie:user"), prefix="/c")
""",
    )
    assert fetch(port, "/h", {"X-Version": "2"})[1]["x-backend"] == v2.name
    assert fetch(port, "/h", {"X-Version": "1"})[1]["x-backend"] == v1.name
    assert fetch(port, "/h")[1]["x-backend"] == v1.name
    for user in ("ann", "bob", "cy", "dee"):  # the same user, the same side, every time
        sides = {fetch(port, "/c", {"Cookie": f"user={user}"})[1]["x-backend"] for _ in range(4)}
        assert len(sides) == 1
    users = {fetch(port, "/c", {"Cookie": f"user=u{i}"})[1]["x-backend"] for i in range(30)}
    assert users == {v1.name, v2.name}


def test_fallback_follows_upstream_health(pipework, tmp_path: Path, backends) -> None:
    primary, backup = backends(2)
    port = start(
        pipework,
        tmp_path,
        f"""
check = pw.HealthCheck("/health", interval=0.1, rise=1, fall=1)
main = pw.Upstream([{primary.address!r}], health_check=check)
spare = pw.Upstream([{backup.address!r}])
routes = pw.Router()
routes.add(pw.fallback(pw.to(main), pw.to(spare)), prefix="/")
""",
    )
    assert fetch(port, "/x")[1]["x-backend"] == primary.name
    primary.control(health=503)
    deadline = time.monotonic() + 5
    while fetch(port, "/x")[1]["x-backend"] != backup.name:
        assert time.monotonic() < deadline, "still routed to the primary"
        time.sleep(0.05)
    assert {fetch(port, "/x")[1]["x-backend"] for _ in range(4)} == {backup.name}
    primary.control(health=200)
    while fetch(port, "/x")[1]["x-backend"] != primary.name:
        assert time.monotonic() < deadline + 5, "not back on the primary"
        time.sleep(0.05)


def test_a_json_body_past_max_body_is_413(pipework, tmp_path: Path, backends) -> None:
    (a,) = backends(1)
    port = free_port()
    run_script(
        pipework,
        tmp_path / "routes.py",
        "import pipework as pw\n"
        "routes = pw.Router()\n"
        f"routes.add({a.address!r}, path='/j', json={{'k': 1}})\n"
        f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.demux_http().to(\n"
        "    lambda p: p.route(routes, max_body=100))))\n",
    )
    assert post_json(port, "/j", {"k": 1})[0] == 200
    assert post_json(port, "/j", {"k": 1, "pad": "x" * 200})[0] == 413


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("routes.add('127.0.0.1:1', path='users')", "path 'users' must start with '/'"),
        ("routes.add(pw.redirect('/x', 200), path='/a')", "status 200 is not one of"),
        ("routes.add(pw.split({'127.0.0.1:1': 0}), path='/a')", "add up to 0"),
        ("routes.add(pw.to('127.0.0.1:1', rewrite='x'), path='/a')", "must start with /"),
    ],
)
def test_bad_routes_fail_at_load_with_the_line(tmp_path: Path, line: str, message: str) -> None:
    script = tmp_path / "bad.py"
    script.write_text(f"import pipework as pw\nroutes = pw.Router()\n{line}\n")
    r = subprocess.run(
        [sys.executable, "-m", "pipework", "check", str(script)], capture_output=True, text=True, timeout=30
    )
    assert r.returncode != 0
    assert f"{script}:3:" in r.stderr
    assert message in r.stderr

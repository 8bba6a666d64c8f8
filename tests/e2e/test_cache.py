"""The HTTP cache end to end: a real pipework process caching tests/backend.py (``/_cache`` answers
with the caching fields its query asks for); hits, misses, revalidations and coalescing are seen
from the backend's own request count."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from helpers import Pipework, free_ports, require
from http_peers import Backend, fetch

SCRIPT = """
import pipework as pw
import pipework.admin.cache
from pipework.filters.cache import HttpCache

cache = HttpCache(max_size=1 << 20, max_object=64 << 10, lock_timeout=3)
small = HttpCache(max_size=20_000, max_object=8_000, lock_timeout=0.3, name="small")
up = "127.0.0.1:{backend}"
pw.listen({main}, lambda p: p.demux_http().to(lambda p: p.cache_http(cache).to(lambda p: p.proxy(up))))
pw.listen({small}, lambda p: p.demux_http().to(lambda p: p.cache_http(small).to(lambda p: p.proxy(up))))
# the cache inside another step: its answers go out as events, not as encoded bytes
pw.listen({wrapped}, lambda p: p.demux_http().to(
    lambda p: p.headers(response={{"set": {{"x-wrapped": "1"}}}}).to(
        lambda p: p.cache_http(cache).to(lambda p: p.proxy(up)))))
pw.listen({admin}, lambda p: p.demux_http().to(lambda p: p.serve_cache_admin()))
# the same cache in front of an upstream that is down
pw.listen({dead}, lambda p: p.demux_http().to(
    lambda p: p.cache_http(cache).to(lambda p: p.proxy("127.0.0.1:{nothing}", retry=False))))
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    backend = Backend("b1")
    ports = dict(zip(("main", "small", "wrapped", "admin", "dead", "nothing"), free_ports(6), strict=True))
    path: Path = tmp_path_factory.mktemp("cache") / "cache.py"
    path.write_text(SCRIPT.format(backend=backend.port, **ports))
    proc = Pipework("run", str(path))
    try:
        proc.wait_log("listening on tcp", count=5)
        yield SimpleNamespace(backend=backend, proc=proc, **ports)
    finally:
        proc.cleanup()
        backend.kill()


def url(name: str, **query: object) -> str:
    return f"/_cache/{name}" + ("?" + urlencode(query) if query else "")


def get(port: int, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    return fetch(port, path, {k.replace("_", "-"): v for k, v in headers.items()})


def request(
    port: int, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, headers={"Host": "t", **(headers or {})})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def test_a_hit_is_served_from_the_store_with_a_growing_age(env: SimpleNamespace) -> None:
    b, path = env.backend, url("hit", cc="max-age=60")
    n = b.count()
    status, fields, first = get(env.main, path)
    assert (status, fields["x-cache"]) == (200, "MISS")
    assert fields["cache-status"] == "pipework; fwd=uri-miss; stored"
    status, fields, again = get(env.main, path)
    assert (status, fields["x-cache"], again) == (200, "HIT", first)
    assert fields["cache-status"].startswith("pipework; hit; ttl=")
    age = int(fields["age"])
    assert b.count() == n + 1
    time.sleep(1.1)
    _, fields, _ = get(env.main, path)
    assert int(fields["age"]) >= age + 1
    assert fields["content-length"] == str(len(first))
    assert b.count() == n + 1


def test_a_hit_answered_directly_is_the_hit_the_filter_makes(env: SimpleNamespace) -> None:
    """Straight under demux_http a fresh hit is answered without a pipeline; under another step
    (the wrapped port) through the filter: the same status, fields and body, and the same 304 to
    a client's matching If-None-Match, HEAD without a body."""
    path = url("direct", cc="max-age=60", etag='"d1"')
    get(env.main, path)
    answers = []
    for port in (env.main, env.wrapped):
        status, fields, body = get(port, path)
        fields.pop("x-wrapped", None)
        fields.pop("date", None)
        assert int(fields.pop("age")) <= 1
        fields["cache-status"] = fields["cache-status"].rpartition("=")[0]  # its ttl ticks
        answers.append((status, fields, body))
        status, fields, body = get(port, path, if_none_match='"d1"')
        assert (status, fields["x-cache"], fields["etag"], body) == (304, "HIT", '"d1"', b"")
        status, fields, body = request(port, "HEAD", path)
        assert (status, fields["content-length"], body) == (200, str(len(answers[-1][2])), b"")
    assert answers[0] == answers[1]
    assert answers[0][1]["x-cache"] == "HIT"


def test_expiry_after_max_age(env: SimpleNamespace) -> None:
    b, path = env.backend, url("expiry", cc="max-age=1")
    n = b.count()
    _, f1, body1 = get(env.main, path)
    _, f2, body2 = get(env.main, path)
    assert (f1["x-cache"], f2["x-cache"], body2) == ("MISS", "HIT", body1)
    time.sleep(1.2)
    _, f3, body3 = get(env.main, path)
    assert f3["x-cache"] == "EXPIRED"
    assert body3 != body1  # a new answer: the backend numbers them
    assert b.count() == n + 2
    assert get(env.main, path)[1]["x-cache"] == "HIT"


@pytest.mark.parametrize(
    "query",
    [
        {"cc": "no-store, max-age=60"},
        {"cc": "private, max-age=60"},
        {"cc": "max-age=60", "cookie": "s=1"},
        {},
    ],
    ids=["no-store", "private", "set-cookie", "no-freshness"],
)
def test_what_is_never_stored(env: SimpleNamespace, query: dict[str, str]) -> None:
    b, path = env.backend, url("never-" + "-".join(query), **query)
    n = b.count()
    for _ in range(2):
        status, fields, _ = get(env.main, path)
        assert (status, fields["x-cache"]) == (200, "MISS")
        assert "stored" not in fields["cache-status"]
    assert b.count() == n + 2


def test_vary_keeps_one_answer_per_accept_encoding(env: SimpleNamespace) -> None:
    b, path = env.backend, url("vary", cc="max-age=60", vary="Accept-Encoding")
    n = b.count()
    _, f, gz = get(env.main, path, accept_encoding="gzip")
    assert (f["x-cache"], b"ae=gzip" in gz) == ("MISS", True)
    _, f, br = get(env.main, path, accept_encoding="br")
    assert (f["x-cache"], b"ae=br" in br) == ("MISS", True)
    assert b.count() == n + 2
    _, f, again = get(env.main, path, accept_encoding="gzip")
    assert (f["x-cache"], again) == ("HIT", gz)
    _, f, again = get(env.main, path, accept_encoding="br")
    assert (f["x-cache"], again) == ("HIT", br)
    assert get(env.main, path)[1]["x-cache"] == "MISS"  # no Accept-Encoding: a third variant
    assert b.count() == n + 3


def test_vary_star_is_never_stored(env: SimpleNamespace) -> None:
    b, path = env.backend, url("vary-star", cc="max-age=60", vary="*")
    n = b.count()
    assert [get(env.main, path)[1]["x-cache"] for _ in range(2)] == ["MISS", "MISS"]
    assert b.count() == n + 2


@pytest.mark.parametrize("validator", [{"etag": '"v1"'}, {"lm": "1000000000"}], ids=["etag", "last-modified"])
def test_a_stale_entry_is_revalidated_with_a_304(env: SimpleNamespace, validator: dict[str, str]) -> None:
    b, path = env.backend, url("reval-" + "-".join(validator), cc="max-age=1", **validator)
    n = b.count()
    _, f, body = get(env.main, path)
    assert f["x-cache"] == "MISS"
    time.sleep(1.2)
    status, f, again = get(env.main, path)
    # the backend answered 304 (a 200 would carry a new number): the client gets the whole answer
    assert (status, f["x-cache"], again) == (200, "REVALIDATED", body)
    assert f["cache-status"] == "pipework; fwd=stale; fwd-status=304"
    assert b.count() == n + 2
    assert get(env.main, path)[1]["x-cache"] == "HIT"  # freshened
    # the client's own conditional is answered by the cache
    cond = {"if_none_match": '"v1"'} if "etag" in validator else {"if_modified_since": f["last-modified"]}
    status, f, empty = get(env.main, path, **cond)
    assert (status, empty) == (304, b"")
    assert (f["x-cache"], "age" in f) == ("HIT", True)
    assert b.count() == n + 2


def test_stale_while_revalidate_answers_at_once_and_refreshes_once(env: SimpleNamespace) -> None:
    b, path = env.backend, url("swr", cc="max-age=2, stale-while-revalidate=30", delay="0.5")
    n = b.count()
    _, f, body = get(env.main, path)
    assert f["x-cache"] == "MISS"
    time.sleep(2.1)
    t0 = time.monotonic()
    for _ in range(5):
        _, f, stale = get(env.main, path)
        assert (f["x-cache"], stale) == ("STALE", body)
        assert f["cache-status"].startswith("pipework; hit; ttl=-")
    assert time.monotonic() - t0 < 0.45  # none of them waited for the backend's 0.5 s
    deadline = time.monotonic() + 5
    while (f := get(env.main, path)[1])["x-cache"] == "STALE" and time.monotonic() < deadline:
        time.sleep(0.05)  # served stale until the refresh is in
    _, f, fresh = get(env.main, path)
    assert f["x-cache"] == "HIT"
    assert fresh != body
    assert b.count() == n + 2  # one background refresh for them all


def test_concurrent_misses_make_one_fetch(env: SimpleNamespace) -> None:
    b, path = env.backend, url("coalesce", cc="max-age=60", delay="0.5")
    n = b.count()
    got: list[tuple[int, dict[str, str], bytes]] = []
    lock = threading.Lock()

    def one() -> None:
        r = get(env.main, path)
        with lock:
            got.append(r)

    threads = [threading.Thread(target=one) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert len(got) == 20
    assert {(s, body) for s, _, body in got} == {(200, got[0][2])}
    assert sorted(f["x-cache"] for _, f, _ in got) == ["HIT"] * 19 + ["MISS"]
    assert b.count() == n + 1


def test_waiters_fetch_for_themselves_when_the_answer_is_not_stored(env: SimpleNamespace) -> None:
    b, path = env.backend, url("coalesce-nostore", cc="no-store", delay="0.3")
    n = b.count()
    threads = [threading.Thread(target=get, args=(env.main, path)) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert b.count() == n + 5


def test_lru_eviction_keeps_the_store_bounded(env: SimpleNamespace) -> None:
    b = env.backend
    n = b.count()
    paths = [url(f"lru{i}", cc="max-age=60", size=5000) for i in range(6)]
    for p in paths:
        status, f, body = get(env.small, p)
        assert (status, f["x-cache"], len(body)) == (200, "MISS", 5000)
    assert b.count() == n + 6
    assert get(env.small, paths[-1])[1]["x-cache"] == "HIT"
    assert get(env.small, paths[0])[1]["x-cache"] == "MISS"  # the least recently used went first
    stats = json.loads(request(env.admin, "GET", "/cache/stats?cache=small")[2])["small"]
    assert stats["bytes"] <= 20_000
    assert stats["evictions"] >= 3


def test_a_body_over_max_object_streams_through_unstored(env: SimpleNamespace) -> None:
    b, path = env.backend, url("big", cc="max-age=60", size=200_000)
    n = b.count()
    for _ in range(2):
        status, f, body = request(env.small, "GET", path)  # chunked: more than demux_http gathers
        assert (status, f["x-cache"], len(body)) == (200, "MISS", 200_000)
    assert b.count() == n + 2


def test_purge_through_the_admin_handler(env: SimpleNamespace) -> None:
    b = env.backend
    one, a, c = (
        url("purge-one", cc="max-age=60"),
        url("pre/a", cc="max-age=60"),
        url("pre/c", cc="max-age=60"),
    )
    for p in (one, a, c):
        get(env.main, p)
        assert get(env.main, p)[1]["x-cache"] == "HIT"
    n = b.count()
    status, _, body = request(env.admin, "PURGE", one)
    assert (status, json.loads(body)) == (200, {"purged": 1})
    assert get(env.main, one)[1]["x-cache"] == "MISS"
    status, _, body = request(env.admin, "POST", "/cache/purge?" + urlencode({"prefix": "/_cache/pre/"}))
    assert (status, json.loads(body)) == (200, {"purged": 2})
    assert [get(env.main, p)[1]["x-cache"] for p in (a, c)] == ["MISS", "MISS"]
    assert b.count() == n + 3
    status, _, body = request(env.admin, "POST", "/cache/purge?" + urlencode({"url": "t" + one}))
    assert json.loads(body) == {"purged": 1}
    assert request(env.admin, "GET", "/cache/purge")[0] == 405
    assert request(env.admin, "POST", "/cache/purge")[0] == 400
    stats = json.loads(request(env.admin, "GET", "/cache/stats")[2])
    assert stats["pipework"]["hits"] > 0
    assert stats["pipework"]["purged"] >= 4


def test_request_directives(env: SimpleNamespace) -> None:
    b, path = env.backend, url("req-cc", cc="max-age=60")
    assert get(env.main, url("nowhere"), cache_control="only-if-cached")[0] == 504
    get(env.main, path)
    n = b.count()
    _, f, _ = get(env.main, path, cache_control="no-cache")  # no validator: fetched again
    assert f["x-cache"] == "EXPIRED"
    assert get(env.main, path, cache_control="max-age=0")[1]["x-cache"] == "EXPIRED"
    _, f, _ = get(env.main, path, cache_control="no-store")
    assert f["x-cache"] == "BYPASS"
    _, f, _ = get(env.main, path, if_match='"x"')  # a precondition for the upstream to judge
    assert f["x-cache"] == "BYPASS"
    assert get(env.main, path, cache_control="only-if-cached")[1]["x-cache"] == "HIT"
    assert b.count() == n + 4


def test_authorization_needs_public(env: SimpleNamespace) -> None:
    b = env.backend
    n = b.count()
    plain, public = url("auth", cc="max-age=60"), url("auth", cc="public, max-age=60")
    for _ in range(2):
        assert get(env.main, plain, authorization="Bearer x")[1]["x-cache"] == "MISS"
    get(env.main, public, authorization="Bearer x")
    assert get(env.main, public, authorization="Bearer x")[1]["x-cache"] == "HIT"
    assert b.count() == n + 3


def test_an_unsafe_method_invalidates_and_head_is_answered_from_get(env: SimpleNamespace) -> None:
    b, path = env.backend, url("post", cc="max-age=60")
    _, _, body = get(env.main, path)
    status, f, empty = request(env.main, "HEAD", path)
    assert (status, f["x-cache"], f["content-length"], empty) == (200, "HIT", str(len(body)), b"")
    n = b.count()
    assert request(env.main, "POST", path)[0] == 200
    assert get(env.main, path)[1]["x-cache"] == "MISS"
    assert b.count() == n + 2


@pytest.mark.parametrize("where", ["main", "wrapped"])
def test_ranges_are_answered_from_a_stored_response(env: SimpleNamespace, where: str) -> None:
    """RFC 9110 14 from the store, straight under demux_http (encoded bytes) and inside another
    step (events): 206 parts, 416, the whole for several ranges or a stale If-Range; for a range
    of what is not stored, the whole is fetched and stored, and the client gets its part."""
    b, port = env.backend, getattr(env, where)
    path = url(f"range-{where}", cc="max-age=60", etag='"r1"', size=1000)
    _, _, whole = get(port, path)
    assert len(whole) == 1000
    n = b.count()
    status, f, body = get(port, path, range="bytes=10-19")
    assert (status, f["content-range"], f["content-length"], body) == (
        206,
        "bytes 10-19/1000",
        "10",
        whole[10:20],
    )
    assert (f["x-cache"], f["etag"]) == ("HIT", '"r1"')
    status, f, body = get(port, path, range="bytes=-5")
    assert (status, f["content-range"], body) == (206, "bytes 995-999/1000", whole[-5:])
    status, f, body = get(port, path, range="bytes=1000-")
    assert (status, f["content-range"], body) == (416, "bytes */1000", b"")
    status, f, body = get(port, path, range="bytes=0-1,5-6")
    assert (status, body) == (200, whole)
    status, f, body = get(port, path, range="bytes=0-3", if_range='"r1"')
    assert (status, body) == (206, whole[:4])
    status, f, body = get(port, path, range="bytes=0-3", if_range='"r0"')  # changed since: all of it
    assert (status, body) == (200, whole)
    status, f, empty = request(port, "HEAD", path, {"Range": "bytes=0-99"})
    assert (status, f["content-length"], f["content-range"], empty) == (206, "100", "bytes 0-99/1000", b"")
    assert b.count() == n  # all from the store
    other = url(f"range-miss-{where}", cc="max-age=60", size=50000)
    status, f, part = get(port, other, range="bytes=40000-40009")
    assert (status, f["x-cache"], f["content-range"]) == (206, "MISS", "bytes 40000-40009/50000")
    assert b.count() == n + 1
    status, f, whole = get(port, other)
    assert (status, f["x-cache"], len(whole)) == (200, "HIT", 50000)  # the whole was fetched and stored
    assert part == whole[40000:40010]
    status, f, _ = get(port, url(f"range-none-{where}", size=100), range="bytes=100-")
    assert (status, f["content-range"]) == (416, "bytes */100")  # a miss's 416, its whole kept
    assert b.count() == n + 2
    big = url(f"range-big-{where}", cc="max-age=60", size=200000)  # over max_object (64 KiB)
    status, f, part = get(port, big, range="bytes=100-109")
    assert (status, f["x-cache"], f["content-range"]) == (206, "MISS", "bytes 100-109/200000")
    assert part == b"." * 10
    _, f, _ = get(port, big, range="bytes=100000-100009")  # past what could ever be stored
    assert f["x-cache"] == "BYPASS"
    assert b.count() == n + 4


def test_curl_resumes_a_download_through_the_cache(env: SimpleNamespace, tmp_path: Path) -> None:
    """curl -C (resume) and -r (a range), an independent client: the resumed download is a
    miss (the whole is fetched, stored, and curl gets the rest), the range after it a hit."""
    require("curl")
    path = url("curl-range", cc="max-age=60", size=5000)
    out = tmp_path / "part"
    out.write_bytes(b"?" * 1200)  # an interrupted download
    run = ["curl", "-s", "-f", "-H", "Host: t", "--max-time", "10"]
    target = f"http://127.0.0.1:{env.main}{path}"
    subprocess.run([*run, "-C", "-", "-o", str(out), target], check=True, timeout=20)
    status, f, whole = get(env.main, path)
    assert (status, f["x-cache"], len(whole)) == (200, "HIT", 5000)
    assert out.read_bytes() == b"?" * 1200 + whole[1200:]
    got = subprocess.run([*run, "-r", "4990-", target], capture_output=True, check=True, timeout=20)
    assert got.stdout == whole[4990:]


def test_under_another_step_answers_are_events(env: SimpleNamespace) -> None:
    path = url("wrapped", cc="max-age=60")
    _, f, body = get(env.wrapped, path)
    assert (f["x-cache"], f["x-wrapped"]) == ("MISS", "1")
    _, f, again = get(env.wrapped, path)
    assert (f["x-cache"], f["x-wrapped"], again) == ("HIT", "1", body)
    assert int(f["age"]) >= 0
    status, f, empty = request(env.wrapped, "HEAD", path)
    assert (status, f["x-cache"], f["content-length"], empty) == (200, "HIT", str(len(body)), b"")
    assert get(env.main, path)[1]["x-cache"] == "HIT"  # one store for both listeners


def test_a_stale_entry_answers_for_a_failed_upstream_with_stale_if_error(env: SimpleNamespace) -> None:
    sie, plain = url("sie", cc="max-age=1, stale-if-error=60"), url("no-sie", cc="max-age=1")
    _, _, body = get(env.main, sie)
    get(env.main, plain)
    time.sleep(1.2)
    # the same cache behind a listener whose upstream is down
    status, f, stale = get(env.dead, sie)
    assert (status, f["x-cache"], stale) == (200, "STALE", body)
    assert get(env.dead, plain)[0] == 502


def test_a_waiter_goes_on_its_own_after_lock_timeout(env: SimpleNamespace) -> None:
    b, path = env.backend, url("lock-timeout", cc="max-age=60", delay="1")
    n = b.count()
    got: list[str] = []
    threads = [
        threading.Thread(target=lambda: got.append(get(env.small, path)[1]["x-cache"])) for _ in range(2)
    ]
    for t in threads:
        t.start()
        time.sleep(0.1)
    for t in threads:
        t.join(15)
    assert got == ["MISS", "MISS"]  # the second waited 0.3 s, then fetched for itself
    assert b.count() == n + 2


def test_waiters_fetch_when_the_first_client_goes_away(env: SimpleNamespace) -> None:
    b, path = env.backend, url("leader-gone", cc="max-age=60", delay="0.5")
    n = b.count()
    leader = socket.create_connection(("127.0.0.1", env.main), timeout=5)
    leader.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    time.sleep(0.1)
    got: list[tuple[int, str]] = []

    def one() -> None:
        s, f, _ = get(env.main, path)
        got.append((s, f["x-cache"]))

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    leader.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    leader.close()  # a reset: its fetch is dropped, and one of the waiters fetches for the others
    for t in threads:
        t.join(15)
    assert sorted(got) == [(200, "HIT"), (200, "HIT"), (200, "MISS")]
    assert b.count() == n + 2


WORKERS_SCRIPT = """
import os
import pipework as pw
from pipework.filters.cache import HttpCache

cache = HttpCache(name="shared")
pw.listen({main}, lambda p: p.demux_http().to(
    lambda p: p.headers(response={{"set": {{"x-worker": str(os.getpid())}}}}).to(
        lambda p: p.cache_http(cache).to(lambda p: p.proxy("127.0.0.1:{backend}")))))
pw.listen({admin}, lambda p: p.demux_http().to(lambda p: p.serve_cache_admin()))
"""


def test_every_worker_drops_what_one_purges(pipework, tmp_path: Path) -> None:
    """--workers 2: a purge (or an invalidating POST) lands in one worker; the other must not
    answer from its own copy afterwards. Which worker answered is its pid in X-Worker."""
    backend = Backend("b1")
    try:
        main, admin = free_ports(2)
        script = tmp_path / "w.py"
        script.write_text(WORKERS_SCRIPT.format(main=main, admin=admin, backend=backend.port))
        p = pipework("run", str(script), "--workers", "2")
        p.wait_log("listening on tcp", count=4)

        def first_answers(path: str) -> dict[str, str]:
            """Each worker's X-Cache for ``path``, on its first answer from now on."""
            seen: dict[str, str] = {}
            for _ in range(200):  # new connections: the kernel spreads them over the workers
                _, f, _ = get(main, path)
                seen.setdefault(f["x-worker"], f["x-cache"])
                if len(seen) == 2:
                    return seen
            raise AssertionError(f"only {len(seen)} worker answered")

        paths = [url(f"w{i}", cc="max-age=60") for i in range(3)]
        for path in paths:
            first_answers(path)  # stored in both
            assert set(first_answers(path).values()) == {"HIT"}
        status, _, body = request(admin, "PURGE", paths[0])
        assert (status, json.loads(body)) == (200, {"purged": 1})  # the admin's worker's copy
        assert set(first_answers(paths[0]).values()) == {"MISS"}
        assert request(main, "POST", paths[1])[0] == 200  # RFC 9111 4.4, in one worker
        assert set(first_answers(paths[1]).values()) == {"MISS"}
        assert set(first_answers(paths[2]).values()) == {"HIT"}  # untouched
        _, fields, body = request(admin, "GET", "/cache/stats")
        assert fields["x-pipework-worker"] in ("1/2", "2/2")  # whose counters these are
        status, _, body = request(admin, "POST", "/cache/purge?all=1")
        assert status == 200
        assert json.loads(body)["purged"] >= 1
        assert set(first_answers(paths[2]).values()) == {"MISS"}
    finally:
        backend.kill()


def test_a_reload_keeps_a_named_store_but_never_mixes_two(pipework, tmp_path: Path) -> None:
    """SIGHUP: the cache named "pages" keeps its entries; the two caches a script makes with
    cache_http's own options (both named "pipework") start empty, so neither gets the other's."""
    backend = Backend("b1")
    try:
        one, two, three = free_ports(3)
        script = tmp_path / "c.py"
        script.write_text(f"""
import pipework as pw
from pipework.filters.cache import HttpCache

pages = HttpCache(name="pages")
up = "127.0.0.1:{backend.port}"
def cached(**options):
    return lambda p: p.demux_http().to(lambda p: p.cache_http(**options).to(lambda p: p.proxy(up)))

pw.listen({one}, cached(cache=pages))
pw.listen({two}, cached(max_size=8 << 20))
pw.listen({three}, cached(max_size=9 << 20))
""")
        p = pipework("run", str(script))
        p.wait_log("listening on tcp", count=3)
        path = url("reload", cc="max-age=60")
        for port in (one, two, three):
            get(port, path)
            assert get(port, path)[1]["x-cache"] == "HIT"
        p.signal(signal.SIGHUP)
        p.wait_log("reloaded")
        assert [get(port, path)[1]["x-cache"] for port in (one, two, three)] == ["HIT", "MISS", "MISS"]
    finally:
        backend.kill()


def test_a_head_freshens_or_drops_the_stored_get(pipework, tmp_path: Path) -> None:
    """RFC 9111 4.3.5: a HEAD sent on for a stale GET freshens it when its 200 names the same
    representation (the same ETag and length), and drops it when it names another."""
    seen: list[str] = []
    state = {"etag": '"h1"'}

    class Origin(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _head(self) -> None:
            seen.append(self.command)
            self.send_response(200)
            self.send_header("Cache-Control", "max-age=1")
            self.send_header("ETag", state["etag"])
            self.send_header("Content-Length", "5")
            self.end_headers()

        def do_GET(self) -> None:
            self._head()
            self.wfile.write(b"hello")

        def do_HEAD(self) -> None:
            self._head()

        def log_message(self, *args: object) -> None:
            pass

    origin = ThreadingHTTPServer(("127.0.0.1", 0), Origin)
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    try:
        (port,) = free_ports(1)
        script = tmp_path / "h.py"
        script.write_text(f"""
import pipework as pw
cache = pw.HttpCache(name="h")
pw.listen({port}, lambda p: p.demux_http().to(
    lambda p: p.cache_http(cache).to(lambda p: p.proxy("127.0.0.1:{origin.server_address[1]}"))))
""")
        pipework("run", str(script)).wait_log("listening on tcp")
        assert get(port, "/r")[1]["x-cache"] == "MISS"
        time.sleep(1.1)  # stale
        assert request(port, "HEAD", "/r")[1]["x-cache"] == "MISS"  # sent on, and freshened the GET
        status, fields, body = get(port, "/r")
        assert (status, fields["x-cache"], body) == (200, "HIT", b"hello")
        assert seen == ["GET", "HEAD"]
        state["etag"] = '"h2"'
        time.sleep(1.1)
        request(port, "HEAD", "/r")  # another representation now: the stored GET goes
        assert get(port, "/r")[1]["x-cache"] == "MISS"
        assert seen == ["GET", "HEAD", "HEAD", "GET"]
    finally:
        origin.shutdown()
        origin.server_close()

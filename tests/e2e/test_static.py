"""`serve_files` end to end, on a directory the test builds: index files, MIME types, 404, path
traversal and symlinks, ETag / If-None-Match / If-Modified-Since, Range, HEAD, gzip and brotli
variants and pre-compressed siblings, revalidation against the disk, files past ``max_file``, 405.
Checked with curl, httpx and raw sockets; served directly under ``demux_http`` (the fast path) and
deeper in a sub-pipeline."""

from __future__ import annotations

import gzip
import importlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import httptools
import pytest
from helpers import REQUIRE_ALL, Pipework, free_port, require

TIMEOUT = 5.0
MAX_FILE = 100_000

SCRIPT = """\
import pipework as pw

pw.listen("127.0.0.1:{fast}", lambda p: p.demux_http().to(
    lambda p: p.serve_files({root!r}, max_file={max_file})))
pw.listen("127.0.0.1:{deep}", lambda p: p.demux_http().to(
    lambda p: p.handle_message_start(lambda evt: None).serve_files({root!r}, max_file={max_file})))
pw.listen("127.0.0.1:{fresh}", lambda p: p.demux_http().to(
    lambda p: p.serve_files({fresh_root!r}, revalidate=0.2)))
"""

KINDS = ["fast", "deep"]
CSS = b"body { color: #123456; margin: 0 auto; }\n" * 40  # compressible, > 256 bytes
PNG = b"\x89PNG\r\n\x1a\n" + bytes((i * 7919) % 251 for i in range(3000))
BIG = b"".join(b"line %06d of a text file bigger than max_file\n" % i for i in range(4000))
PRE = b"pre-compressed text " * 200


def require_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError:
        msg = f"{name} is not installed (.venv/bin/pip install {name})"
        if REQUIRE_ALL:
            pytest.fail(msg)
        pytest.skip(msg)


def build_site(root: Path, outside: Path) -> None:
    (outside / "secret.txt").write_bytes(b"SECRET outside the root\n")
    (outside / "dir").mkdir()
    (outside / "dir" / "secret.txt").write_bytes(b"SECRET in a directory outside\n")
    (root / "index.html").write_bytes(b"<h1>home</h1>\n")
    (root / "style.css").write_bytes(CSS)
    (root / "app.js").write_bytes(b"console.log('hi');\n")
    (root / "data.json").write_bytes(b'{"a": 1}\n')
    (root / "image.png").write_bytes(PNG)
    (root / "pic.svg").write_bytes(b'<svg xmlns="http://www.w3.org/2000/svg"/>\n')
    (root / "notes.unknownext").write_bytes(b"who knows\n")
    (root / "archive.tar.gz").write_bytes(gzip.compress(b"tar bytes" * 100))
    (root / "empty.txt").write_bytes(b"")
    (root / "caf\u00e9.txt").write_bytes(b"unicode name\n")
    (root / "big.txt").write_bytes(BIG)
    (root / "pre.txt").write_bytes(PRE)
    (root / "pre.txt.gz").write_bytes(gzip.compress(b"FROM THE SIBLING " + PRE))
    (root / "sub").mkdir()
    (root / "sub" / "index.html").write_bytes(b"<h1>sub</h1>\n")
    (root / "sub" / "page.txt").write_bytes(b"a page\n")
    (root / "link-in.css").symlink_to(root / "style.css")
    (root / "link-out.txt").symlink_to(outside / "secret.txt")
    (root / "dir-out").symlink_to(outside / "dir")
    (root / "sub-out").mkdir()
    (root / "sub-out" / "index.html").symlink_to(outside / "secret.txt")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    base = tmp_path_factory.mktemp("static")
    root, outside, fresh = base / "www", base / "outside", base / "fresh"
    for d in (root, outside, fresh):
        d.mkdir()
    build_site(root, outside)
    ports = {"fast": free_port(), "deep": free_port(), "fresh": free_port()}
    script = base / "site.py"
    script.write_text(SCRIPT.format(root=str(root), fresh_root=str(fresh), max_file=MAX_FILE, **ports))
    p = Pipework("run", str(script))
    try:
        p.wait_log("listening on tcp", count=3)
        yield SimpleNamespace(root=root, fresh_root=fresh, proc=p, **ports)
    finally:
        p.cleanup()


# -- a raw client with llhttp's response parser -----------------------------------------------------
@dataclass
class Resp:
    status: int = 0
    fields: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        for k, v in self.fields:
            if k == name.encode():
                return v.decode("latin-1")
        return None


class Reader:
    def __init__(self, head_only: bool) -> None:
        self.head_only = head_only
        self.done: list[Resp] = []
        self.cur = Resp()
        self.parser = httptools.HttpResponseParser(self)

    def on_message_begin(self) -> None:
        self.cur = Resp()

    def on_header(self, name: bytes, value: bytes) -> None:
        self.cur.fields.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.cur.status = self.parser.get_status_code()
        if self.head_only:  # llhttp cannot be told "this answers HEAD": stop at the head
            self.done.append(self.cur)

    def on_body(self, body: bytes) -> None:
        self.cur.body += body

    def on_message_complete(self) -> None:
        if not self.head_only:
            self.done.append(self.cur)


def request(
    port: int, target: str, *fields: str, method: str = "GET", body: bytes = b"", close: bool = True
) -> Resp:
    """One request on a new connection; with ``close``, check that the server then closes."""
    lines = [f"{method} {target} HTTP/1.1", "Host: t", *fields]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        reader = Reader(head_only=method == "HEAD")
        raw = b""
        while not reader.done:
            data = s.recv(1 << 16)
            assert data, f"closed before a whole response: {raw!r}"
            raw += data
            try:
                reader.parser.feed_data(data)
            except httptools.HttpParserError:
                if not reader.done:
                    raise
        if method == "HEAD":  # nothing may follow the head of an answer to HEAD
            head_end = raw.index(b"\r\n\r\n") + 4
            assert raw[head_end:] == b""
            if close:
                assert s.recv(1 << 16) == b""
        elif close:
            assert s.recv(1 << 16) == b""
    return reader.done[0]


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    r = subprocess.run(
        [require("curl"), "-sS", "--max-time", "10", *args], capture_output=True, timeout=15, check=False
    )
    assert r.returncode == 0, r.stderr.decode()
    return r


def url(port: int, path: str) -> str:
    return f"http://127.0.0.1:{port}{path}"


# -- lookup ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_index_files_and_plain_files(site: SimpleNamespace, kind: str) -> None:
    port = getattr(site, kind)
    r = request(port, "/")
    assert (r.status, r.body) == (200, b"<h1>home</h1>\n")
    assert r.header("content-type") == "text/html; charset=utf-8"
    assert request(port, "/sub/").body == b"<h1>sub</h1>\n"
    assert request(port, "/sub/page.txt").body == b"a page\n"
    assert request(port, "/sub/page.txt?v=3&x").body == b"a page\n"  # the query is not part of the path
    assert request(port, "//sub/./page.txt").body == b"a page\n"
    assert request(port, "/caf%C3%A9.txt").body == b"unicode name\n"
    r = request(port, "/empty.txt")
    assert (r.status, r.body, r.header("content-length")) == (200, b"", "0")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("path", "ctype"),
    [
        ("/index.html", "text/html; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/data.json", "application/json; charset=utf-8"),
        ("/image.png", "image/png"),
        ("/pic.svg", "image/svg+xml"),
        ("/notes.unknownext", "application/octet-stream"),
    ],
)
def test_mime_types(site: SimpleNamespace, kind: str, path: str, ctype: str) -> None:
    r = request(getattr(site, kind), path)
    assert r.status == 200
    assert r.header("content-type") == ctype
    assert r.body == (site.root / path[1:]).read_bytes()


def test_mime_type_of_javascript(site: SimpleNamespace) -> None:
    r = request(site.fast, "/app.js")
    assert r.header("content-type") in (
        "text/javascript; charset=utf-8",
        "application/javascript; charset=utf-8",
    )


def test_a_compressed_file_is_served_as_it_is(site: SimpleNamespace) -> None:
    """archive.tar.gz is gzip bytes: never labelled as the type inside with no Content-Encoding."""
    r = request(site.fast, "/archive.tar.gz", "Accept-Encoding: gzip, br")
    assert r.body == (site.root / "archive.tar.gz").read_bytes()
    assert r.header("content-encoding") is None
    assert r.header("content-type") in ("application/gzip", "application/x-gzip", "application/octet-stream")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("path", ["/missing.html", "/sub/missing/", "/sub/page.txt/x", "/style.css%00.html"])
def test_not_found(site: SimpleNamespace, kind: str, path: str) -> None:
    r = request(getattr(site, kind), path)
    assert r.status == 404
    assert r.body == b"Not Found\n"
    r = request(getattr(site, kind), path, method="HEAD")
    assert r.status == 404


TRAVERSALS = [
    "/../secret.txt",
    "/sub/../../secret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2E/secret.txt",
    "/sub/%2e%2e/%2e%2e/secret.txt",
    "/..%2fsecret.txt",
    "/sub%2f..%2f..%2fsecret.txt",
    "/%2e%2e%2f%2e%2e%2fsecret.txt",
    "/..%5csecret.txt",
    "/sub/..%5c..%5csecret.txt",
    "/./../secret.txt",
    "/%252e%252e/secret.txt",
    "/link-out.txt",
    "/dir-out/secret.txt",
    "/dir-out/",
    "/sub-out/",
    "/sub-out/index.html",
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("path", TRAVERSALS)
def test_nothing_outside_the_root_is_served(site: SimpleNamespace, kind: str, path: str) -> None:
    r = request(getattr(site, kind), path)
    assert r.status == 404, r
    assert b"SECRET" not in r.body


def test_traversal_with_curl_path_as_is(site: SimpleNamespace) -> None:
    r = curl("--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", url(site.fast, "/sub/../../secret.txt"))
    assert r.stdout == b"404"


@pytest.mark.parametrize("kind", KINDS)
def test_a_symlink_inside_the_root_is_followed(site: SimpleNamespace, kind: str) -> None:
    r = request(getattr(site, kind), "/link-in.css")
    assert (r.status, r.body) == (200, CSS)


# -- conditional requests --------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_etag_and_if_none_match(site: SimpleNamespace, kind: str) -> None:
    port = getattr(site, kind)
    r = request(port, "/style.css")
    etag, lm = r.header("etag"), r.header("last-modified")
    assert etag is not None
    assert etag.startswith('"')
    assert etag.endswith('"')
    assert lm is not None
    assert lm.endswith(" GMT")
    for inm in (etag, f'"other", {etag}', "*", f"W/{etag}"):
        r304 = request(port, "/style.css", f"If-None-Match: {inm}")
        assert (r304.status, r304.body) == (304, b""), inm
        assert r304.header("etag") == etag
        assert r304.header("content-length") is None
    assert request(port, "/style.css", 'If-None-Match: "other"').status == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2)
    assert request(port, "/style.css", 'If-None-Match: "other"', f"If-Modified-Since: {lm}").status == 200
    assert request(port, "/style.css", f"If-None-Match: {etag}", method="HEAD").status == 304


@pytest.mark.parametrize("kind", KINDS)
def test_if_modified_since(site: SimpleNamespace, kind: str) -> None:
    port = getattr(site, kind)
    lm = request(port, "/index.html").header("last-modified")
    r = request(port, "/index.html", f"If-Modified-Since: {lm}")
    assert (r.status, r.body) == (304, b"")
    assert request(port, "/index.html", "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT").status == 200


def test_curl_revalidates_with_etag(site: SimpleNamespace, tmp_path: Path) -> None:
    etags = tmp_path / "etags"
    curl("-o", "/dev/null", "--etag-save", str(etags), url(site.fast, "/style.css"))
    r = curl(
        "-o", "/dev/null", "-w", "%{http_code}", "--etag-compare", str(etags), url(site.fast, "/style.css")
    )
    assert r.stdout == b"304"


# -- ranges ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_single_range(site: SimpleNamespace, kind: str) -> None:
    port = getattr(site, kind)
    size = len(PNG)
    r = request(port, "/image.png", "Range: bytes=10-19")
    assert (r.status, r.body) == (206, PNG[10:20])
    assert r.header("content-range") == f"bytes 10-19/{size}"
    assert r.header("content-length") == "10"
    r = request(port, "/image.png", "Range: bytes=-100")
    assert (r.status, r.body) == (206, PNG[-100:])
    assert r.header("content-range") == f"bytes {size - 100}-{size - 1}/{size}"
    r = request(port, "/image.png", "Range: bytes=2990-")
    assert (r.status, r.body) == (206, PNG[2990:])
    r = request(port, "/image.png", f"Range: bytes=0-{size * 10}")  # clamped to the end
    assert (r.status, r.body) == (206, PNG)
    assert r.header("content-range") == f"bytes 0-{size - 1}/{size}"
    r = request(port, "/image.png", "Range: bytes=5-5", method="HEAD")
    assert (r.status, r.header("content-length"), r.header("content-range")) == (
        206,
        "1",
        f"bytes 5-5/{size}",
    )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "spec", [f"bytes={len(PNG)}-", f"bytes={len(PNG) + 100}-{len(PNG) + 200}", "bytes=-0"]
)
def test_unsatisfiable_range(site: SimpleNamespace, kind: str, spec: str) -> None:
    r = request(getattr(site, kind), "/image.png", f"Range: {spec}")
    assert r.status == 416
    assert r.header("content-range") == f"bytes */{len(PNG)}"
    assert r.body == b""


def test_ranges_the_server_does_not_take_give_the_whole_file(site: SimpleNamespace) -> None:
    for spec in ("bytes=0-1,5-6", "lines=1-2", "bytes=x-y"):
        r = request(site.fast, "/image.png", f"Range: {spec}")
        assert (r.status, r.body) == (200, PNG), spec


def test_curl_range(site: SimpleNamespace) -> None:
    assert curl("-r", "100-199", url(site.fast, "/big.txt")).stdout == BIG[100:200]
    assert curl("-r", "-7", url(site.fast, "/style.css")).stdout == CSS[-7:]


def test_if_range_with_another_validator_gives_the_whole_file(site: SimpleNamespace) -> None:
    """RFC 9110 13.1.5: a Range under a stale If-Range is ignored."""
    etag = request(site.fast, "/image.png").header("etag")
    r = request(site.fast, "/image.png", "Range: bytes=0-9", f"If-Range: {etag}")
    assert (r.status, r.body) == (206, PNG[:10])
    r = request(site.fast, "/image.png", "Range: bytes=0-9", 'If-Range: "an-old-etag"')
    assert (r.status, r.body) == (200, PNG)


# -- HEAD, methods, keep-alive -----------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_head_has_the_headers_and_no_body(site: SimpleNamespace, kind: str) -> None:
    port = getattr(site, kind)
    for path, body in (("/style.css", CSS), ("/big.txt", BIG), ("/", b"<h1>home</h1>\n")):
        get = request(port, path)
        head = request(port, path, method="HEAD")
        assert head.status == 200
        assert head.header("content-length") == str(len(body))
        for name in ("content-type", "etag", "last-modified", "accept-ranges"):
            assert head.header(name) == get.header(name), name
        gz = request(port, path, "Accept-Encoding: gzip", method="HEAD")
        assert gz.header("content-length") == request(port, path, "Accept-Encoding: gzip").header(
            "content-length"
        )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_are_not_allowed(site: SimpleNamespace, kind: str, method: str) -> None:
    r = request(getattr(site, kind), "/index.html", method=method, body=b"x=1")
    assert r.status == 405
    assert r.header("allow") == "GET, HEAD"


def test_post_with_curl_is_405(site: SimpleNamespace) -> None:
    r = curl("-o", "/dev/null", "-w", "%{http_code}", "-d", "x=1", url(site.fast, "/index.html"))
    assert r.stdout == b"405"


@pytest.mark.parametrize("kind", KINDS)
def test_many_files_on_one_connection(site: SimpleNamespace, kind: str, tmp_path: Path) -> None:
    port = getattr(site, kind)
    names = ["index.html", "style.css", "image.png", "big.txt", "sub/page.txt"] * 2
    args: list[str] = []
    for i, name in enumerate(names):
        args += ["-o", str(tmp_path / f"{i}"), url(port, f"/{name}")]
    r = curl("-w", "%{num_connects} ", *args)
    assert r.stdout.split() == [b"1"] + [b"0"] * (len(names) - 1)
    for i, name in enumerate(names):
        assert (tmp_path / f"{i}").read_bytes() == (site.root / name).read_bytes()


# -- compression -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_gzip_and_brotli_by_accept_encoding(site: SimpleNamespace, kind: str) -> None:
    brotli: Any = require_module("brotli")
    port = getattr(site, kind)
    plain = request(port, "/style.css")
    assert plain.header("content-encoding") is None
    assert plain.header("vary") == "Accept-Encoding"
    gz = request(port, "/style.css", "Accept-Encoding: gzip")
    assert gz.header("content-encoding") == "gzip"
    assert gz.header("vary") == "Accept-Encoding"
    assert gz.header("etag") == plain.header("etag")
    assert gzip.decompress(gz.body) == CSS
    assert int(gz.header("content-length") or 0) == len(gz.body) < len(CSS)
    br = request(port, "/style.css", "Accept-Encoding: gzip, deflate, br")
    assert br.header("content-encoding") == "br"
    assert brotli.decompress(br.body) == CSS
    for refused in ("br;q=0, gzip;q=0", "identity", "gzip;q=0.000", "compress"):
        r = request(port, "/style.css", f"Accept-Encoding: {refused}")
        assert (r.header("content-encoding"), r.body) == (None, CSS), refused
    r = request(port, "/style.css", "Accept-Encoding: br;q=0, gzip;q=0.5")
    assert r.header("content-encoding") == "gzip"


@pytest.mark.parametrize("kind", KINDS)
def test_small_and_binary_files_are_not_compressed(site: SimpleNamespace, kind: str) -> None:
    for path in ("/image.png", "/index.html"):
        r = request(getattr(site, kind), path, "Accept-Encoding: gzip, br")
        assert r.header("content-encoding") is None
        assert r.header("vary") is None
        assert r.body == (site.root / path[1:]).read_bytes()


def test_a_malformed_accept_encoding_is_not_a_server_error(site: SimpleNamespace) -> None:
    for value in ("gzip;q=abc", "br;q=, gzip", "gzip;q=1e999999"):
        r = request(site.fast, "/style.css", f"Accept-Encoding: {value}")
        assert r.status == 200, value
        body = gzip.decompress(r.body) if r.header("content-encoding") == "gzip" else r.body
        if r.header("content-encoding") == "br":
            body = require_module("brotli").decompress(r.body)
        assert body == CSS


def test_curl_compressed(site: SimpleNamespace) -> None:
    r = curl("--compressed", "-D", "-", url(site.fast, "/style.css"))
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    assert b"\r\ncontent-encoding: " in head.lower()
    assert body == CSS
    # a file past max_file is sent from the disk as it is, never compressed per request
    r = curl("--compressed", "-D", "-", url(site.fast, "/big.txt"))
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    assert b"\r\ncontent-encoding: " not in head.lower()
    assert body == BIG


def test_httpx_decodes_gzip(site: SimpleNamespace) -> None:
    httpx: Any = require_module("httpx")
    with httpx.Client(timeout=TIMEOUT) as client:
        r = client.get(url(site.fast, "/style.css"), headers={"Accept-Encoding": "gzip"})
        assert r.headers["content-encoding"] == "gzip"
        assert r.content == CSS
        r = client.get(url(site.fast, "/big.txt"), headers={"Accept-Encoding": "gzip"})
        assert r.content == BIG


@pytest.mark.parametrize("kind", KINDS)
def test_a_precompressed_sibling_is_served(site: SimpleNamespace, kind: str) -> None:
    port = getattr(site, kind)
    r = request(port, "/pre.txt", "Accept-Encoding: gzip")
    assert r.header("content-encoding") == "gzip"
    assert r.header("vary") == "Accept-Encoding"
    assert gzip.decompress(r.body) == b"FROM THE SIBLING " + PRE  # the file on disk, not our own gzip
    assert request(port, "/pre.txt").body == PRE


# -- large files and freshness ---------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_a_file_past_max_file_is_served_whole(site: SimpleNamespace, kind: str) -> None:
    assert len(BIG) > MAX_FILE
    port = getattr(site, kind)
    for _ in range(2):
        r = request(port, "/big.txt")
        assert (r.status, r.body) == (200, BIG)
    assert request(port, "/big.txt", "Accept-Encoding: gzip").body == BIG  # streamed as it is
    assert request(port, "/big.txt", "Range: bytes=150000-150099").body == BIG[150000:150100]
    assert request(port, "/big.txt", "Range: bytes=-10").body == BIG[-10:]
    assert request(port, "/big.txt", "Range: bytes=999999-").status == 416
    r = request(port, "/big.txt", method="HEAD")
    assert r.header("content-length") == str(len(BIG))
    assert r.body == b""


def test_a_changed_file_is_served_after_the_revalidate_interval(site: SimpleNamespace) -> None:
    page = site.fresh_root / "page.txt"
    page.write_bytes(b"version one\n")
    assert request(site.fresh, "/page.txt").body == b"version one\n"
    etag = request(site.fresh, "/page.txt").header("etag")
    page.write_bytes(b"the second version, longer\n")
    time.sleep(0.3)
    r = request(site.fresh, "/page.txt")
    assert r.body == b"the second version, longer\n"
    assert r.header("etag") != etag
    assert request(site.fresh, "/page.txt", f"If-None-Match: {etag}").status == 200

    os.replace(site.fresh_root / "page.txt", site.fresh_root / "gone.txt")  # deleted (a new inode below)
    time.sleep(0.3)
    assert request(site.fresh, "/page.txt").status == 404
    (site.fresh_root / "page.txt").write_bytes(b"back\n")  # a file that appears is served at once
    assert request(site.fresh, "/page.txt").body == b"back\n"


def test_a_change_of_the_same_size_is_seen(site: SimpleNamespace) -> None:
    """The cache compares the modification time in nanoseconds, not only the size."""
    page = site.fresh_root / "same-size.txt"
    page.write_bytes(b"first\n")
    assert request(site.fresh, "/same-size.txt").body == b"first\n"
    time.sleep(0.05)  # file times move in clock ticks (up to 10 ms): let this write get a later one
    page.write_bytes(b"other\n")
    deadline = time.monotonic() + 3
    while request(site.fresh, "/same-size.txt").body != b"other\n":
        assert time.monotonic() < deadline, "the change was never seen"
        time.sleep(0.05)


def test_pipelined_large_files_to_a_slow_reader(pipework, tmp_path: Path) -> None:
    """Answers wait while the client does not read, instead of piling up past the write limit."""
    root = tmp_path / "www"
    root.mkdir()
    blob = os.urandom(3 * 1024 * 1024)
    (root / "blob.bin").write_bytes(blob)
    port = free_port()
    script = tmp_path / "s.py"
    script.write_text(
        "import pipework as pw\n"
        f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.demux_http().to(\n"
        f"    lambda p: p.serve_files({str(root)!r}, max_file=8 * 1024 * 1024))))\n"
    )
    p = pipework("run", str(script))
    p.wait_log("listening on tcp")
    n = 6  # 18 MiB of answers: far past the 4 MiB a connection may leave unsent
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        s.sendall(
            b"GET /blob.bin HTTP/1.1\r\nHost: x\r\n\r\n" * (n - 1)
            + b"GET /blob.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        time.sleep(0.5)  # let the server fill every buffer it has
        got = bytearray()
        while chunk := s.recv(1 << 20):
            got += chunk
    assert got.count(b"HTTP/1.1 200 OK\r\n") == n
    assert got.count(blob) == n
    assert "BufferOverflow" not in p.output()


def test_a_1_gib_file_streams_with_flat_memory(pipework, tmp_path: Path) -> None:
    """A file past max_file goes from the disk to the client as the client reads: memory stays flat."""
    root = tmp_path / "www"
    root.mkdir()
    big = root / "huge.bin"
    with big.open("wb") as f:  # sparse: 1 GiB of zeros without using the disk
        f.truncate(1 << 30)
    port = free_port()
    script = tmp_path / "s.py"
    script.write_text(
        "import pipework as pw\n"
        f"pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.demux_http().to(\n"
        f"    lambda p: p.serve_files({str(root)!r}))))\n"
    )
    p = pipework("run", str(script))
    p.wait_log("listening on tcp")

    def rss_kib() -> int:
        with open(f"/proc/{p.proc.pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))

    base = rss_kib()
    peak = base
    got = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"GET /huge.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(4096)
        head, _, rest = head.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"content-length: 1073741824" in head
        got = len(rest)
        buf = bytearray(1 << 20)
        n = 0
        while True:
            k = s.recv_into(buf)
            if not k:
                break
            got += k
            n += 1
            if n % 64 == 0:
                peak = max(peak, rss_kib())
    assert got == 1 << 30
    assert peak - base < 32 * 1024, f"the server grew by {peak - base} KiB while streaming 1 GiB"

"""Writing responses (status lines, header blocks, chunk framing, encode_response) and the
message objects scripts see: Headers, RequestHead, Request, Response, as_response."""

from __future__ import annotations

import json
from typing import Any

import httptools
import pytest

from pipework.codec.http1 import (
    LAST_CHUNK,
    NO_BODY_STATUS,
    DateCache,
    Headers,
    LocalProtocolError,
    Request,
    RequestDecoder,
    RequestHead,
    Response,
    ResponseHead,
    as_response,
    chunk,
    encode_response,
    format_http_date,
    header_block,
    last_chunk,
    reason,
    status_line,
)
from pipework.codec.http1.encode import request_line

DATE = b"date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"


class Parsed:
    """A response as llhttp's response parser reads it (independent of our encoder)."""

    def __init__(self, data: bytes) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""
        self.complete = 0
        self.keep_alive = False
        self.parser = httptools.HttpResponseParser(self)
        self.parser.feed_data(data)
        self.status = self.parser.get_status_code()

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete += 1
        self.keep_alive = self.parser.should_keep_alive()

    def get(self, name: bytes) -> bytes | None:
        return dict(self.headers).get(name)


# -- status lines and fields ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "line"),
    [
        (200, b"HTTP/1.1 200 OK\r\n"),
        (404, b"HTTP/1.1 404 Not Found\r\n"),
        (100, b"HTTP/1.1 100 Continue\r\n"),
        (431, b"HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        (299, b"HTTP/1.1 299 \r\n"),  # RFC 9112 4: the reason phrase may be empty
        (999, b"HTTP/1.1 999 \r\n"),
    ],
)
def test_status_line(status: int, line: bytes) -> None:
    assert status_line(status) == line


def test_status_line_with_own_reason() -> None:
    assert status_line(200, "Fine") == b"HTTP/1.1 200 Fine\r\n"
    assert status_line(599, "Caf\xe9") == b"HTTP/1.1 599 Caf\xe9\r\n"
    assert reason(418) == "I'm a Teapot"
    assert reason(299) == ""
    # made once and kept (the standard ones from the start), the same bytes each time after
    assert status_line(200, "OK") is status_line(200)
    assert status_line(200, "Fine") is status_line(200, "Fine")
    for bad in ("OK\r\nX: 1", "Fine\n"):  # a refused reason is not kept either
        with pytest.raises(LocalProtocolError):
            status_line(200, bad)
        with pytest.raises(LocalProtocolError):
            status_line(200, bad)
    with pytest.raises(LocalProtocolError):
        status_line(1000, "Fine")


@pytest.mark.parametrize("status", [0, 99, 1000, -200])
def test_status_must_have_three_digits(status: int) -> None:
    with pytest.raises(LocalProtocolError):
        status_line(status)


@pytest.mark.parametrize("bad", ["OK\r\nSet-Cookie: x=1", "OK\n", "OK\r", "O\x00K"])
def test_reason_injection_is_refused(bad: str) -> None:
    with pytest.raises(LocalProtocolError):
        status_line(200, bad)


def test_header_block() -> None:
    assert header_block([(b"Content-Type", b"text/plain"), (b"X-Empty", b"")]) == (
        b"Content-Type: text/plain\r\nX-Empty: \r\n"
    )
    assert header_block([]) == b""


@pytest.mark.parametrize(
    "field",
    [
        (b"X", b"a\r\nSet-Cookie: admin=1"),
        (b"X", b"a\nb"),
        (b"X", b"a\rb"),
        (b"X", b"a\x00b"),
        (b"X\r\nY", b"v"),
        (b"X\x00", b"v"),
    ],
)
def test_header_injection_is_refused(field: tuple[bytes, bytes]) -> None:
    with pytest.raises(LocalProtocolError):
        header_block([(b"Ok", b"1"), field])


def test_request_line() -> None:
    assert request_line("GET", "/a?b") == b"GET /a?b HTTP/1.1\r\n"
    for target in ("/a b", "/a\r\nX: y", "/\x00"):
        with pytest.raises(LocalProtocolError):
            request_line("GET", target)


# -- chunked framing (RFC 9112 7.1) -----------------------------------------------------------------
def test_chunk_framing() -> None:
    assert chunk(b"") == b""
    assert chunk(b"abc") == b"3\r\nabc\r\n"
    assert chunk(b"x" * 255) == b"ff\r\n" + b"x" * 255 + b"\r\n"
    assert chunk(b"\r\n") == b"2\r\n\r\n\r\n"
    assert LAST_CHUNK == last_chunk() == last_chunk([]) == b"0\r\n\r\n"
    assert last_chunk([(b"X-Sum", b"1")]) == b"0\r\nX-Sum: 1\r\n\r\n"
    with pytest.raises(LocalProtocolError):
        last_chunk([(b"X", b"1\r\n")])


def test_chunks_decode_with_llhttp() -> None:
    pieces = [b"hello", b"", b" ", b"w" * 1000, b"\r\n0\r\n\r\n"]
    wire = (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
        + b"".join(chunk(p) for p in pieces)
        + last_chunk([(b"x-trailer", b"t")])
    )
    p = Parsed(wire)
    assert p.body == b"".join(pieces)
    assert p.complete == 1


# -- encode_response --------------------------------------------------------------------------------
def test_encode_response_exact_bytes() -> None:
    resp = Response("hi", headers={"X-A": "1"})
    assert encode_response(resp, DATE) == (
        b"HTTP/1.1 200 OK\r\nX-A: 1\r\ncontent-type: text/plain; charset=utf-8\r\n"
        + DATE
        + b"content-length: 2\r\n\r\nhi"
    )


def test_encode_response_closing() -> None:
    data = encode_response(Response(b"x"), DATE, keep_alive=False)
    assert data.endswith(b"content-length: 1\r\nconnection: close\r\n\r\nx")
    p = Parsed(data)
    assert not p.keep_alive
    assert p.body == b"x"
    assert Parsed(encode_response(Response(b"x"), DATE, keep_alive=True)).keep_alive


def test_encode_response_to_head_keeps_the_length_and_leaves_out_the_body() -> None:
    data = encode_response(Response(b"12345"), DATE, head_only=True)
    assert data == b"HTTP/1.1 200 OK\r\n" + DATE + b"content-length: 5\r\n\r\n"
    closing = encode_response(Response(b"12345"), DATE, keep_alive=False, head_only=True)
    assert closing.endswith(b"content-length: 5\r\nconnection: close\r\n\r\n")


@pytest.mark.parametrize("status", [204, 304, 100, 101])
def test_encode_response_without_content(status: int) -> None:
    """RFC 9110 8.6: no Content-Length in 1xx and 204; no body after 1xx, 204 and 304."""
    data = encode_response(Response(b"must not appear", status), DATE)
    assert data.endswith(DATE + b"\r\n")
    assert b"content-length" not in data
    assert b"must not appear" not in data
    assert sorted(NO_BODY_STATUS) == [204, 304]


def test_encode_response_drops_the_fields_it_writes_itself() -> None:
    resp = Response(
        b"abc",
        headers=[
            ("Content-Length", "99"),
            ("Transfer-Encoding", "chunked"),
            ("Date", "yesterday"),
            ("Connection", "keep-alive"),
            ("X-Kept", "yes"),
        ],
    )
    data = encode_response(resp, DATE, keep_alive=False)
    p = Parsed(data)
    assert p.headers == [
        (b"x-kept", b"yes"),
        (b"date", DATE[6:-2]),
        (b"content-length", b"3"),
        (b"connection", b"close"),
    ]
    assert p.body == b"abc"


def test_encode_response_refuses_header_injection() -> None:
    with pytest.raises(LocalProtocolError):
        encode_response(Response(b"", headers={"Location": "/x\r\nSet-Cookie: a=1"}), DATE)
    with pytest.raises(LocalProtocolError):
        encode_response(Response(b"", headers={"X\r\nY": "1"}), DATE)
    with pytest.raises(LocalProtocolError):
        encode_response(Response(b"", reason="OK\r\n"), DATE)


def test_encode_response_with_own_reason_and_repeated_fields() -> None:
    resp = Response(b"", 201, [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")], reason="Made")
    data = encode_response(resp, DATE)
    assert data.startswith(b"HTTP/1.1 201 Made\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n")
    assert Parsed(data).complete == 1


def test_date_cache_makes_one_line_a_second() -> None:
    dc = DateCache()
    a = dc.get(784111777.2)
    assert a == DATE
    assert dc.get(784111777.9) is a
    b = dc.get(784111778.0)
    assert b == b"date: Sun, 06 Nov 1994 08:49:38 GMT\r\n"
    assert dc.value == b"Sun, 06 Nov 1994 08:49:38 GMT"
    assert format_http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT"


# -- Headers ---------------------------------------------------------------------------------------
def test_headers_are_case_insensitive_and_multi_valued() -> None:
    h = Headers([("Content-Type", "text/html"), (b"Set-Cookie", b"a=1"), ("set-cookie", "b=2")])
    assert h["content-type"] == h["CONTENT-TYPE"] == "text/html"
    assert h["Set-Cookie"] == "a=1"
    assert h.get_all("SET-COOKIE") == ["a=1", "b=2"]
    assert h.get("x-missing") is None
    assert h.get("x-missing", "d") == "d"
    assert "set-cookie" in h
    assert "X" not in h
    assert 3 not in h
    with pytest.raises(KeyError):
        h["x-missing"]
    assert len(h) == 3
    assert list(h) == ["Content-Type", "Set-Cookie", "set-cookie"]


def test_headers_set_add_remove_keep_order() -> None:
    h = Headers([("A", "1"), ("B", "2"), ("a", "3")])
    h["a"] = "4"  # replaces every value, appended at the end
    assert h.items() == [("B", "2"), ("a", "4")]
    h.add("b", "5")
    assert h.get_all("B") == ["2", "5"]
    del h["B"]
    assert h.items() == [("a", "4")]
    h.remove("nothing")
    assert h.raw() == [(b"a", b"4")]


def test_headers_from_raw_and_back_are_latin1() -> None:
    raw = [(b"X-Latin", b"caf\xe9"), (b"Host", b"a")]
    h = Headers.from_raw(raw)
    assert h["x-latin"] == "caf\xe9"
    assert h.raw() == raw
    assert h == Headers(raw)
    assert h != Headers(raw[:1])
    assert "Headers(" in repr(h)
    with pytest.raises(TypeError):
        hash(h)


# -- RequestHead, Request --------------------------------------------------------------------------
def test_request_head_splits_the_target_lazily() -> None:
    head = RequestHead("GET", "/a/b?x=1&x=2&y=&z", raw_headers=[(b"Host", b"h"), (b"X", b"1")])
    assert head.path == "/a/b"
    assert head.query == "x=1&x=2&y=&z"
    assert head.query_params() == {"x": ["1", "2"], "y": [""], "z": [""]}
    assert head.header(b"host") == b"h"
    assert head.header(b"missing") is None
    assert head.headers["HOST"] == "h"
    bare = RequestHead("GET", "/plain")
    assert (bare.path, bare.query, bare.query_params()) == ("/plain", "", {})
    assert repr(bare) == "<RequestHead GET /plain HTTP/1.1>"


def test_request_target_as_parsed_and_as_set() -> None:
    """A parsed head keeps the target's bytes and decodes them on first use; setting the target
    changes both and the path and query made from the old one."""
    d = RequestDecoder()
    d.receive_data(b"GET /caf%C3%A9?a=1 HTTP/1.1\r\nHost: h\r\n\r\n")
    head = d.events[0]
    assert isinstance(head, RequestHead)
    assert head.raw_target == b"/caf%C3%A9?a=1"
    assert (head.target, head.path, head.query) == ("/caf%C3%A9?a=1", "/caf%C3%A9", "a=1")
    head.target = "/new?b=2"
    assert (head.raw_target, head.path, head.query) == (b"/new?b=2", "/new", "b=2")
    assert RequestHead("GET", "/x").raw_target == b"/x"
    with pytest.raises(UnicodeEncodeError):
        head.target = "/\u2603"  # a request line is latin-1: refused when set, not when sent


def test_request_json_form_query_text() -> None:
    head = RequestHead("POST", "/p?q=%20s&n=1", raw_headers=[(b"Content-Type", b"application/json")])
    req = Request(head, json.dumps({"a": [1, 2], "b": "\u00e9"}).encode())
    assert req.json() == {"a": [1, 2], "b": "\u00e9"}
    assert req.query == {"q": [" s"], "n": ["1"]}
    assert (req.method, req.path, req.target) == ("POST", "/p", "/p?q=%20s&n=1")
    assert req.headers["content-type"] == "application/json"
    assert req.text() == req.body.decode()
    with pytest.raises(ValueError, match="line 1 column 2"):
        Request(head, b"{not json").json()
    form = Request(head, b"name=J%C3%B6rg&tag=a&tag=b+c&empty=")
    assert form.form() == {"name": ["J\u00f6rg"], "tag": ["a", "b c"], "empty": [""]}
    assert Request(head).form() == {}
    assert "3 bytes" in repr(Request(head, b"abc"))


# -- Response and what handlers may return --------------------------------------------------------
def test_response_constructors() -> None:
    r = Response("caf\u00e9")
    assert r.body == "caf\u00e9".encode()
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert Response(b"raw").headers.get("content-type") is None
    assert Response(b"x", content_type="image/png").headers["Content-Type"] == "image/png"
    h = Headers([("X", "1")])
    assert Response(b"", headers=h).headers is h
    j = Response.json({"k": [1, None]}, 201)
    assert (j.status, j.body, j.headers["content-type"]) == (201, b'{"k":[1,null]}', "application/json")
    assert repr(j) == "<Response 201 14 bytes>"


@pytest.mark.parametrize(
    ("value", "status", "body", "ctype"),
    [
        (None, 404, b"Not Found\n", "text/plain"),
        ("text", 200, b"text", "text/plain; charset=utf-8"),
        (b"\x00octets", 200, b"\x00octets", None),
        ({"a": 1}, 200, b'{"a":1}', "application/json"),
        ([1, "x"], 200, b'[1,"x"]', "application/json"),
        (204, 204, b"No Content\n", "text/plain; charset=utf-8"),
        (503, 503, b"Service Unavailable\n", "text/plain; charset=utf-8"),
    ],
)
def test_as_response(value: Any, status: int, body: bytes, ctype: str | None) -> None:
    r = as_response(value)
    assert (r.status, r.body, r.headers.get("content-type")) == (status, body, ctype)


def test_as_response_refuses_other_values() -> None:
    same = Response(b"x")
    assert as_response(same) is same
    for bad in (True, 1.5, object(), (1, 2)):
        with pytest.raises(TypeError, match="a handler returned"):
            as_response(bad)


def test_response_head() -> None:
    rh = ResponseHead(200, "OK", raw_headers=[(b"X", b"y")])
    assert rh.headers["x"] == "y"
    assert repr(rh) == "<ResponseHead 200 OK>"

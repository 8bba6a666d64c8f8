"""Request decoding: byte vectors (RFC 9112) fed whole, byte by byte, split anywhere and with
trailing bytes; pipelining, chunked bodies with trailers, Content-Length, HTTP/1.0 keep-alive,
Expect: 100-continue, CONNECT and Upgrade."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from pipework.codec.http1 import (
    END,
    EndOfMessage,
    HTTPError,
    RemoteProtocolError,
    RequestDecoder,
    RequestHead,
    Upgrade,
)

# An expected event: ("head", method, target, version, raw headers, keep_alive), ("body", bytes),
# ("end", trailers or None) or ("upgrade", bytes after the head).
Expected = tuple[Any, ...]


def head(
    method: str, target: str, headers: list[tuple[bytes, bytes]], version: str = "1.1", keep: bool = True
) -> Expected:
    return ("head", method, target, version, headers, keep)


def norm(events: Iterable[object]) -> list[Expected]:
    """Events as comparable tuples, with consecutive body pieces joined."""
    out: list[Expected] = []
    for e in events:
        if isinstance(e, RequestHead):
            out.append(("head", e.method, e.target, e.version, list(e.raw_headers), e.keep_alive))
        elif isinstance(e, bytes):
            assert e, "an empty body piece"
            if out and out[-1][0] == "body":
                out[-1] = ("body", out[-1][1] + e)
            else:
                out.append(("body", e))
        elif isinstance(e, EndOfMessage):
            out.append(("end", e.trailers))
        elif isinstance(e, Upgrade):
            out.append(("upgrade", e.data))
        else:  # pragma: no cover - the decoder makes nothing else
            raise AssertionError(f"unexpected event {e!r}")
    return out


def feed(chunks: Iterable[bytes], **limits: int) -> list[Expected]:
    """Feed ``chunks`` in order; after an Upgrade, the rest of the input joins its data."""
    d = RequestDecoder(**limits)
    events: list[object] = []
    rest = b""
    for c in chunks:
        if d.upgraded:
            rest += c
            continue
        d.receive_data(c)
        events += d.events
        d.events = []
    out = norm(events)
    if rest:
        assert out[-1][0] == "upgrade"
        out[-1] = ("upgrade", out[-1][1] + rest)
    return out


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


GET = b"GET /index.html?a=1&b=two HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"
GET_EXPECTED = [
    head("GET", "/index.html?a=1&b=two", [(b"Host", b"example.com"), (b"Accept", b"*/*")]),
    ("end", None),
]

VECTORS: dict[str, tuple[bytes, list[Expected]]] = {
    "get": (GET, GET_EXPECTED),
    # RFC 9112 3.2: the four forms of request target
    "absolute-form": (
        b"GET http://www.example.org/pub/WWW/TheProject.html HTTP/1.1\r\nHost: www.example.org\r\n\r\n",
        [
            head("GET", "http://www.example.org/pub/WWW/TheProject.html", [(b"Host", b"www.example.org")]),
            ("end", None),
        ],
    ),
    "asterisk-form": (
        b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
        [head("OPTIONS", "*", [(b"Host", b"a")]), ("end", None)],
    ),
    "content-length": (
        b"POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world",
        [head("POST", "/submit", [(b"Host", b"a"), (b"Content-Length", b"11")]), ("body", b"hello world"),
         ("end", None)],
    ),
    "content-length-zero": (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
        [head("POST", "/", [(b"Host", b"a"), (b"Content-Length", b"0")]), ("end", None)],
    ),
    "binary-body": (
        b"PUT /b HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\n\x00\r\n\xff\r\n",
        [head("PUT", "/b", [(b"Host", b"a"), (b"Content-Length", b"6")]), ("body", b"\x00\r\n\xff\r\n"),
         ("end", None)],
    ),
    # RFC 9112 7.1: chunks, a chunk extension, the last chunk and trailer fields
    "chunked-trailers": (
        b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6;name=value\r\n world\r\nA\r\n0123456789\r\n0\r\n"
        b"Expires: never\r\nX-Sum: 42\r\n\r\n",
        [
            head("POST", "/up", [(b"Host", b"a"), (b"Transfer-Encoding", b"chunked")]),
            ("body", b"hello world0123456789"),
            ("end", [(b"Expires", b"never"), (b"X-Sum", b"42")]),
        ],
    ),
    "chunked-no-trailers": (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        [head("POST", "/", [(b"Host", b"a"), (b"Transfer-Encoding", b"chunked")]), ("body", b"abc"),
         ("end", None)],
    ),
    "chunked-empty": (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        [head("POST", "/", [(b"Host", b"a"), (b"Transfer-Encoding", b"chunked")]), ("end", None)],
    ),
    "pipelined": (
        b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
        b"POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz"
        b"DELETE /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        [
            head("GET", "/1", [(b"Host", b"a")]),
            ("end", None),
            head("POST", "/2", [(b"Host", b"a"), (b"Content-Length", b"3")]),
            ("body", b"xyz"),
            ("end", None),
            head("DELETE", "/3", [(b"Host", b"a"), (b"Connection", b"close")], keep=False),
            ("end", None),
        ],
    ),
    # RFC 9110 5.3: several fields of one name stay separate and in order; names keep their case
    "repeated-fields": (
        b"GET / HTTP/1.1\r\nHost: a\r\nAccept: text/html\r\naccept: text/plain\r\nX-Empty:\r\n\r\n",
        [head("GET", "/", [(b"Host", b"a"), (b"Accept", b"text/html"), (b"accept", b"text/plain"),
                           (b"X-Empty", b"")]), ("end", None)],
    ),
    "field-value-ows-and-obs-text": (
        b"GET / HTTP/1.1\r\nHost:a\r\nX-Tab:\tone\ttwo\r\nX-Latin: caf\xe9\r\n\r\n",
        [head("GET", "/", [(b"Host", b"a"), (b"X-Tab", b"one\ttwo"), (b"X-Latin", b"caf\xe9")]),
         ("end", None)],
    ),
    # RFC 9112 9.3: HTTP/1.0 closes unless it asks for keep-alive; HTTP/1.1 keeps unless "close"
    "http10-close": (b"GET / HTTP/1.0\r\n\r\n", [head("GET", "/", [], "1.0", keep=False), ("end", None)]),
    "http10-keep-alive": (
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        [head("GET", "/", [(b"Connection", b"keep-alive")], "1.0"), ("end", None)],
    ),
    "http11-close": (
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        [head("GET", "/", [(b"Host", b"a"), (b"Connection", b"close")], keep=False), ("end", None)],
    ),
    "http11-close-among-options": (
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n",
        [head("GET", "/", [(b"Host", b"a"), (b"Connection", b"keep-alive, Close")], keep=False),
         ("end", None)],
    ),
}

UPGRADES: dict[str, tuple[bytes, bytes, list[Expected]]] = {
    # RFC 9110 9.3.6: after a CONNECT the connection is a tunnel
    "connect": (
        b"CONNECT server.example.com:80 HTTP/1.1\r\nHost: server.example.com:80\r\n\r\n",
        b"\x16\x03\x01 tunnelled bytes GET / HTTP/1.1\r\n",
        [head("CONNECT", "server.example.com:80", [(b"Host", b"server.example.com:80")], keep=False),
         ("end", None)],
    ),
    # RFC 9110 7.8
    "upgrade": (
        b"GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n",
        b"\x81\x85 frame bytes",
        [head("GET", "/chat", [(b"Host", b"a"), (b"Connection", b"Upgrade"), (b"Upgrade", b"websocket"),
                               (b"Sec-WebSocket-Version", b"13")], keep=False), ("end", None)],
    ),
}

NEXT = b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n"
NEXT_EXPECTED = [head("GET", "/next", [(b"Host", b"t")]), ("end", None)]


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_vector_whole(name: str) -> None:
    wire, expected = VECTORS[name]
    assert feed([wire]) == expected


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_vector_byte_by_byte(name: str) -> None:
    wire, expected = VECTORS[name]
    assert feed(bytewise(wire)) == expected


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_vector_split_anywhere(name: str) -> None:
    wire, expected = VECTORS[name]
    for i in range(1, len(wire)):
        assert feed([wire[:i], wire[i:]]) == expected, i


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_vector_with_trailing_bytes(name: str) -> None:
    """The bytes after a request are the next request, whatever the chunking."""
    wire, expected = VECTORS[name]
    if not expected[-2][-1]:  # the request closes the connection: anything after it is refused
        d = RequestDecoder()
        with pytest.raises(RemoteProtocolError) as info:
            d.receive_data(wire + NEXT)
        assert info.value.status == 400
        assert norm(d.events) == expected
        return
    assert feed([wire + NEXT]) == expected + NEXT_EXPECTED
    assert feed([wire + NEXT[:7]]) == expected  # half a request line: nothing yet
    assert feed([wire + NEXT[:7], NEXT[7:]]) == expected + NEXT_EXPECTED
    assert feed(bytewise(wire + NEXT)) == expected + NEXT_EXPECTED


@pytest.mark.parametrize("name", sorted(UPGRADES))
@pytest.mark.parametrize("mode", ["whole", "bytewise", "split"])
def test_upgrade_hands_over_the_following_bytes(name: str, mode: str) -> None:
    wire, after, expected = UPGRADES[name]
    data = wire + after
    chunks = {
        "whole": [data],
        "bytewise": bytewise(data),
        "split": [wire[:-3], wire[-3:] + after[:4], after[4:]],
    }
    assert feed(chunks[mode]) == [*expected, ("upgrade", after)]


def test_upgrade_stops_the_decoder() -> None:
    """After the head, the bytes are not HTTP: the request does not keep the connection alive."""
    wire, after, _ = UPGRADES["connect"]
    d = RequestDecoder()
    d.receive_data(wire + after)
    assert d.upgraded
    assert isinstance(d.events[-1], Upgrade)
    assert d.events[-1].data == after
    with pytest.raises(RemoteProtocolError):
        d.receive_data(b"more")


def test_upgrade_header_without_connection_upgrade_is_plain_http() -> None:
    wire = b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n"
    assert feed([wire + NEXT]) == [head("GET", "/", [(b"Host", b"a"), (b"Upgrade", b"websocket")]),
                                   ("end", None), *NEXT_EXPECTED]


def test_expect_continue_is_flagged_until_the_request_ends() -> None:
    """RFC 9110 10.1.1: the server learns of the expectation with the head, before any body."""
    d = RequestDecoder()
    d.receive_data(b"PUT /f HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    assert d.expect_continue
    assert norm(d.events) == [head("PUT", "/f", [(b"Host", b"a"), (b"Content-Length", b"5"),
                                                 (b"Expect", b"100-continue")])]
    d.events = []
    d.receive_data(b"hello")
    assert not d.expect_continue
    assert norm(d.events) == [("body", b"hello"), ("end", None)]
    d.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert not d.expect_continue


def test_expect_continue_is_case_insensitive_and_seen_byte_by_byte() -> None:
    wire = b"POST / HTTP/1.1\r\nHost: a\r\nexpect: 100-Continue\r\nContent-Length: 1\r\n\r\n"
    d = RequestDecoder()
    for b in bytewise(wire):
        d.receive_data(b)
        if d.events:
            break
    assert d.expect_continue
    assert not RequestDecoder().expect_continue


def test_events_can_be_taken_by_assignment() -> None:
    d = RequestDecoder()
    d.receive_data(GET)
    assert norm(d.events) == GET_EXPECTED
    d.events = []
    d.receive_data(GET)
    assert norm(d.events) == GET_EXPECTED
    assert d.events[-1] == END


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def on_request(self, head: RequestHead) -> None:
        self.calls.append(("request", head.target))

    def on_message(self, head: RequestHead) -> None:
        self.calls.append(("message", head.target))

    def on_body(self, data: bytes) -> None:
        self.calls.append(("body", data))

    def on_end(self, end: EndOfMessage) -> None:
        self.calls.append(("end", end.trailers))

    def on_upgrade(self, data: bytes) -> None:
        self.calls.append(("upgrade", data))


def test_a_sink_gets_the_events_as_calls() -> None:
    sink = Recorder()
    d = RequestDecoder(sink=sink)
    d.receive_data(VECTORS["chunked-trailers"][0] + UPGRADES["connect"][0] + b"tunnel")
    assert sink.calls == [
        ("request", "/up"),
        ("body", b"hello"),
        ("body", b" world"),
        ("body", b"0123456789"),
        ("end", [(b"Expires", b"never"), (b"X-Sum", b"42")]),
        ("request", "server.example.com:80"),
        ("end", None),
        ("upgrade", b"tunnel"),
    ]
    with pytest.raises(AttributeError):
        _ = d.events


def test_a_request_without_a_body_is_one_call() -> None:
    """on_message for a request that ended without body bytes; the head waits for its first body
    bytes otherwise, except when the client waits for it (100-continue)."""
    sink = Recorder()
    d = RequestDecoder(sink=sink)
    d.receive_data(GET + GET)
    assert sink.calls == [("message", "/index.html?a=1&b=two")] * 2
    sink.calls.clear()
    d.receive_data(b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n")
    assert sink.calls == []  # a body is coming: the head waits for it
    d.receive_data(b"ab")
    assert sink.calls == [("request", "/p"), ("body", b"ab"), ("end", None)]
    sink.calls.clear()
    d.receive_data(b"POST /c HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")
    assert sink.calls == [("request", "/c")]
    d.receive_data(b"z")
    sink.calls.clear()
    d.receive_data(b"POST /t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n\r\n")
    assert sink.calls == [("request", "/t"), ("end", [(b"X-T", b"1")])]


def test_eof_between_requests_is_clean() -> None:
    d = RequestDecoder()
    d.receive_data(GET)
    d.receive_data(b"")
    assert d.closed
    assert norm(d.events) == GET_EXPECTED
    fresh = RequestDecoder()
    fresh.receive_data(b"")
    assert fresh.closed


TRUNCATED = [GET, VECTORS["content-length"][0], VECTORS["chunked-trailers"][0]]


@pytest.mark.parametrize("wire", TRUNCATED, ids=["get", "content-length", "chunked"])
def test_eof_inside_a_request_is_an_error(wire: bytes) -> None:
    """Every proper prefix of a request, then EOF: a 400, never a request taken as complete."""
    for cut in range(1, len(wire)):
        d = RequestDecoder()
        d.receive_data(wire[:cut])
        with pytest.raises(RemoteProtocolError) as info:
            d.receive_data(b"")
        assert info.value.status == 400, cut
        assert not any(isinstance(e, EndOfMessage) for e in d.events), cut


def test_eof_inside_a_second_request_is_an_error() -> None:
    d = RequestDecoder()
    d.receive_data(GET + b"GE")
    with pytest.raises(RemoteProtocolError):
        d.receive_data(b"")
    assert norm(d.events) == GET_EXPECTED


def test_errors_are_one_family() -> None:
    assert issubclass(RemoteProtocolError, HTTPError)
    d = RequestDecoder()
    with pytest.raises(HTTPError) as info:
        d.receive_data(b"GET / HTTP/1.1\r\nHost a\r\n\r\n")
    assert isinstance(info.value, RemoteProtocolError)
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("wire", "version", "keep_alive"),
    [
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "1.1", True),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "1.1", False),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", "1.1", True),
        (b"GET / HTTP/1.0\r\n\r\n", "1.0", False),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "1.0", True),
        (b"GET / HTTP/1.0\r\nProxy-Connection: keep-alive\r\n\r\n", "1.0", True),
        (b"GET / HTTP/1.0\r\nCONNECTION: Keep-Alive\r\n\r\n", "1.0", True),
    ],
)
def test_version_and_keep_alive(wire: bytes, version: str, keep_alive: bool) -> None:
    """The version is read without asking llhttp when only HTTP/1.1 can be the answer; every
    keep-alive combination still comes out right, twice on one connection."""
    d = RequestDecoder()
    d.receive_data(wire + wire if keep_alive else wire)
    heads = [e for e in d.events if isinstance(e, RequestHead)]
    assert [(h.version, h.keep_alive) for h in heads] == [(version, keep_alive)] * len(heads)

"""Limits (414, 431, 413) and the request smuggling defences (400), whole and byte by byte."""

from __future__ import annotations

import pytest

from pipework.codec.http1 import (
    DEFAULT_MAX_BODY,
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_HEADERS,
    DEFAULT_MAX_URI,
    EndOfMessage,
    RemoteProtocolError,
    RequestDecoder,
    RequestHead,
)


def feed_all(d: RequestDecoder, chunks: list[bytes]) -> None:
    for c in chunks:
        d.receive_data(c)


def refuse(chunks: list[bytes], **limits: int) -> tuple[int, list[object]]:
    """Feed ``chunks``; return the refusal's status and the events delivered before it."""
    d = RequestDecoder(**limits)
    with pytest.raises(RemoteProtocolError) as info:
        feed_all(d, chunks)
    return info.value.status, d.events


def chunkings(wire: bytes) -> dict[str, list[bytes]]:
    return {
        "whole": [wire],
        "halves": [wire[: len(wire) // 2], wire[len(wire) // 2 :]],
        "bytewise": [wire[i : i + 1] for i in range(len(wire))],
    }


def ok(wire: bytes, **limits: int) -> list[object]:
    d = RequestDecoder(**limits)
    d.receive_data(wire)
    assert isinstance(d.events[-1], EndOfMessage)
    return d.events


H = b"Host: a\r\n"

# (wire, limits, status)
LIMITS: dict[str, tuple[bytes, dict[str, int], int]] = {
    "uri": (b"GET /" + b"a" * 100 + b" HTTP/1.1\r\n" + H + b"\r\n", {"max_uri": 100}, 414),
    "header-bytes": (
        b"GET / HTTP/1.1\r\n" + H + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 20) for i in range(10)) + b"\r\n",
        {"max_header_bytes": 200},
        431,
    ),
    "one-long-header": (b"GET / HTTP/1.1\r\n" + H + b"Cookie: " + b"c" * 500 + b"\r\n\r\n",
                        {"max_header_bytes": 400}, 431),
    "one-long-header-name": (b"GET / HTTP/1.1\r\n" + H + b"X" * 500 + b": v\r\n\r\n",
                             {"max_header_bytes": 400}, 431),
    "header-count": (b"GET / HTTP/1.1\r\n" + H + b"X: y\r\n" * 10 + b"\r\n", {"max_headers": 10}, 431),
    "body-by-content-length": (b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 101\r\n\r\n" + b"b" * 101,
                               {"max_body": 100}, 413),
    "body-by-chunks": (
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
        + b"32\r\n" + b"c" * 50 + b"\r\n" + b"33\r\n" + b"c" * 51 + b"\r\n0\r\n\r\n",
        {"max_body": 100},
        413,
    ),
    "trailer-bytes": (
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX-T: "
        + b"t" * 500 + b"\r\n\r\n",
        {"max_header_bytes": 400},
        431,
    ),
}


@pytest.mark.parametrize("how", ["whole", "halves", "bytewise"])
@pytest.mark.parametrize("name", sorted(LIMITS))
def test_limit_status(name: str, how: str) -> None:
    wire, limits, status = LIMITS[name]
    got, events = refuse(chunkings(wire)[how], **limits)
    assert got == status
    assert not any(isinstance(e, EndOfMessage) for e in events)


def test_content_length_over_max_body_is_refused_before_any_body() -> None:
    """413 as soon as the head says so: the client need not send the body to learn it."""
    wire = b"PUT /big HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n"
    status, events = refuse([wire], max_body=999_999)
    assert status == 413
    assert events == []


def test_limits_are_inclusive() -> None:
    """A request exactly at each limit passes."""
    # HTTP/1.0: these count bytes exactly, and 1.0 needs no Host field (RFC 9112 3.2)
    ok(b"GET /" + b"a" * 99 + b" HTTP/1.0\r\n\r\n", max_uri=100)
    ok(b"GET / HTTP/1.0\r\n" + b"X: y\r\n" * 10 + b"\r\n", max_headers=10)
    ok(b"GET / HTTP/1.0\r\nX: " + b"v" * 95 + b"\r\n\r\n", max_header_bytes=100)
    ok(b"POST / HTTP/1.0\r\nContent-Length: 100\r\n\r\n" + b"b" * 100, max_body=100)
    ok(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n" + b"b" * 100 + b"\r\n0\r\n\r\n",
       max_body=100)


def test_a_head_at_the_limit_passes_byte_by_byte() -> None:
    """Counting the bytes of an unfinished field must not add up the fields before it."""
    # HTTP/1.0: these count bytes exactly, and 1.0 needs no Host field (RFC 9112 3.2)
    fields = b"".join(b"X-%d: %s\r\n" % (i, b"v" * 40) for i in range(10))
    limit = sum(len(b"X-%d" % i) + 40 + 4 for i in range(10))
    d = RequestDecoder(max_header_bytes=limit)
    for b in chunkings(b"GET /" + b"p" * 50 + b" HTTP/1.0\r\n" + fields + b"\r\n")["bytewise"]:
        d.receive_data(b)
    assert isinstance(d.events[-1], EndOfMessage)


def test_limits_count_per_request() -> None:
    """Pipelined requests each get the whole allowance."""
    one = b"POST / HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 50 + b"\r\nContent-Length: 60\r\n\r\n" + b"b" * 60
    events = ok(one * 5, max_header_bytes=100, max_body=60, max_headers=3)
    assert sum(isinstance(e, RequestHead) for e in events) == 5


def test_defaults() -> None:
    d = RequestDecoder()
    assert (d.max_uri, d.max_header_bytes, d.max_headers, d.max_body) == (
        DEFAULT_MAX_URI, DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_HEADERS, DEFAULT_MAX_BODY)
    huge = b"GET / HTTP/1.1\r\nCookie: " + b"c" * (DEFAULT_MAX_HEADER_BYTES + 1) + b"\r\n\r\n"
    assert refuse([huge])[0] == 431
    assert refuse([b"GET /" + b"u" * DEFAULT_MAX_URI + b" HTTP/1.1\r\n\r\n"])[0] == 414


def test_an_endless_header_line_is_refused_with_bounded_memory() -> None:
    """A header line that never ends, sent in many pieces, is refused once past the limit
    (httptools gathers a field with no callback until it ends)."""
    d = RequestDecoder(max_header_bytes=1024)
    d.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\nX-Forever: ")
    with pytest.raises(RemoteProtocolError) as info:
        feed_all(d, [b"z" * 512] * 100)
    assert info.value.status == 431


def test_an_endless_trailer_line_is_refused() -> None:
    d = RequestDecoder(max_header_bytes=1024)
    d.receive_data(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX-T: ")
    with pytest.raises(RemoteProtocolError) as info:
        feed_all(d, [b"t" * 512] * 100)
    assert info.value.status == 431


def test_a_slow_body_is_not_taken_for_a_long_header() -> None:
    d = RequestDecoder(max_header_bytes=200)
    d.receive_data(b"POST / HTTP/1.0\r\nContent-Length: 5000\r\n\r\n")
    for _ in range(50):
        d.receive_data(b"b" * 100)
    assert isinstance(d.events[-1], EndOfMessage)


# RFC 9112 and RFC 9110 forbid these; each is a known request smuggling or splitting vector
POST = b"POST / HTTP/1.0\r\nHost: a\r\n"
CHUNKED = POST + b"Transfer-Encoding: chunked\r\n\r\n"
SMUGGLING: dict[str, bytes] = {
    # 6.1 / 6.3: both framings; a proxy and its backend could pick different ones
    "cl-and-te": POST + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te-and-cl": POST + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n",
    # 6.3: two Content-Lengths (different, and even equal ones, are refused)
    "two-content-lengths": POST + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    "equal-content-lengths": POST + b"Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    "content-length-list": POST + b"Content-Length: 3, 4\r\n\r\nabcd",
    # 8.6: Content-Length = 1*DIGIT
    "negative-content-length": POST + b"Content-Length: -1\r\n\r\n",
    "plus-content-length": POST + b"Content-Length: +3\r\n\r\nabc",
    "garbage-content-length": POST + b"Content-Length: 3x\r\n\r\nabc",
    "hex-content-length": POST + b"Content-Length: 0x3\r\n\r\nabc",
    "overflowing-content-length": POST + b"Content-Length: 99999999999999999999999\r\n\r\n",
    # 6.3: chunked must be the final transfer coding of a request
    "te-not-chunked": POST + b"Transfer-Encoding: gzip\r\n\r\nabc",
    "te-chunked-not-last": POST + b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
    "te-obfuscated": POST + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
    # 5.2: obs-fold
    "obs-fold": b"GET / HTTP/1.0\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n",
    "obs-fold-tab": b"GET / HTTP/1.0\r\nHost: a\r\nX-Folded: one\r\n\ttwo\r\n\r\n",
    "leading-whitespace-field": b"GET / HTTP/1.0\r\n Host: a\r\n\r\n",
    # 2.2: bare LF and bare CR line endings
    "bare-lf-request-line": b"GET / HTTP/1.1\nHost: a\r\n\r\n",
    "bare-lf-field": b"GET / HTTP/1.0\r\nHost: a\n\r\n",
    "bare-lf-end-of-head": b"GET / HTTP/1.0\r\nHost: a\r\n\n",
    "bare-cr-field": b"GET / HTTP/1.0\r\nHost: a\rX: b\r\n\r\n",
    "bare-lf-chunk-size": CHUNKED + b"3\nabc\r\n0\r\n\r\n",
    # 7.1: chunk-size = 1*HEXDIG
    "invalid-chunk-size": CHUNKED + b"zz\r\nabc\r\n0\r\n\r\n",
    "negative-chunk-size": CHUNKED + b"-3\r\nabc\r\n0\r\n\r\n",
    "overflowing-chunk-size": CHUNKED + b"10000000000000003\r\nabc\r\n0\r\n\r\n",
    "space-after-chunk-size": CHUNKED + b"3 \r\nabc\r\n0\r\n\r\n",
    "chunk-data-too-long": CHUNKED + b"3\r\nabcd\r\n0\r\n\r\n",
    # 5.1: no whitespace between the field name and the colon
    "space-before-colon": b"GET / HTTP/1.0\r\nHost : a\r\n\r\n",
    "tab-before-colon": b"GET / HTTP/1.0\r\nHost\t: a\r\n\r\n",
    "te-space-before-colon": POST + b"Transfer-Encoding : chunked\r\nContent-Length: 3\r\n\r\nabc",
    # 5.5: NUL, CR and LF are never allowed in a field
    "nul-in-value": b"GET / HTTP/1.0\r\nHost: a\x00b\r\n\r\n",
    "nul-in-name": b"GET / HTTP/1.0\r\nHo\x00st: a\r\n\r\n",
    "del-in-value": b"GET / HTTP/1.0\r\nHost: a\x7fb\r\n\r\n",
    "no-colon": b"GET / HTTP/1.0\r\nHost a\r\n\r\n",
    "empty-name": b"GET / HTTP/1.0\r\n: a\r\n\r\n",
    # 3: the request line
    "unknown-method": b"FOO / HTTP/1.0\r\nHost: a\r\n\r\n",
    "space-in-target": b"GET /a b HTTP/1.0\r\nHost: a\r\n\r\n",
    "nul-in-target": b"GET /a\x00b HTTP/1.0\r\nHost: a\r\n\r\n",
    "bad-version": b"GET / HTTP/1.x\r\nHost: a\r\n\r\n",
    "lowercase-version": b"GET / http/1.1\r\nHost: a\r\n\r\n",
}


@pytest.mark.parametrize("how", ["whole", "halves", "bytewise"])
@pytest.mark.parametrize("name", sorted(SMUGGLING))
def test_smuggling_vector_is_a_400(name: str, how: str) -> None:
    wire = SMUGGLING[name]
    status, events = refuse(chunkings(wire)[how])
    assert status == 400
    assert not any(isinstance(e, EndOfMessage) for e in events)


def test_smuggled_request_behind_a_good_one_is_not_decoded() -> None:
    """A good request, then a CL+TE one: the first is delivered, the second never is."""
    good = b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n"
    status, events = refuse([good + SMUGGLING["cl-and-te"] + b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"])
    assert status == 400
    assert [e.target for e in events if isinstance(e, RequestHead)] == ["/ok"]


@pytest.mark.parametrize(
    ("wire", "status"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # RFC 9112 3.2: no Host
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),  # two
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        (b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 400),  # llhttp refuses unknown minor versions
    ],
    ids=["no-host", "two-hosts", "http2", "http1.2"],
)
def test_host_and_version_rules(wire: bytes, status: int) -> None:
    for name, chunks in chunkings(wire).items():
        assert refuse(chunks)[0] == status, name


def test_http_1_0_needs_no_host() -> None:
    ok(b"GET / HTTP/1.0\r\n\r\n")

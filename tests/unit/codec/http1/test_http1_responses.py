"""ResponseDecoder, both engines: the state machine, and llhttp for one request at a time.

Every vector is fed whole, byte by byte and in two halves, to both engines, which must give the
same events; the places where llhttp is stricter are listed apart.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipework.codec.http1 import END, EndOfMessage, RemoteProtocolError, ResponseDecoder, ResponseHead
from pipework.codec.http1.server import DEFAULT_MAX_HEADER_BYTES

ENGINES = {"state machine": False, "llhttp": True}


def splits(wire: bytes) -> list[list[bytes]]:
    """The ways a vector is fed: whole, byte by byte, in two halves."""
    half = len(wire) // 2
    return [[wire], [wire[i : i + 1] for i in range(len(wire))], [wire[:half], wire[half:]]]


def norm(events: list[Any]) -> list[Any]:
    """Events as comparable values; body bytes joined between other events."""
    out: list[Any] = []
    for e in events:
        if isinstance(e, bytes):
            if out and isinstance(out[-1], bytes):
                out[-1] += e
            elif e:
                out.append(e)
        elif isinstance(e, ResponseHead):
            out.append(("head", e.status, e.reason, e.version, list(e.raw_headers), e.keep_alive))
            if e.forward is not None:
                out.append(("forward", list(e.forward), e.length, e.has_date))
        elif isinstance(e, EndOfMessage):
            out.append(("end", list(e.trailers or [])))
    return out


def decode(wire_parts: list[bytes], method: str, fast: bool, eof: bool = False) -> tuple[list[Any], bool]:
    dec = ResponseDecoder(one_at_a_time=fast)
    dec.expect(method)
    events: list[Any] = []
    for part in wire_parts:
        dec.receive_data(part)
        events += dec.events
        dec.events = []
    if eof:
        dec.receive_data(b"")
        events += dec.events
    return norm(events), dec.keep_alive


NGINX = (
    b"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Thu, 26 Nov 2026 04:03:15 GMT\r\nContent-Length: 5\r\n"
    b'Connection: keep-alive\r\nETag: "x"\r\n\r\nhello'
)
VECTORS: dict[str, tuple[bytes, str, bool, list[Any], bool]] = {
    # name: (wire, method, eof after, expected events, keep-alive after)
    "content-length": (
        NGINX,
        "GET",
        False,
        [
            (
                "head",
                200,
                "OK",
                "1.1",
                [  # the fields passed on first, then the connection's own
                    (b"Server", b"nginx"),
                    (b"Date", b"Thu, 26 Nov 2026 04:03:15 GMT"),
                    (b"ETag", b'"x"'),
                    (b"Content-Length", b"5"),
                    (b"Connection", b"keep-alive"),
                ],
                True,
            ),
            ("forward", [b"Server: nginx", b"Date: Thu, 26 Nov 2026 04:03:15 GMT", b'ETag: "x"'], b"5", True),
            b"hello",
            ("end", []),
        ],
        True,
    ),
    "chunked with trailers": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n"
        b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nT: v\r\n\r\n",
        "POST",
        False,
        [
            ("head", 200, "OK", "1.1", [(b"X-A", b"1"), (b"Transfer-Encoding", b"chunked")], True),
            ("forward", [b"X-A: 1"], None, False),
            b"abcde",
            ("end", [(b"T", b"v")]),
        ],
        True,
    ),
    "until close": (
        b"HTTP/1.1 200 OK\r\nX: y\r\n\r\nall of it",
        "GET",
        True,
        [
            ("head", 200, "OK", "1.1", [(b"X", b"y")], True),  # what the fields say; the framing says no
            ("forward", [b"X: y"], None, False),
            b"all of it",
            ("end", []),
        ],
        False,
    ),
    "interim then final": (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
        "PUT",
        False,
        [
            ("head", 100, "Continue", "1.1", [], True),
            ("forward", [], None, False),
            ("head", 201, "Created", "1.1", [(b"Content-Length", b"0")], True),
            ("forward", [], b"0", False),
            ("end", []),
        ],
        True,
    ),
    "204 has no body": (
        b"HTTP/1.1 204 No Content\r\nX: 1\r\n\r\n",
        "DELETE",
        False,
        [
            ("head", 204, "No Content", "1.1", [(b"X", b"1")], True),
            ("forward", [b"X: 1"], None, False),
            ("end", []),
        ],
        True,
    ),
    "response to HEAD": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n",
        "HEAD",
        False,
        [
            ("head", 200, "OK", "1.1", [(b"Content-Length", b"99")], True),
            ("forward", [], b"99", False),
            ("end", []),
        ],
        True,
    ),
    "HTTP/1.0 closes": (
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "GET",
        False,
        [
            ("head", 200, "OK", "1.0", [(b"Content-Length", b"2")], False),
            ("forward", [], b"2", False),
            b"ok",
            ("end", []),
        ],
        False,
    ),
    "connection names a field": (
        b"HTTP/1.1 200 OK\r\nConnection: X-Hop\r\nX-Hop: 1\r\nX-Kept: 2\r\nContent-Length: 0\r\n\r\n",
        "GET",
        False,
        [
            (
                "head",
                200,
                "OK",
                "1.1",
                [(b"X-Kept", b"2"), (b"Connection", b"X-Hop"), (b"Content-Length", b"0"), (b"X-Hop", b"1")],
                True,
            ),
            ("forward", [b"X-Kept: 2"], b"0", False),
            ("end", []),
        ],
        True,
    ),
    "switching protocols": (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n\x81\x02hi",
        "GET",
        False,
        [
            (
                "head",
                101,
                "Switching Protocols",
                "1.1",
                [(b"Upgrade", b"websocket"), (b"Connection", b"upgrade")],
                True,
            ),
            ("forward", [], None, False),
            b"\x81\x02hi",
        ],
        False,
    ),
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", VECTORS)
def test_vectors(engine: str, name: str) -> None:
    wire, method, eof, expected, keep = VECTORS[name]
    for parts in splits(wire):
        assert decode(parts, method, ENGINES[engine], eof) == (expected, keep), len(parts)


BAD = {
    "bare LF": b"HTTP/1.1 200 OK\r\nX: a\nY: b\r\nContent-Length: 0\r\n\r\n",
    "obs-fold": b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n",
    "space before colon": b"HTTP/1.1 200 OK\r\nX : a\r\nContent-Length: 0\r\n\r\n",
    "NUL in a value": b"HTTP/1.1 200 OK\r\nX: a\x00b\r\nContent-Length: 0\r\n\r\n",
    "two lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    "bad length": b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\nab",
    "bad status": b"HTTP/1.1 2000 OK\r\n\r\n",
    "bad chunk size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "more than asked": b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n",
}
#: refused by llhttp only: the state machine takes them (the first length, chunked over length)
STRICTER = {
    "same length twice": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
    "length and chunked": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ),
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", [*BAD, *STRICTER])
def test_bad_responses_are_502(engine: str, name: str) -> None:
    wire = BAD.get(name) or STRICTER[name]
    if name in STRICTER and not ENGINES[engine]:
        decode([wire], "GET", False)  # taken
        return
    for parts in splits(wire):
        with pytest.raises(RemoteProtocolError) as info:
            decode(parts, "GET", ENGINES[engine])
        assert info.value.status == 502


@pytest.mark.parametrize("engine", ENGINES)
def test_close_in_the_middle_is_502(engine: str) -> None:
    for cut in (5, len(NGINX) - 3):
        with pytest.raises(RemoteProtocolError):
            decode([NGINX[:cut]], "GET", ENGINES[engine], eof=True)


@pytest.mark.parametrize("engine", ENGINES)
def test_endless_header_line_is_refused(engine: str) -> None:
    dec = ResponseDecoder(one_at_a_time=ENGINES[engine])
    dec.expect("GET")
    dec.receive_data(b"HTTP/1.1 200 OK\r\nX: ")
    for _ in range(DEFAULT_MAX_HEADER_BYTES // 1024 - 1):
        dec.receive_data(b"a" * 1024)
    with pytest.raises(RemoteProtocolError):
        dec.receive_data(b"a" * 4096)


def test_responses_in_turn_on_one_connection() -> None:
    """The llhttp engine takes a request at a time, HEAD ones by the state machine in between."""
    dec = ResponseDecoder(one_at_a_time=True)
    for method in ("GET", "HEAD", "GET", "HEAD", "POST"):
        dec.expect(method)
        body = b"" if method == "HEAD" else b"hello"
        dec.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" + body)
        events = norm(dec.events)
        dec.events = []
        assert events[-1] == ("end", [])
        assert (b"hello" in events) == (method != "HEAD")
        assert dec.idle


def test_one_at_a_time_means_one() -> None:
    dec = ResponseDecoder(one_at_a_time=True)
    dec.expect("GET")
    with pytest.raises(Exception, match="one at a time"):
        dec.expect("GET")


FIELD = st.sampled_from([b"X-A", b"Server", b"Date", b"ETag", b"Cache-Control", b"Keep-Alive", b"Vary"])
VALUE = st.binary(min_size=0, max_size=12).map(lambda b: bytes(c for c in b if 0x21 <= c <= 0x7E))


@given(
    status=st.sampled_from([200, 201, 204, 301, 304, 404, 500]),
    fields=st.lists(st.tuples(FIELD, VALUE), max_size=8),
    framing=st.sampled_from(["length", "chunked", "close"]),
    body=st.binary(max_size=300),
    cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=4),
)
def test_engines_agree(
    status: int, fields: list[tuple[bytes, bytes]], framing: str, body: bytes, cuts: list[int]
) -> None:
    """Generated responses, cut anywhere: both engines give the same events."""
    head = b"HTTP/1.1 %d Reason\r\n" % status + b"".join(k + b": " + v + b"\r\n" for k, v in fields)
    if status in (204, 304):
        wire = head + b"\r\n"
        eof = False
    elif framing == "length":
        wire = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
        eof = False
    elif framing == "chunked":
        chunks = b"".join(
            b"%x\r\n%s\r\n" % (len(body[i : i + 50]), body[i : i + 50]) for i in range(0, len(body), 50)
        )
        wire = head + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
        eof = False
    else:
        wire = head + b"Connection: close\r\n\r\n" + body
        eof = True
    points = sorted({c % (len(wire) + 1) for c in cuts})
    parts = [wire[a:b] for a, b in zip([0, *points], [*points, len(wire)], strict=True)]
    parts = [p for p in parts if p]
    assert decode(parts, "GET", True, eof) == decode(parts, "GET", False, eof)
    assert decode(parts, "GET", True, eof)[0][-1] == ("end", [])


def test_end_is_shared() -> None:
    assert END.trailers in (None, [])

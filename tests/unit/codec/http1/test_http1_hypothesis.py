"""Property tests: any bytes either parse or raise the codec's HTTPError, nothing else; generated
valid requests, written by an encoder of this test, come back as they were sent."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipework.codec.http1 import EndOfMessage, HTTPError, RequestDecoder, RequestHead, Upgrade

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# pieces that steer arbitrary input into the interesting corners of the grammar
FRAGMENTS = [
    b"GET ", b"POST ", b"CONNECT ", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"/", b"/a?b=c",
    b" HTTP/1.1\r\n", b" HTTP/1.0\r\n", b"\r\n", b"\n", b"\r", b"Host: a\r\n", b"Content-Length: ",
    b"Transfer-Encoding: chunked\r\n",
    b"Connection: close\r\n", b"Connection: Upgrade\r\nUpgrade: x\r\n", b"Expect: 100-continue\r\n", b"0",
    b"5", b"ff", b";ext", b"abcde", b": ", b" ", b"\t", b"\x00", b"\xff", b"-1",
]


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, last = [], 0
    for p in [*points, len(data)]:
        out.append(data[last:p])
        last = p
    return [c for c in out if c]


def parses_or_raises_http_error(chunks: list[bytes], eof: bool) -> None:
    d = RequestDecoder(max_uri=64, max_header_bytes=256, max_headers=8, max_body=128)
    status = None
    try:
        for c in chunks:
            if d.upgraded:
                return
            d.receive_data(c)
            for e in d.events:
                assert isinstance(e, RequestHead | bytes | EndOfMessage | Upgrade)
            d.events = []
        if eof and not d.upgraded:
            d.receive_data(b"")
    except HTTPError as exc:
        status = exc.status
    assert status in (None, 400, 413, 414, 431)


@SETTINGS
@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=6), st.booleans())
def test_arbitrary_bytes(data: bytes, cuts: list[int], eof: bool) -> None:
    parses_or_raises_http_error(split(data, cuts), eof)


@SETTINGS
@given(
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.binary(max_size=8)), max_size=40),
    st.lists(st.integers(0, 400), max_size=6),
    st.booleans(),
)
def test_arbitrary_fragments(parts: list[bytes], cuts: list[int], eof: bool) -> None:
    parses_or_raises_http_error(split(b"".join(parts), cuts), eof)


# -- round trips ----------------------------------------------------------------------------------
TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
PCHAR = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@%"
# field-vchar (visible ASCII and obs-text); inner spaces and tabs, none at either end
VCHAR = [chr(c) for c in range(0x21, 0x7F)] + [chr(c) for c in range(0x80, 0x100)]
FRAMING = {"content-length", "transfer-encoding", "connection", "upgrade", "expect", "te", "trailer", "host"}

methods = st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND"])
targets = st.builds(
    lambda path, query: "/" + "/".join(path) + (f"?{query}" if query is not None else ""),
    st.lists(st.text(PCHAR.replace("%", ""), max_size=8), max_size=4),
    st.none() | st.text(PCHAR.replace("%", "") + "/?", max_size=12),
)
names = st.text(TCHAR, min_size=1, max_size=12).filter(lambda n: n.lower() not in FRAMING)
values = st.builds(
    lambda first, middle: first + middle.rstrip(" \t") if first else "",
    st.sampled_from(["", *VCHAR]),
    st.text(st.sampled_from([*VCHAR, " ", "\t"]), max_size=20),
)


@dataclass
class Req:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    chunked: bool
    chunk_sizes: list[int] = field(default_factory=list)
    trailers: list[tuple[str, str]] = field(default_factory=list)


@st.composite
def requests(draw: st.DrawFn) -> Req:
    chunked = draw(st.booleans())
    return Req(
        draw(methods),
        draw(targets),
        # RFC 9112 3.2: every HTTP/1.1 request carries exactly one Host
        [("Host", "example.test"), *draw(st.lists(st.tuples(names, values), max_size=6))],
        draw(st.binary(max_size=300)),
        chunked,
        draw(st.lists(st.integers(1, 100), max_size=5)) if chunked else [],
        draw(st.lists(st.tuples(names, values), max_size=2)) if chunked else [],
    )


def encode(r: Req) -> bytes:
    """RFC 9112 written out by hand, independent of pipework's encoder."""
    out = [f"{r.method} {r.target} HTTP/1.1\r\n".encode()]
    out += [f"{k}: {v}\r\n".encode("latin-1") for k, v in r.headers]
    if not r.chunked:
        out.append(b"Content-Length: %d\r\n\r\n" % len(r.body))
        out.append(r.body)
        return b"".join(out)
    out.append(b"Transfer-Encoding: chunked\r\n\r\n")
    body, sizes = r.body, list(r.chunk_sizes)
    while body:
        n = sizes.pop(0) if sizes else len(body)
        piece, body = body[:n], body[n:]
        out.append(b"%X\r\n%s\r\n" % (len(piece), piece))
    out.append(b"0\r\n")
    out += [f"{k}: {v}\r\n".encode("latin-1") for k, v in r.trailers]
    out.append(b"\r\n")
    return b"".join(out)


@SETTINGS
@given(st.lists(requests(), min_size=1, max_size=4), st.lists(st.integers(0, 5000), max_size=8))
def test_valid_requests_round_trip(reqs: list[Req], cuts: list[int]) -> None:
    wire = b"".join(encode(r) for r in reqs)
    d = RequestDecoder()
    for c in split(wire, cuts):
        d.receive_data(c)
    d.receive_data(b"")
    got: list[tuple[RequestHead, bytes, EndOfMessage]] = []
    body = b""
    current: RequestHead | None = None
    for e in d.events:
        if isinstance(e, RequestHead):
            current, body = e, b""
        elif isinstance(e, bytes):
            body += e
        else:
            assert isinstance(e, EndOfMessage)
            assert current is not None
            got.append((current, body, e))
    assert len(got) == len(reqs)
    for r, (h, b, end) in zip(reqs, got, strict=True):
        assert (h.method, h.target, h.version, h.keep_alive) == (r.method, r.target, "1.1", True)
        fields = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in h.raw_headers]
        assert fields[: len(r.headers)] == r.headers
        for k, v in r.headers:
            assert v in h.headers.get_all(k)
        assert b == r.body
        trailers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in end.trailers or []]
        assert trailers == r.trailers

"""Server side of HTTP/1.1: request bytes in, request events out (llhttp, through httptools).

Theory of operation: :class:`RequestDecoder` feeds every chunk to llhttp, which calls back for
each part of each request; the callbacks append events to ``self.events``, which the caller
drains after each ``receive_data``: a :class:`~.head.RequestHead` when a head is complete, body
chunks as ``bytes``, and an :class:`EndOfMessage` (with any trailers) when the request is done.
Pipelined requests simply produce several heads in one drain.

A sink (not the events list) takes a request without a body in one call: the decoder holds a
finished head until it sees body bytes (then ``on_request``, the body, ``on_end``) or the end of
the message (then ``on_message(head)``, which is ``on_request(head)`` and ``on_end(END)`` in
one). A head is handed over at once when the client waits for it: ``Expect: 100-continue``, and
leaving HTTP.

llhttp runs in strict mode and refuses what RFC 9112 forbids and request smuggling feeds on:
Content-Length together with Transfer-Encoding (6.1, 6.3), two Content-Lengths, obs-fold (5.2),
bare LF line endings (2.2), invalid chunk sizes (7.1) — all 400. The limits llhttp does not keep
are kept here, each with its status: URI length (414), header bytes and count (431), body size
(413, as soon as Content-Length says so, or when the chunks pass it).

After a CONNECT or an accepted ``Upgrade``, the connection stops being HTTP: the decoder appends
an :class:`Upgrade` event holding the bytes that followed the head and takes no more input.
"""

from __future__ import annotations

from typing import Protocol

import httptools

from .errors import RemoteProtocolError, from_llhttp
from .head import RawHeaders, RequestHead

#: request line target; nginx allows 8 KiB by default (large_client_header_buffers)
DEFAULT_MAX_URI = 8 * 1024
#: all header fields of one request together; nginx's default buffers hold 8 KiB per line
DEFAULT_MAX_HEADER_BYTES = 16 * 1024
#: fields per request; Apache's LimitRequestFields default
DEFAULT_MAX_HEADERS = 100
#: request body; nginx's client_max_body_size default is 1 MiB, a proxy usually wants more
DEFAULT_MAX_BODY = 64 * 1024 * 1024


class EndOfMessage:
    """The end of a message; ``trailers`` are the trailer fields of a chunked body, if any."""

    __slots__ = ("trailers",)

    def __init__(self, trailers: RawHeaders | None = None) -> None:
        self.trailers = trailers

    def __repr__(self) -> str:
        return f"EndOfMessage({self.trailers!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EndOfMessage) and other.trailers == self.trailers

    __hash__ = None  # type: ignore[assignment]


END = EndOfMessage()


class Upgrade:
    """The connection left HTTP (CONNECT or Upgrade); ``data`` is what came after the head."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"Upgrade({len(self.data)} bytes)"


Event = RequestHead | bytes | EndOfMessage | Upgrade

#: lengths of the field names on_header looks at: host, expect, connection, content-length and
#: proxy-connection (one test for the other fields, which are most of them)
_NOTED_LENGTHS = frozenset((4, 6, 10, 14, 16))
_new_head = RequestHead.__new__

_METHODS = {
    m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE")
}


class Sink(Protocol):
    """Where a decoder delivers events as they are parsed, instead of ``events`` (optional)."""

    def on_request(self, head: RequestHead) -> None: ...
    def on_message(self, head: RequestHead) -> None: ...
    def on_body(self, data: bytes) -> None: ...
    def on_end(self, end: EndOfMessage) -> None: ...
    def on_upgrade(self, data: bytes) -> None: ...


class _ListSink:
    __slots__ = ("events",)

    def __init__(self) -> None:
        self.events: list[Event] = []

    def on_request(self, head: RequestHead) -> None:
        self.events.append(head)

    def on_message(self, head: RequestHead) -> None:
        self.events += (head, END)

    def on_body(self, data: bytes) -> None:
        self.events.append(data)

    def on_end(self, end: EndOfMessage) -> None:
        self.events.append(end)

    def on_upgrade(self, data: bytes) -> None:
        self.events.append(Upgrade(data))


class RequestDecoder:
    """See the module docstring. ``receive_data(b"")`` tells the decoder the peer closed.

    Events go to ``events`` (drain it after each ``receive_data``), or, when a ``sink`` is
    given, straight to its methods as they are parsed, which saves a list and a loop per request.
    """

    __slots__ = (
        "_body",
        "_conn_field",
        "_eager",
        "_head",
        "_header_bytes",
        "_hosts",
        "_in_message",
        "_parser",
        "_progress",
        "_raw",
        "_sink",
        "_sink_body",
        "_sink_end",
        "_sink_message",
        "_sink_request",
        "_stalled",
        "_trailers",
        "_url",
        "closed",
        "expect_continue",
        "max_body",
        "max_header_bytes",
        "max_headers",
        "max_uri",
        "reading_head",
        "upgraded",
        "upgrading",
    )

    def __init__(
        self,
        *,
        max_uri: int = DEFAULT_MAX_URI,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
        max_headers: int = DEFAULT_MAX_HEADERS,
        max_body: int = DEFAULT_MAX_BODY,
        sink: Sink | None = None,
    ) -> None:
        self.max_uri = max_uri
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers
        self.max_body = max_body
        self._sink: Sink = sink if sink is not None else _ListSink()
        self._sink_request = self._sink.on_request
        self._sink_body = self._sink.on_body
        self._sink_end = self._sink.on_end
        self._sink_message = self._sink.on_message
        self._head: RequestHead | None = None  # finished, held until its body or its end
        self._eager = sink is None  # the events list gets each head as soon as it is parsed
        #: a request has begun and its head is not over (a server's header timeout runs meanwhile)
        self.reading_head = False
        self.upgraded = False
        #: the request just parsed asks to leave HTTP (CONNECT, or Upgrade with Connection: upgrade)
        self.upgrading = False
        self.closed = False
        self.expect_continue = False
        self._parser = httptools.HttpRequestParser(self)
        self._url: bytes | None = None
        self._raw: RawHeaders = []
        self._header_bytes = 0
        self._hosts = 0
        self._conn_field = False  # the request has a Connection or Proxy-Connection field
        self._body = 0
        self._in_message = False
        self._trailers: RawHeaders | None = None
        # httptools gathers a header field's name and value until the field is complete, with
        # no callback: bytes fed with no callback inside a message are counted, so that one
        # endless field line (head or trailer) passes ``max_header_bytes`` instead of memory
        self._progress = False
        self._stalled = 0

    @property
    def events(self) -> list[Event]:
        """Events parsed so far and not yet taken (without a sink); assign ``[]`` to take them."""
        sink = self._sink
        if not isinstance(sink, _ListSink):
            raise AttributeError("this decoder delivers to a sink, not to a list")
        return sink.events

    @events.setter
    def events(self, value: list[Event]) -> None:
        if isinstance(self._sink, _ListSink):
            self._sink.events = value

    def receive_data(self, data: bytes) -> None:
        """Parse ``data``; raises :class:`RemoteProtocolError` (with the status to answer)."""
        if self.upgraded:
            raise RemoteProtocolError("no HTTP after an upgrade: read Upgrade.data and the stream")
        if not data:
            self.closed = True
            if self._in_message:
                raise RemoteProtocolError("the connection closed in the middle of a request", 400)
            return
        self._progress = False
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as up:
            self.upgraded = True
            self._sink.on_upgrade(data[up.args[0] :])
        except httptools.HttpParserError as exc:
            error = from_llhttp(exc, "bad request", 400)
            if error is exc:
                raise
            raise error from None
        if self._progress:
            self._stalled = 0
        elif self._in_message:
            self._stalled += len(data)
            if self._stalled > self.max_header_bytes:
                raise RemoteProtocolError(f"a header field over {self.max_header_bytes} bytes", 431)

    # -- llhttp callbacks (state is reset at the end of each request, not at its start) -----------
    def on_message_begin(self) -> None:
        self._in_message = self._progress = self.reading_head = True

    def on_url(self, url: bytes) -> None:
        u = self._url = url if self._url is None else self._url + url
        self._progress = True
        if len(u) > self.max_uri:
            raise RemoteProtocolError(f"request target over {self.max_uri} bytes", 414)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._progress = True
        n = len(name)
        size = self._header_bytes = self._header_bytes + n + len(value) + 4
        if size > self.max_header_bytes:
            raise RemoteProtocolError(f"header fields over {self.max_header_bytes} bytes", 431)
        if self._url is None:  # a trailer field: the head is done
            if self._trailers is None:
                self._trailers = []
            self._trailers.append((name, value))
            return
        # (the count of fields is checked once the head is over: max_header_bytes bounds them meanwhile)
        self._raw.append((name, value))
        if n in _NOTED_LENGTHS:
            lower = name.lower()
            if lower == b"host":
                self._hosts += 1
            elif lower == b"content-length":
                if value.strip().isdigit() and int(value) > self.max_body:
                    raise RemoteProtocolError(f"request body over {self.max_body} bytes", 413)
            elif lower == b"connection" or lower == b"proxy-connection":
                self._conn_field = True
            elif lower == b"expect" and value.strip().lower() == b"100-continue":
                self.expect_continue = True

    def on_headers_complete(self) -> None:
        self.reading_head = False
        raw = self._raw
        if len(raw) > self.max_headers:
            raise RemoteProtocolError(f"over {self.max_headers} header fields", 431)
        p = self._parser
        keep_alive = p.should_keep_alive()
        if keep_alive and not self._conn_field:
            # llhttp takes HTTP/0.9, 1.0, 1.1 and 2.0 only, and keeps a connection alive without
            # a Connection (or Proxy-Connection) field for 1.1 alone: so the version is known
            # without get_http_version(), which costs more than the rest of this method
            version = "1.1"
            if self._hosts != 1:
                # RFC 9112 3.2: a server MUST answer 400 to an HTTP/1.1 request without exactly one Host
                raise RemoteProtocolError("an HTTP/1.1 request needs exactly one Host field", 400)
        else:
            version = p.get_http_version()
            self._conn_field = False
            if version == "1.1":
                if self._hosts != 1:
                    raise RemoteProtocolError("an HTTP/1.1 request needs exactly one Host field", 400)
            elif version != "1.0":
                raise RemoteProtocolError(f"HTTP/{version} is not served here: use HTTP/1.1", 505)
        m = p.get_method()
        head = _new_head(RequestHead)
        head.method = _METHODS.get(m) or m.decode("ascii")
        head.raw_target = self._url or b""
        head.version = version
        head.raw_headers = raw
        self._url = None
        self._raw = []
        if p.should_upgrade():
            # after CONNECT or an Upgrade the connection never carries another request
            self.upgrading = True
            head.keep_alive = False
            self._sink_request(head)
            return
        head.keep_alive = keep_alive
        if self.expect_continue or self._eager:  # 100-continue: the client waits for an answer
            self._sink_request(head)
        else:
            self._head = head

    def on_body(self, body: bytes) -> None:
        self._progress = True
        self._body += len(body)
        if self._body > self.max_body:
            raise RemoteProtocolError(f"request body over {self.max_body} bytes", 413)
        head = self._head
        if head is not None:
            self._head = None
            self._sink_request(head)
        self._sink_body(body)

    def on_message_complete(self) -> None:
        self._in_message = False
        self._header_bytes = self._hosts = 0
        head = self._head
        if self._trailers is None:
            if head is not None:
                self._head = None
                self._sink_message(head)
                return
            self._body = 0
            self.expect_continue = False
            self._sink_end(END)
            return
        trailers, self._trailers = self._trailers, None
        self._body = 0
        self.expect_continue = False
        if head is not None:
            self._head = None
            self._sink_request(head)
        self._sink_end(EndOfMessage(trailers))

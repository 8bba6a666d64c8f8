"""Client side of HTTP/1.1: response bytes in, response events out; request heads out.

Theory of operation: :class:`ResponseDecoder` is a small state machine over one buffer. It
finds the end of a head with ``bytes.find``, splits the fields once, and then frames the body
by the rules of RFC 9112 6.3, in this order: a response to HEAD, a 1xx, 204 or 304 has no body;
``Transfer-Encoding`` ending in ``chunked`` means chunked; another ``Transfer-Encoding`` means
the body runs to the end of the connection; a valid ``Content-Length`` gives the length (several
that differ are an error, as is one with a non-digit); otherwise the body runs to the close.
Body bytes are handed out as soon as they arrive, never gathered whole.

The caller tells the decoder which request each response answers (``expect(method)``), since
only the request says whether a body follows a head. Events go to ``events``: a
:class:`~.head.ResponseHead` (interim 1xx heads too), ``bytes`` of body, and an
:class:`~.server.EndOfMessage` when the response is complete.

Errors are :class:`RemoteProtocolError` with status 502: a gateway answers its client with that
when the server it asked breaks HTTP.

A client that sends one request at a time and waits for its response (a proxy's pooled
connection) makes the decoder with ``one_at_a_time=True``: responses are then parsed by llhttp
(through httptools), which costs half as much per response as the state machine, with the same
events; the state machine still takes the responses to HEAD and CONNECT, whose bodies llhttp
cannot frame without knowing the request, and what follows a 101. llhttp is stricter in two
places: a repeated ``Content-Length``, even with the same value, and ``Content-Length`` beside
``Transfer-Encoding`` are errors.
"""

from __future__ import annotations

import httptools

from .errors import LocalProtocolError, RemoteProtocolError, from_llhttp
from .head import RawHeaders, ResponseHead
from .server import DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_HEADERS, END, EndOfMessage

Event = ResponseHead | bytes | EndOfMessage

# states (LLHTTP: llhttp has the response)
HEAD, LENGTH, CHUNK_SIZE, CHUNK_DATA, CHUNK_CRLF, TRAILERS, UNTIL_CLOSE, DONE, LLHTTP = range(9)

#: a chunk-size line (hex digits and extensions) longer than this is refused
MAX_CHUNK_LINE = 4096

#: fields that belong to one connection, not to the message (RFC 9110 7.6.1): a proxy drops them
HOP_BY_HOP = frozenset(
    (b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"transfer-encoding", b"upgrade")
)
#: ``Connection`` options that are not names of fields to drop
CONNECTION_OPTIONS = frozenset((b"close", b"keep-alive", b"upgrade", b""))
#: lengths of the field names the response parser looks at (hop-by-hop, Content-Length, Date)
_LOOK = frozenset(len(n) for n in (*HOP_BY_HOP, b"content-length", b"date"))


def _chunked(te: bytes) -> bool:
    """Whether a Transfer-Encoding value ends with ``chunked``, so the body is chunked (RFC 9112
    6.3); any other last coding leaves the body running to the close."""
    codings = [c.strip().lower() for c in te.split(b",") if c.strip()]
    return bool(codings) and codings[-1] == b"chunked"


class ResponseDecoder:
    """See the module docstring."""

    __slots__ = (
        "_buf",
        "_ll",
        "_methods",
        "_remaining",
        "_state",
        "_trailers",
        "events",
        "keep_alive",
        "max_header_bytes",
        "max_headers",
    )

    def __init__(
        self,
        *,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
        max_headers: int = DEFAULT_MAX_HEADERS,
        one_at_a_time: bool = False,
    ) -> None:
        self._ll = _Llhttp(self, max_header_bytes) if one_at_a_time else None
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers
        self.events: list[Event] = []
        self._buf = b""
        self._state = DONE
        self._methods: list[str] = []
        self._remaining = 0
        self._trailers: RawHeaders = []
        #: whether the connection may carry another request after the current response
        self.keep_alive = True

    def expect(self, method: str) -> None:
        """A request with ``method`` was sent: its response is next (after those before it)."""
        ll = self._ll
        if ll is not None:
            if self._methods or self._state != DONE or self._buf:
                raise LocalProtocolError(
                    "a request before the last response: this decoder takes one at a time"
                )
            self._methods.append(method)
            if method == "HEAD" or method == "CONNECT":
                self._state = HEAD
            else:
                self._state = LLHTTP
            return
        self._methods.append(method)
        if self._state == DONE:
            self._state = HEAD

    @property
    def idle(self) -> bool:
        """No response is expected or in progress."""
        return self._state == DONE and not self._methods

    def receive_data(self, data: bytes) -> None:
        """Parse ``data`` (``b""`` for the end of the connection); events go to ``events``."""
        if self._state == LLHTTP:
            self._ll.feed(data) if data else self._ll.eof()  # type: ignore[union-attr]
            return
        if not data:
            self._eof()
            return
        if self._state == DONE and not self._methods:
            raise RemoteProtocolError("the server sent data nobody asked for", 502)
        self._buf = self._buf + data if self._buf else data
        self._run()

    def _eof(self) -> None:
        st = self._state
        if st == UNTIL_CLOSE:
            self._finish()
        elif st != DONE or self._buf:
            raise RemoteProtocolError("the server closed the connection in the middle of a response", 502)
        self.keep_alive = False

    def _run(self) -> None:
        while self._buf:
            st = self._state
            if st == HEAD:
                if not self._head():
                    return
            elif st == LENGTH:
                buf = self._buf
                n = self._remaining
                if len(buf) <= n:
                    self._buf = b""
                    self._remaining = n - len(buf)
                    self.events.append(buf)
                    if self._remaining == 0:
                        self._finish()
                    return
                self.events.append(buf[:n])
                self._buf = buf[n:]
                self._finish()
            elif st == UNTIL_CLOSE:
                self.events.append(self._buf)
                self._buf = b""
            elif st == CHUNK_SIZE:
                if not self._chunk_size():
                    return
            elif st == CHUNK_DATA:
                buf = self._buf
                n = self._remaining
                piece = buf[:n]
                self._buf = buf[n:]
                self._remaining = n - len(piece)
                self.events.append(piece)
                if self._remaining == 0:
                    self._state = CHUNK_CRLF
            elif st == CHUNK_CRLF:
                if len(self._buf) < 2:
                    return
                if self._buf[:2] != b"\r\n":
                    raise RemoteProtocolError("a chunk does not end with CRLF", 502)
                self._buf = self._buf[2:]
                self._state = CHUNK_SIZE
            elif st == TRAILERS:
                if not self._trailer_line():
                    return
            else:  # DONE with bytes left: the next response is not asked for yet
                if not self._methods:
                    raise RemoteProtocolError("the server sent more than the responses asked for", 502)
                self._state = HEAD

    def _head(self) -> bool:
        buf = self._buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > self.max_header_bytes:
                raise RemoteProtocolError(f"response head over {self.max_header_bytes} bytes", 502)
            return False
        if end > self.max_header_bytes:
            raise RemoteProtocolError(f"response head over {self.max_header_bytes} bytes", 502)
        block = buf[:end]
        self._buf = buf[end + 4 :]
        crlf = block.count(b"\r\n")
        if block.count(b"\n") != crlf or block.count(b"\r") != crlf or b"\x00" in block:
            raise RemoteProtocolError("a bare CR or LF, or a NUL, in the response head", 502)
        lines = block.split(b"\r\n")
        status_line = lines[0]
        parts = status_line.split(b" ", 2)
        if (
            len(parts) < 2
            or not parts[0].startswith(b"HTTP/1.")
            or len(parts[1]) != 3
            or not parts[1].isdigit()
        ):
            raise RemoteProtocolError(f"bad status line {status_line[:60]!r}", 502)
        version = "1.1" if parts[0] == b"HTTP/1.1" else parts[0][5:].decode("ascii")
        status = int(parts[1])
        reason = parts[2].decode("latin-1") if len(parts) > 2 else ""
        del lines[0]
        if len(lines) > self.max_headers:
            raise RemoteProtocolError(f"over {self.max_headers} header fields in a response", 502)
        te = cl = conn = None
        date = False
        # one pass: each line checked, the framing fields read, and the lines a proxy passes on
        # gathered (``forward``); lower() only for names as long as one of those looked for
        forward: list[bytes] = []
        own: RawHeaders = []
        keep_line = forward.append
        look = _LOOK
        for line in lines:
            name, sep, value = line.partition(b":")
            if not sep or not name or name[0] in b" \t" or name[-1] in b" \t":
                # RFC 9112 5.1: no whitespace around a field name; a leading space is obs-fold (5.2)
                raise RemoteProtocolError(f"bad header field or obsolete line folding {line[:60]!r}", 502)
            if len(name) in look:
                kl = name.lower()
                if kl in HOP_BY_HOP or kl == b"content-length":
                    value = value.strip(b" \t")
                    own.append((name, value))
                    if kl == b"transfer-encoding":
                        te = value if te is None else te + b"," + value
                    elif kl == b"content-length":
                        if not value.isdigit() or (cl is not None and cl != value):
                            raise RemoteProtocolError(f"bad Content-Length {value[:30]!r}", 502)
                        cl = value
                    elif kl == b"connection":
                        conn = value.lower() if conn is None else conn + b"," + value.lower()
                    continue
                if kl == b"date":
                    date = True
            keep_line(line)
        keep = (version != "1.0" or (conn is not None and b"keep-alive" in conn)) and not (
            conn is not None and b"close" in conn
        )
        if conn is not None and conn != b"keep-alive" and conn != b"close":
            forward = drop_named(conn, forward, own)
        # RFC 9112 6.3: with Transfer-Encoding, a Content-Length means nothing
        head = ResponseHead.parsed(
            status, reason, version, keep, forward, own, cl if te is None else None, date
        )
        self.events.append(head)
        if status < 200:
            if status == 101:
                self._methods.pop(0)
                self._state = UNTIL_CLOSE
                self.keep_alive = False
            return True  # an interim response: the real one follows
        method = self._methods.pop(0)
        if not keep:
            self.keep_alive = False
        if method == "HEAD" or status in (204, 304) or (method == "CONNECT" and status < 300):
            if method == "CONNECT" and status < 300:
                self.keep_alive = False
                self._state = UNTIL_CLOSE
                return True
            self._finish()
        elif te is not None:
            if _chunked(te):
                self._state = CHUNK_SIZE
            else:
                self._state = UNTIL_CLOSE
                self.keep_alive = False
        elif cl is not None:
            self._remaining = int(cl)
            if self._remaining == 0:
                self._finish()
            else:
                self._state = LENGTH
        else:
            self._state = UNTIL_CLOSE
            self.keep_alive = False
        return True

    def _chunk_size(self) -> bool:
        buf = self._buf
        end = buf.find(b"\r\n")
        if end < 0:
            if len(buf) > MAX_CHUNK_LINE:
                raise RemoteProtocolError("chunk-size line too long", 502)
            return False
        size_s = buf[:end].split(b";", 1)[0].strip()
        self._buf = buf[end + 2 :]
        try:
            if not size_s or size_s.startswith((b"-", b"+", b"0x", b"0X")):
                raise ValueError
            size = int(size_s, 16)
        except ValueError:
            raise RemoteProtocolError(f"bad chunk size {size_s[:20]!r}", 502) from None
        if size == 0:
            self._state = TRAILERS
            self._trailers = []
        else:
            self._remaining = size
            self._state = CHUNK_DATA
        return True

    def _trailer_line(self) -> bool:
        buf = self._buf
        end = buf.find(b"\r\n")
        if end < 0:
            if len(buf) > self.max_header_bytes:
                raise RemoteProtocolError("trailer section too long", 502)
            return False
        line = buf[:end]
        self._buf = buf[end + 2 :]
        if not line:
            trailers = self._trailers
            self._trailers = []
            self._finish(EndOfMessage(trailers) if trailers else END)
            return True
        name, sep, value = line.partition(b":")
        if not sep or not name:
            raise RemoteProtocolError(f"bad trailer field {line[:60]!r}", 502)
        self._trailers.append((name, value.strip(b" \t")))
        return True

    def _finish(self, end: EndOfMessage = END) -> None:
        self.events.append(end)
        self._state = HEAD if self._methods else DONE


class _Llhttp:
    """The llhttp engine of a one-at-a-time :class:`ResponseDecoder`: httptools calls these
    methods as it parses, and they put the same events in the decoder's ``events``."""

    __slots__ = (
        "conn",
        "date",
        "dec",
        "forward",
        "in_body",
        "length",
        "max_bytes",
        "own",
        "parser",
        "reason",
        "size",
        "status",
        "te",
        "trailers",
    )

    def __init__(self, dec: ResponseDecoder, max_bytes: int) -> None:
        self.dec = dec
        self.max_bytes = max_bytes
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self._reset()

    def _reset(self) -> None:
        self.forward: list[bytes] = []
        self.own: RawHeaders = []
        self.trailers: RawHeaders | None = None
        self.length: bytes | None = None
        self.te: bytes | None = None
        self.conn: bytes | None = None
        self.date = False
        self.in_body = False  # the head of a final response is over
        self.reason = b""
        self.size = 0

    def feed(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as up:  # after a 101: the rest is the new protocol's
            rest = data[up.args[0] :]
            if rest:
                self.dec.receive_data(rest)
            return
        except httptools.HttpParserError as exc:
            error = from_llhttp(exc, "bad response", 502)
            if error is exc:
                raise
            raise error from None
        if not self.in_body and self.dec._state == LLHTTP:
            # the head is not over: what it has taken so far is counted (llhttp has no limit)
            size = self.size = self.size + len(data)
            if size > self.max_bytes:
                raise RemoteProtocolError(f"response head over {self.max_bytes} bytes", 502)

    def _until_close(self, status: int) -> bool:
        """Whether the body of this final response runs to the end of the connection."""
        if status in (204, 304) or (self.length is not None and self.te is None):
            return False
        return self.te is None or not _chunked(self.te)

    def eof(self) -> None:
        dec = self.dec
        dec.keep_alive = False
        if self.in_body and self._until_close(self.status):
            self._complete()  # a body that runs to the close has ended
            return
        raise RemoteProtocolError("the server closed the connection in the middle of a response", 502)

    # -- httptools callbacks ---------------------------------------------------------------------
    def on_message_begin(self) -> None:
        if self.dec._state != LLHTTP:
            raise RemoteProtocolError("the server sent more than the responses asked for", 502)
        self._reset()

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.in_body:  # a trailer field
            size = self.size = self.size + len(name) + len(value) + 4
            if size > self.max_bytes:
                raise RemoteProtocolError(f"trailer section over {self.max_bytes} bytes", 502)
            if self.trailers is None:
                self.trailers = []
            self.trailers.append((name, value.rstrip(b" \t")))
            return
        if len(name) in _LOOK:
            kl = name.lower()
            if kl in HOP_BY_HOP or kl == b"content-length":
                value = value.rstrip(b" \t")
                self.own.append((name, value))
                if kl == b"content-length":
                    self.length = value
                elif kl == b"transfer-encoding":
                    self.te = value if self.te is None else self.te + b"," + value
                elif kl == b"connection":
                    v = value.lower()
                    self.conn = v if self.conn is None else self.conn + b"," + v
                return
            if kl == b"date":
                self.date = True
        self.forward.append(name + b": " + value)

    def on_headers_complete(self) -> None:
        p = self.parser
        forward = self.forward
        if len(forward) + len(self.own) > self.dec.max_headers:
            raise RemoteProtocolError(f"over {self.dec.max_headers} header fields in a response", 502)
        status = p.get_status_code()
        keep = p.should_keep_alive()
        conn = self.conn
        if keep and conn is None:
            # llhttp keeps a connection without a Connection field alive for HTTP/1.1 alone, so
            # the version string (dear to ask for) is known
            version = "1.1"
        else:  # the same rule as the state machine's: llhttp's answer also counts a body to the close
            version = p.get_http_version()
            keep = (version != "1.0" or (conn is not None and b"keep-alive" in conn)) and not (
                conn is not None and b"close" in conn
            )
            if conn is not None and conn != b"keep-alive" and conn != b"close":
                forward = drop_named(conn, forward, self.own)
        length = self.length if self.te is None else None
        head = ResponseHead.parsed(
            status, self.reason.decode("latin-1"), version, keep, forward, self.own, length, self.date
        )
        self.dec.events.append(head)
        self.status = status
        if status >= 200:
            self.in_body = True
            if not keep or (length is None and self._until_close(status)):
                self.dec.keep_alive = False

    def on_body(self, body: bytes) -> None:
        self.dec.events.append(body)

    def on_message_complete(self) -> None:
        if self.in_body:
            self._complete()
            return
        if self.status == 101:  # the rest is not HTTP
            dec = self.dec
            dec._methods.pop(0)
            dec._state = UNTIL_CLOSE
            dec.keep_alive = False

    def _complete(self) -> None:
        dec = self.dec
        dec._methods.pop(0)
        dec._state = DONE
        trailers = self.trailers
        dec.events.append(EndOfMessage(trailers) if trailers else END)


def drop_named(conn: bytes, lines: list[bytes], dropped: RawHeaders | None = None) -> list[bytes]:
    """Field ``lines`` (``b"name: value"``) without those the ``Connection`` value ``conn`` names
    (RFC 9110 7.6.1: they are hop-by-hop too); the dropped ones join ``dropped`` if given."""
    named = {t.strip() for t in conn.split(b",")} - CONNECTION_OPTIONS
    if not named:
        return lines
    kept = []
    for line in lines:
        name, _, value = line.partition(b":")
        if name.lower() not in named:
            kept.append(line)
        elif dropped is not None:
            dropped.append((name, value.strip(b" \t\r\n")))
    return kept


def forward_fields(raw: RawHeaders) -> RawHeaders:
    """The fields of a message minus the hop-by-hop ones (RFC 9110 7.6.1), including every field
    the ``Connection`` field names."""
    named: set[bytes] = set()
    for k, v in raw:
        if k.lower() == b"connection":
            named.update(t.strip().lower() for t in v.split(b","))
    return [(k, v) for k, v in raw if (n := k.lower()) not in HOP_BY_HOP and n not in named]

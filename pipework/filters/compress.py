"""``compress_http``: compress responses by the request's ``Accept-Encoding``, as they stream;
``decompress_request``: inflate request bodies sent with a ``Content-Encoding``.

Theory of operation: ``compress_http().to(layout)`` sits in the sub-pipeline ``demux_http`` makes
per request, around what answers it (typically ``proxy``). It notes the request's
``Accept-Encoding``, passes the request into a sub-pipeline of ``layout``, and looks at the
response head that comes out: when the client accepts gzip, br or zstd and the response is worth
it (:func:`~pipework.codec.compress.should_compress`: a compressible type, not already encoded,
at least ``min_size`` bytes when its length is known), the head loses its ``Content-Length``,
gains ``Content-Encoding`` and ``Vary: Accept-Encoding``, and each body chunk goes out
compressed and flushed, so nothing is buffered beyond the compressor's window. Anything else
passes untouched. Answers to HEAD, 1xx, 204, 206 and 304 are never compressed.

``decompress_request`` sits before what forwards the request. A request whose
``Content-Encoding`` names gzip, deflate, br or zstd (or a list of them, undone in reverse
order) has its body inflated as it streams through bounded decoders
(:func:`~pipework.codec.compress.decompressor`): the head loses ``Content-Encoding``,
``Content-Length`` and the digests of the encoded content, and goes on ``chunked``. The head
is held until the first decoded bytes (or the end of the body), so a body that is garbage from
its first bytes is answered 400 before anything reaches the upstream. A body that inflates past
``max_size`` is answered 413 (and one found bad later, 400): if the head has gone on by then,
the upstream request is aborted first (``StreamEnd``). A coding not offered is answered 415
with ``Accept-Encoding`` naming those that are (RFC 9110 15.5.16), or passed on untouched with
``unknown="pass"``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from ..codec.compress import (
    DECODINGS,
    DEFAULT_MAX_DECODED,
    ENCODINGS,
    MIN_COMPRESS_SIZE,
    Compressor,
    Decompressor,
    choose_encoding,
    compressor,
    decompressor,
    should_compress,
)
from ..codec.http1 import RemoteProtocolError, RequestHead, ResponseHead
from ..core import Builder, Data, Event, Filter, MessageEnd, MessageStart, StreamEnd, register
from ..core.pipeline import Pipeline
from ..core.subpipes import _One
from .http import send_answer

#: statuses whose answers are never compressed (no body, or a byte range of the identity body)
_KEEP = frozenset((204, 206, 304))


class _CompressCfg(_One):
    __slots__ = ("encodings", "level", "min_size")

    def __init__(self, encodings: tuple[str, ...], min_size: int, level: int | None) -> None:
        super().__init__(None)
        self.encodings = encodings
        self.min_size = min_size
        self.level = level


class CompressHTTP(Filter):
    """See the module docstring."""

    __slots__ = ("accept", "head_only", "sub", "zipper")

    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self.sub: Pipeline | None = None
        self.accept: bytes | None = None
        self.head_only = False
        self.zipper: Compressor | None = None

    def process(self, evt: Event) -> None:
        if type(evt) is MessageStart:
            head = evt.head
            if isinstance(head, RequestHead):
                self.accept = head.header(b"accept-encoding")
                self.head_only = head.method == "HEAD"
        sub = self.sub
        if sub is None:
            sub = self.sub = self.cfg.layout.spawn(self.pipeline.context, self._answer)
            sub.start()
        sub.input(evt)

    def _answer(self, evt: Event) -> None:
        t = type(evt)
        if t is MessageStart:
            head = evt.head  # type: ignore[attr-defined]
            if isinstance(head, ResponseHead):
                self._start(head)
        elif t is Data and self.zipper is not None:
            out = self.zipper.compress(evt.data)  # type: ignore[attr-defined]
            if out:
                self._out(Data(out))
            return
        elif t is MessageEnd and self.zipper is not None:
            tail = self.zipper.finish()
            self.zipper = None
            if tail:
                self._out(Data(tail))
        elif t is StreamEnd:
            self.zipper = None
        self._out(evt)

    def _start(self, head: ResponseHead) -> None:
        self.zipper = None
        if self.head_only or head.status < 200 or head.status in _KEEP or self.accept is None:
            return
        cfg: _CompressCfg = self.cfg
        coding = choose_encoding(self.accept, cfg.encodings)
        if coding is None or coding == "identity":
            return
        fields = head.raw_headers
        ctype = encoding = length = None
        for k, v in fields:
            kl = k.lower()
            if kl == b"content-type":
                ctype = v
            elif kl == b"content-encoding":
                encoding = v
            elif kl == b"content-length":
                length = v
        size = int(length) if length is not None and length.isdigit() else None
        if not should_compress(ctype, encoding, size, cfg.min_size):
            return
        keep = [(k, v) for k, v in fields if k.lower() not in (b"content-length", b"content-encoding")]
        vary = [v for k, v in keep if k.lower() == b"vary"]
        keep.append((b"content-encoding", coding.encode()))
        if not any(b"accept-encoding" in v.lower() or v.strip() == b"*" for v in vary):
            keep.append((b"vary", b"Accept-Encoding"))
        head.raw_headers = keep
        self.zipper = compressor(coding, cfg.level)

    def close(self) -> None:
        if self.sub is not None:
            self.sub.close()


def compress_http(
    self: Builder,
    *,
    encodings: Sequence[str] = ENCODINGS,
    min_size: int = MIN_COMPRESS_SIZE,
    level: int | None = None,
) -> Builder:
    """Compress the responses of the sub-pipeline (``.to(layout)``) by the request's
    ``Accept-Encoding``: ``encodings`` offered in order of preference (br, zstd, gzip), responses
    of a compressible type of at least ``min_size`` bytes, at ``level`` (each coding's default);
    see the module docstring. Use it under ``demux_http``."""
    unknown = [e for e in encodings if e not in ENCODINGS]
    if unknown:
        raise ValueError(f"compress_http(): unknown encoding {unknown[0]!r}; known: {', '.join(ENCODINGS)}")
    if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 0:
        raise ValueError(f"compress_http(): min_size must be a number of bytes >= 0, not {min_size!r}")
    return self.add("compress_http", CompressHTTP, _CompressCfg(tuple(encodings), min_size, level), 1)


register(compress_http=compress_http)


log = logging.getLogger("pipework")

#: request fields that describe the encoded body and go with its coding (RFC 9530 digests are of
#: the content as sent: they no longer hold for the inflated body)
_ENCODED_FIELDS = frozenset(
    (b"content-encoding", b"content-length", b"transfer-encoding", b"content-md5", b"content-digest")
) | {b"digest"}
#: codings stacked on one body, at most (one is the rule; two is seen; more is an attack)
MAX_CODINGS = 3
_PASS, _HOLD, _FLOW, _REFUSED = range(4)
_REFUSAL_TEXT = {400: b"bad request body\n", 413: b"request body too large\n"}


class _DecompressCfg:
    __slots__ = ("accept", "encodings", "max_size", "reject")

    def __init__(self, encodings: tuple[str, ...], max_size: int, reject: bool) -> None:
        self.encodings = encodings
        self.max_size = max_size
        self.reject = reject
        self.accept = ", ".join(encodings).encode()


class DecompressRequest(Filter):
    """See the module docstring."""

    __slots__ = ("coders", "held", "seen", "state")

    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self.state = _PASS
        self.coders: list[Decompressor] = []
        self.held: MessageStart | None = None
        self.seen = False  # body bytes came

    def process(self, evt: Event) -> None:
        t = type(evt)
        if t is MessageStart:
            self.state = _PASS
            head = evt.head  # type: ignore[attr-defined]
            if isinstance(head, RequestHead):
                self._start(evt, head)  # type: ignore[arg-type]
                return
        state = self.state
        if state == _PASS:
            self._out(evt)
        elif state == _REFUSED:
            return
        elif t is Data:
            self._data(evt.data)  # type: ignore[attr-defined]
        elif t is MessageEnd:
            self._end(evt)
        else:  # StreamEnd: the client went away
            if self.held is not None:
                self.held = None
            else:
                self._out(evt)
            self.state = _PASS

    def _start(self, evt: MessageStart, head: RequestHead) -> None:
        values = [v for k, v in head.raw_headers if k.lower() == b"content-encoding"]
        if not values:
            self._out(evt)
            return
        cfg: _DecompressCfg = self.cfg
        codings = [c.strip().lower() for v in values for c in v.decode("latin-1").split(",")]
        codings = ["gzip" if c == "x-gzip" else c for c in codings if c and c != "identity"]
        unknown = [c for c in codings if c not in cfg.encodings]
        if unknown or len(codings) > MAX_CODINGS:
            if not cfg.reject:
                self._out(evt)
                return
            what = f"coding {unknown[0]!r}" if unknown else f"{len(codings)} codings"
            self._refuse(415, f"request body in an unsupported {what}", [(b"accept-encoding", cfg.accept)])
            return
        if not codings:  # only identity
            self._out(evt)
            return
        # undone in the reverse order they were applied (RFC 9110 8.4)
        self.coders = [decompressor(c, cfg.max_size) for c in reversed(codings)]
        fields = [(k, v) for k, v in head.raw_headers if k.lower() not in _ENCODED_FIELDS]
        fields.append((b"transfer-encoding", b"chunked"))
        head.replace_fields(fields)
        self.held = evt
        self.seen = False
        self.state = _HOLD

    def _decode(self, data: bytes) -> bytes:
        for coder in self.coders:
            if not data:
                break
            data = coder.feed(data)
        return data

    def _data(self, data: bytes) -> None:
        if not data:
            return
        self.seen = True
        try:
            out = self._decode(data)
        except RemoteProtocolError as exc:
            self._refuse(exc.status, str(exc))
            return
        if out:
            self._release()
            self._out(Data(out))

    def _end(self, evt: Event) -> None:
        if self.seen:
            try:
                for coder in self.coders:
                    coder.finish()
            except RemoteProtocolError as exc:
                self._refuse(exc.status, str(exc))
                return
        self._release()
        self.coders = []
        self.state = _PASS
        self._out(evt)

    def _release(self) -> None:
        held = self.held
        if held is not None:
            self.held = None
            self.state = _FLOW
            self._out(held)

    def _refuse(self, status: int, reason: str, fields: list[tuple[bytes, bytes]] | None = None) -> None:
        ctx = self.pipeline.context
        log.warning("%r: decompress_request: %s (answered %d)", ctx, reason, status)
        if self.state == _FLOW:
            self._out(StreamEnd("BadRequestBody"))  # the upstream request goes no further
        self.held = None
        self.coders = []
        self.state = _REFUSED
        body = _REFUSAL_TEXT.get(status, b"unsupported content coding\n")
        send_answer(self.pipeline.output, (status, fields or [], body))  # past the steps after it


def decompress_request(
    self: Builder,
    *,
    max_size: int = DEFAULT_MAX_DECODED,
    encodings: Sequence[str] = DECODINGS,
    unknown: str = "reject",
) -> Builder:
    """Inflate request bodies sent with ``Content-Encoding`` gzip, deflate, br or zstd (those of
    ``encodings``) as they stream, to at most ``max_size`` bytes (413 past it; 400 for a body
    that is not what its coding says); the request goes on without ``Content-Encoding`` and
    ``Content-Length``, chunked. Another coding: 415 with ``Accept-Encoding`` (``unknown=
    "reject"``) or passed on as it is (``unknown="pass"``). See the module docstring; use it
    under ``demux_http``, before ``proxy``."""
    bad = [e for e in encodings if e not in DECODINGS]
    if bad:
        raise ValueError(f"decompress_request(): unknown encoding {bad[0]!r}; known: {', '.join(DECODINGS)}")
    if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1:
        raise ValueError(f"decompress_request(): max_size must be a number of bytes >= 1, not {max_size!r}")
    if unknown not in ("reject", "pass"):
        raise ValueError(f"decompress_request(): unknown is 'reject' or 'pass', not {unknown!r}")
    cfg = _DecompressCfg(tuple(dict.fromkeys(encodings)), max_size, unknown == "reject")
    return self.add("decompress_request", DecompressRequest, cfg)


register(decompress_request=decompress_request)

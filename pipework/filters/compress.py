"""``compress_http``: compress responses by the request's ``Accept-Encoding``, as they stream.

Theory of operation: ``compress_http().to(layout)`` sits in the sub-pipeline ``demux_http`` makes
per request, around what answers it (typically ``proxy``). It notes the request's
``Accept-Encoding``, passes the request into a sub-pipeline of ``layout``, and looks at the
response head that comes out: when the client accepts gzip, br or zstd and the response is worth
it (:func:`~pipework.codec.compress.should_compress`: a compressible type, not already encoded,
at least ``min_size`` bytes when its length is known), the head loses its ``Content-Length``,
gains ``Content-Encoding`` and ``Vary: Accept-Encoding``, and each body chunk goes out
compressed and flushed, so nothing is buffered beyond the compressor's window. Anything else
passes untouched. Answers to HEAD, 1xx, 204, 206 and 304 are never compressed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..codec.compress import (
    ENCODINGS,
    MIN_COMPRESS_SIZE,
    Compressor,
    choose_encoding,
    compressor,
    should_compress,
)
from ..codec.http1 import RequestHead, ResponseHead
from ..core import Builder, Data, Event, Filter, MessageEnd, MessageStart, StreamEnd, register
from ..core.pipeline import Pipeline
from ..core.subpipes import _One

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

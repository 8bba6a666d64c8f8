"""``serve_files``: static content from an in-memory cache that is checked for freshness.

Theory of operation: the first request for a file reads it and builds a cache entry holding
everything a response needs: the body (and its gzip and brotli forms for compressible types,
made once, or read from ``.gz``/``.br`` files beside it), the ETag, Last-Modified, MIME type, and
the encoded response itself. While the ``Date`` second does not change, a hit returns that very
``bytes`` object: answering a cached file is a dict lookup and one write. An entry is
re-validated against the file's size, mtime and inode at most once every ``revalidate`` seconds;
a changed file is read again. The cache holds at most ``cache_size`` bytes (least recently used
entries go first); a file larger than ``max_file`` is not cached: ``demux_http`` sends it from the
disk in chunks as the client reads (see ``FileStream``), so its size does not matter to memory.

Conditional requests (``If-None-Match``, ``If-Modified-Since``) get 304; a single ``Range`` gets
206 or 416; methods other than GET and HEAD get 405. Paths are decoded, ``..`` is refused, and the
resolved path must stay under the root (a symlink pointing out is refused, 404).
"""

from __future__ import annotations

import gzip
import mimetypes
import os
import time
from collections import OrderedDict
from typing import Any
from urllib.parse import unquote

from ..codec.compress import choose_encoding, should_compress
from ..codec.http1 import RequestHead, Response, encode_response, format_http_date, header_block, status_line
from ..codec.http1.ranges import NOT_SATISFIABLE, byte_range, content_range, if_range_holds, unsatisfied_range
from ..core import Builder, Filter, MessageEnd, MessageStart, register
from .http import CLOCK, FileStream, RawResponse

try:
    import brotli
except ImportError:  # brotli is optional: without it only gzip is offered
    brotli = None

#: lengths of the request fields looked at: range, if-range, if-none-match, accept-encoding,
#: if-modified-since (one test for the other fields)
_NOTED_LENGTHS = frozenset((5, 8, 13, 15, 17))
DEFAULT_CACHE_SIZE = 64 * 1024 * 1024
DEFAULT_MAX_FILE = 4 * 1024 * 1024


class _Variant:
    """One encoding of a file's body, with its response cached per Date second."""

    __slots__ = ("body", "encoding", "full_close", "full_keep", "prefix", "stamp")

    def __init__(self, body: bytes, encoding: str | None, fields: list[tuple[bytes, bytes]]) -> None:
        self.body = body
        self.encoding = encoding
        extra = list(fields)
        if encoding:
            extra.append((b"content-encoding", encoding.encode()))
        extra.append((b"content-length", b"%d" % len(body)))
        self.prefix = status_line(200) + header_block(extra)
        self.stamp: bytes | None = None
        self.full_keep = b""
        self.full_close = b""

    def response(self, date: bytes, keep_alive: bool, head_only: bool) -> bytes:
        if head_only:
            return self.prefix + date + (b"\r\n" if keep_alive else b"connection: close\r\n\r\n")
        if self.stamp is not date:
            self.stamp = date
            self.full_keep = self.prefix + date + b"\r\n" + self.body
            self.full_close = b""
        if keep_alive:
            return self.full_keep
        if not self.full_close:
            self.full_close = self.prefix + date + b"connection: close\r\n\r\n" + self.body
        return self.full_close


def _metadata(path: str, st: os.stat_result) -> tuple[bytes, bytes, str]:
    """ETag, Last-Modified and Content-Type of a file."""
    etag = f'"{st.st_mtime_ns // 1000:x}-{st.st_size:x}"'.encode()
    last_modified = format_http_date(int(st.st_mtime)).encode()
    ctype, coding = mimetypes.guess_type(path)
    if coding is not None:  # x.tar.gz is gzip bytes: the type inside would need Content-Encoding
        ctype = "application/gzip" if coding == "gzip" else "application/octet-stream"
    ctype = ctype or "application/octet-stream"
    if ctype.startswith("text/") or ctype in ("application/javascript", "application/json"):
        ctype += "; charset=utf-8"
    return etag, last_modified, ctype


class _BigFile:
    """A file over ``max_file``: never held in memory, sent from the disk as the client reads."""

    __slots__ = ("etag", "fields", "last_modified", "path", "size")

    def __init__(self, path: str, st: os.stat_result) -> None:
        self.path = path
        self.size = st.st_size
        self.etag, self.last_modified, ctype = _metadata(path, st)
        self.fields = [
            (b"content-type", ctype.encode()),
            (b"etag", self.etag),
            (b"last-modified", self.last_modified),
            (b"accept-ranges", b"bytes"),
        ]

    def stream(
        self,
        status: int,
        extra: list[tuple[bytes, bytes]],
        offset: int,
        length: int,
        date: bytes,
        keep_alive: bool,
    ) -> FileStream:
        fields = [*self.fields, *extra, (b"content-length", b"%d" % length)]
        head = status_line(status) + header_block(fields) + date
        head += b"\r\n" if keep_alive else b"connection: close\r\n\r\n"
        return FileStream(head, self.path, offset, length)


class _Entry:
    __slots__ = (
        "checked",
        "codings",
        "etag",
        "fields",
        "last_modified",
        "mtime",
        "path",
        "plain",
        "size",
        "stat_key",
        "variants",
    )

    def __init__(
        self, path: str, st: os.stat_result, body: bytes, siblings: dict[str, bytes], now: float
    ) -> None:
        self.path = path
        self.stat_key = (st.st_size, st.st_mtime_ns, st.st_ino)
        self.size = st.st_size
        self.mtime = int(st.st_mtime)
        self.etag, self.last_modified, ctype = _metadata(path, st)
        compressible = should_compress(ctype, None, len(body))
        self.fields = [
            (b"content-type", ctype.encode()),
            (b"etag", self.etag),
            (b"last-modified", self.last_modified),
            (b"accept-ranges", b"bytes"),
        ]
        if compressible or siblings:
            self.fields.append((b"vary", b"Accept-Encoding"))
        self.plain = _Variant(body, None, self.fields)
        self.variants: dict[str | None, _Variant] = {None: self.plain}
        for enc in ("br", "gzip"):
            data = siblings.get(enc)
            if data is None and compressible:
                data = _compress(enc, body)
            if data is not None and len(data) < len(body):
                self.variants[enc] = _Variant(data, enc, self.fields)
        #: the codings this file has, in the order they are preferred
        self.codings = tuple(enc for enc in ("br", "gzip") if enc in self.variants)
        self.checked = now

    @property
    def cost(self) -> int:
        return sum(len(v.body) for v in self.variants.values()) + 512


def _compress(enc: str, body: bytes) -> bytes | None:
    if enc == "gzip":
        return gzip.compress(body, 6, mtime=0)
    if enc == "br" and brotli is not None:
        return bytes(brotli.compress(body, quality=5))
    return None


class _StaticCfg:
    """The settings and the shared cache of one ``serve_files`` step; ``respond`` answers."""

    __slots__ = ("cache", "cache_size", "index", "max_file", "respond", "revalidate", "root", "used")

    needs_body = False

    def __init__(
        self, root: str, index: tuple[str, ...], cache_size: int, max_file: int, revalidate: float
    ) -> None:
        if not os.path.isdir(root):
            raise FileNotFoundError(f"serve_files(): {root!r} is not a directory")
        self.root = os.path.realpath(root)
        self.index = index
        self.cache_size = cache_size
        self.max_file = max_file
        self.revalidate = revalidate
        self.cache: OrderedDict[bytes, _Entry | None] = OrderedDict()
        self.used = 0
        self.respond = self._respond

    # -- lookup -----------------------------------------------------------------------------------
    def _resolve(self, url_path: str) -> str | None:
        path = unquote(url_path) if "%" in url_path else url_path
        if "\x00" in path or "\\" in path:
            return None
        parts = [p for p in path.split("/") if p and p != "."]
        if ".." in parts:
            return None
        full = os.path.join(self.root, *parts)
        real = os.path.realpath(full)
        if real != self.root and not real.startswith(self.root + os.sep):
            return None  # a symlink pointing out of the root
        if os.path.isdir(real):
            for name in self.index:
                candidate = os.path.realpath(os.path.join(real, name))
                if os.path.isfile(candidate) and candidate.startswith(self.root + os.sep):
                    return candidate  # an index symlink pointing out of the root is refused too
            return None
        return real

    def _load(self, url_path: bytes, now: float) -> _Entry | _BigFile | None:
        path = self._resolve(url_path.decode("latin-1"))
        if path is None:
            return None
        try:
            st = os.stat(path)
            if st.st_size > self.max_file:
                return _BigFile(path, st)
            with open(path, "rb") as f:
                body = f.read()
        except OSError:
            return None
        siblings: dict[str, bytes] = {}
        for enc, ext in (("gzip", ".gz"), ("br", ".br")):
            try:
                sib = os.stat(path + ext)
                if sib.st_mtime_ns >= st.st_mtime_ns:
                    with open(path + ext, "rb") as f:
                        siblings[enc] = f.read()
            except OSError:
                pass
        return _Entry(path, st, body, siblings, now)

    def lookup(self, url_path: bytes, now: float) -> _Entry | _BigFile | None:
        """The entry for ``url_path``, checked against the disk if older than ``revalidate``.

        ``now`` is a monotonic time; the LRU order is refreshed when an entry is re-validated
        (at most once per ``revalidate``), which keeps hits to one dict lookup.
        """
        cache = self.cache
        entry = cache.get(url_path)
        if entry is not None:
            if now - entry.checked < self.revalidate:
                return entry
            try:
                st = os.stat(entry.path)
                if (st.st_size, st.st_mtime_ns, st.st_ino) == entry.stat_key:
                    entry.checked = now
                    cache.move_to_end(url_path)
                    return entry
            except OSError:
                pass
            self._drop(url_path)
        loaded = self._load(url_path, now)
        if isinstance(loaded, _Entry):
            self.cache[url_path] = loaded
            self.used += loaded.cost
            while self.used > self.cache_size and len(self.cache) > 1:
                self._drop(next(iter(self.cache)))
        return loaded

    def _drop(self, key: bytes) -> None:
        entry = self.cache.pop(key, None)
        if entry is not None:
            self.used -= entry.cost

    # -- answering --------------------------------------------------------------------------------
    def _respond(
        self, head: RequestHead, body: bytes, ctx: Any, date: bytes, keep_alive: bool, head_only: bool
    ) -> bytes | FileStream:
        method = head.method
        if method != "GET" and method != "HEAD":
            return encode_response(
                Response(b"Method Not Allowed\n", 405, {"allow": "GET, HEAD"}), date, keep_alive
            )
        target = head.raw_target
        q = target.find(b"?")
        # CLOCK.mono ticks once a second; a shorter revalidate interval needs the real clock
        now = CLOCK.mono if self.revalidate >= 1.0 else time.monotonic()
        path = target if q < 0 else target[:q]
        cached = self.cache.get(path)  # a fresh hit costs no call; lookup() does the rest
        fresh = cached is not None and now - cached.checked < self.revalidate
        entry = cached if fresh else self.lookup(path, now)
        if entry is None:
            return encode_response(
                Response(b"Not Found\n", 404, content_type="text/plain"), date, keep_alive, head_only
            )
        inm = ims = ae = rng = if_range = None
        for k, v in head.raw_headers:
            if len(k) in _NOTED_LENGTHS:
                k = k.lower()
                if k == b"accept-encoding":
                    ae = v
                elif k == b"if-none-match":
                    inm = v
                elif k == b"if-modified-since":
                    ims = v
                elif k == b"range":
                    rng = v
                elif k == b"if-range":
                    if_range = v
        if inm is not None:
            if entry.etag in inm or inm.strip() == b"*":
                return self._not_modified(entry, date, keep_alive)
        elif ims is not None and ims == entry.last_modified:
            return self._not_modified(entry, date, keep_alive)
        # RFC 9110 13.1.5: under an If-Range that does not match exactly, the Range is ignored
        use_range = rng is not None and (
            if_range is None or if_range_holds(if_range, entry.etag, entry.last_modified)
        )
        if isinstance(entry, _BigFile):
            return self._stream(entry, rng if use_range else None, date, keep_alive, head_only)
        if use_range:
            return self._range(entry, rng, date, keep_alive, head_only)  # type: ignore[arg-type]
        variant = entry.plain
        if ae is not None and len(entry.variants) > 1:
            enc = choose_encoding(ae, entry.codings)
            other = entry.variants.get(enc) if enc is not None else None
            if other is not None:
                variant = other
        if variant.stamp is date and keep_alive and not head_only:
            return variant.full_keep
        return variant.response(date, keep_alive, head_only)

    def _stream(
        self, big: _BigFile, rng: bytes | None, date: bytes, keep_alive: bool, head_only: bool
    ) -> bytes | FileStream:
        """A large file, sent from the disk as the client reads (see ``FileStream``)."""
        size = big.size
        r = byte_range(rng, size) if rng is not None else None
        if r is NOT_SATISFIABLE:
            return _unsatisfiable(size, date)
        if r is not None:
            first, last = r
            return big.stream(
                206, [content_range(first, last, size)], first, last - first + 1, date, keep_alive
            )
        return big.stream(200, [], 0, size, date, keep_alive)

    def _not_modified(self, entry: _Entry | _BigFile, date: bytes, keep_alive: bool) -> bytes:
        fields = [(b"etag", entry.etag), (b"last-modified", entry.last_modified)]
        return (
            status_line(304)
            + header_block(fields)
            + date
            + (b"\r\n" if keep_alive else b"connection: close\r\n\r\n")
        )

    def _range(self, entry: _Entry, value: bytes, date: bytes, keep_alive: bool, head_only: bool) -> bytes:
        body = entry.variants[None].body
        size = len(body)
        r = byte_range(value, size)
        if r is None:  # several ranges or a form we do not take: the whole file (RFC 9110 14.2)
            return entry.variants[None].response(date, keep_alive, head_only)
        if r is NOT_SATISFIABLE:
            return _unsatisfiable(size, date)
        first, last = r
        part = body[first : last + 1]
        fields = [f for f in entry.fields if f[0] != b"vary"]
        fields += [content_range(first, last, size), (b"content-length", b"%d" % len(part))]
        head = (
            status_line(206)
            + header_block(fields)
            + date
            + (b"\r\n" if keep_alive else b"connection: close\r\n\r\n")
        )
        return head if head_only else head + part


def _unsatisfiable(size: int, date: bytes) -> bytes:
    """A 416 for a file of ``size`` bytes."""
    return (
        status_line(416) + header_block([unsatisfied_range(size), (b"content-length", b"0")]) + date + b"\r\n"
    )


class ServeFiles(Filter):
    """``serve_files`` deeper in a pipeline (after ``pipe``, ``branch``...): the same answers,
    as a ``RawResponse`` message; directly under ``demux_http`` it is not even instantiated."""

    __slots__ = ("head",)

    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self.head: RequestHead | None = None

    def process(self, evt: Any) -> None:
        t = type(evt)
        if t is MessageStart:
            self.head = evt.head
        elif t is MessageEnd and self.head is not None:
            head, self.head = self.head, None
            data = self.cfg.respond(
                head, b"", self.pipeline.context, CLOCK.date, head.keep_alive, head.method == "HEAD"
            )
            self._out(MessageStart(data if type(data) is FileStream else RawResponse(data)))
            self._out(MessageEnd())


def serve_files(
    self: Builder,
    root: str,
    *,
    index: tuple[str, ...] = ("index.html",),
    cache_size: int = DEFAULT_CACHE_SIZE,
    max_file: int = DEFAULT_MAX_FILE,
    revalidate: float = 1.0,
) -> Builder:
    """Serve the files under ``root`` (see the module docstring). Use it as the whole
    sub-pipeline of ``demux_http``: ``p.demux_http().to(lambda p: p.serve_files("www"))``."""
    if revalidate < 0:
        raise ValueError(f"serve_files(): revalidate must be >= 0 seconds, not {revalidate!r}")
    return self.add(
        "serve_files", ServeFiles, _StaticCfg(root, tuple(index), cache_size, max_file, revalidate)
    )


register(serve_files=serve_files)

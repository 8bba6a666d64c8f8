"""Message heads: request and response start lines with their headers, parsed lazily.

Theory of operation: a parser hands over the header fields exactly as they came, a list of
``(name, value)`` byte pairs. Nothing more is done until someone asks: ``head.headers`` builds a
case-insensitive, multi-valued view on first use, ``head.path`` and ``head.query`` split the
target on first use. A proxy that only forwards never pays for either.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from urllib.parse import parse_qsl

RawHeaders = list[tuple[bytes, bytes]]


class Headers:
    """Case-insensitive, multi-valued header fields, kept in their order.

    ``headers["Host"]`` is the first value (``KeyError`` if none), ``get`` returns a default
    instead, ``get_all`` every value. Values are ``str`` (latin-1, as HTTP defines the octets).
    Setting a name replaces all its values; ``add`` appends one.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str | bytes, str | bytes]] = ()) -> None:
        self._items: list[tuple[str, str]] = [(_s(k), _s(v)) for k, v in items]

    @classmethod
    def from_raw(cls, raw: RawHeaders) -> Headers:
        h = cls.__new__(cls)
        h._items = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw]
        return h

    def __getitem__(self, name: str) -> str:
        n = name.lower()
        for k, v in self._items:
            if k.lower() == n:
                return v
        raise KeyError(name)

    def get(self, name: str, default: str | None = None) -> str | None:
        n = name.lower()
        for k, v in self._items:
            if k.lower() == n:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        n = name.lower()
        return [v for k, v in self._items if k.lower() == n]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __setitem__(self, name: str, value: str) -> None:
        self.remove(name)
        self._items.append((name, value))

    def add(self, name: str, value: str) -> None:
        self._items.append((name, value))

    def remove(self, name: str) -> None:
        n = name.lower()
        self._items = [(k, v) for k, v in self._items if k.lower() != n]

    __delitem__ = remove

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def raw(self) -> RawHeaders:
        return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self._items]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and other._items == self._items

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


def _s(v: str | bytes) -> str:
    return v.decode("latin-1") if isinstance(v, bytes) else v


class RequestHead:
    """A request line and its header fields (see the module docstring)."""

    __slots__ = (
        "_headers",
        "_path",
        "_query",
        "_received",
        "_target",
        "keep_alive",
        "method",
        "raw_headers",
        "raw_target",
        "version",
    )

    def __init__(
        self,
        method: str,
        target: str,
        version: str = "1.1",
        raw_headers: RawHeaders | None = None,
        keep_alive: bool = True,
    ) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.raw_headers: RawHeaders = raw_headers if raw_headers is not None else []
        self.keep_alive = keep_alive

    #: the request target as it came (``target`` is the same, decoded as latin-1, on first use)
    raw_target: bytes
    # _headers, _path, _query and _target stay unset until asked for: a parser makes heads without
    _headers: Headers
    _path: str
    _query: str
    _target: str
    _received: bytes  # the target as it came, kept by the first rewrite

    @property
    def target(self) -> str:
        try:
            return self._target
        except AttributeError:
            t = self._target = self.raw_target.decode("latin-1")
            return t

    @target.setter
    def target(self, value: str) -> None:
        if not hasattr(self, "_received") and hasattr(self, "raw_target"):
            self._received = self.raw_target
        self.raw_target = value.encode("latin-1")
        self._target = value
        for name in ("_path", "_query"):
            if hasattr(self, name):
                delattr(self, name)

    @property
    def original_target(self) -> str:
        """The request target as the client sent it, whatever rewrites followed (the access log's)."""
        received: bytes | None = getattr(self, "_received", None)  # set only by a rewrite
        return self.target if received is None else received.decode("latin-1")

    @property
    def headers(self) -> Headers:
        try:
            return self._headers
        except AttributeError:
            h = self._headers = Headers.from_raw(self.raw_headers)
            return h

    def _split(self) -> None:
        path, _, query = self.target.partition("?")
        self._path, self._query = path, query

    @property
    def path(self) -> str:
        try:
            return self._path
        except AttributeError:
            self._split()
            return self._path

    @property
    def query(self) -> str:
        try:
            return self._query
        except AttributeError:
            self._split()
            return self._query

    def query_params(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for k, v in parse_qsl(self.query, keep_blank_values=True):
            out.setdefault(k, []).append(v)
        return out

    def replace_fields(self, fields: RawHeaders) -> None:
        """Make ``fields`` the head's fields (a filter rewriting them): ``headers``, made from
        the old ones, is made again when next asked for."""
        self.raw_headers = fields
        if hasattr(self, "_headers"):
            del self._headers

    def header(self, name: bytes) -> bytes | None:
        """The first raw value of ``name`` (lower-case bytes), without building ``headers``."""
        for k, v in self.raw_headers:
            if len(k) == len(name) and k.lower() == name:
                return v
        return None

    def __repr__(self) -> str:
        return f"<RequestHead {self.method} {self.target} HTTP/{self.version}>"


class ResponseHead:
    """A status line and its header fields.

    A head parsed by :class:`~.client.ResponseDecoder` also carries what a proxy forwards:
    ``forward``, its field lines (``b"name: value"``) without the hop-by-hop ones and without
    ``Content-Length``, whose value is ``length``, and ``has_date``. Its ``raw_headers`` are made on
    first use: the forwarded fields in their order, then the connection's own ones.
    """

    __slots__ = (
        "_headers",
        "_own",
        "_raw",
        "forward",
        "has_date",
        "keep_alive",
        "length",
        "reason",
        "status",
        "version",
    )

    def __init__(
        self,
        status: int,
        reason: str = "",
        version: str = "1.1",
        raw_headers: RawHeaders | None = None,
        keep_alive: bool = True,
    ) -> None:
        self.status = status
        self.reason = reason
        self.version = version
        self._raw: RawHeaders | None = raw_headers if raw_headers is not None else []
        self._own: RawHeaders = []
        self.keep_alive = keep_alive
        self._headers: Headers | None = None
        self.forward: list[bytes] | None = None
        self.has_date = False
        self.length: bytes | None = None

    @classmethod
    def parsed(
        cls,
        status: int,
        reason: str,
        version: str,
        keep_alive: bool,
        forward: list[bytes],
        own: RawHeaders,
        length: bytes | None,
        has_date: bool,
    ) -> ResponseHead:
        """A head from a parser: ``forward`` are checked ``name: value`` lines, ``own`` the fields
        left out of them; ``raw_headers`` are made from both when asked."""
        h = cls.__new__(cls)
        h.status = status
        h.reason = reason
        h.version = version
        h._raw = None
        h._own = own
        h.keep_alive = keep_alive
        h._headers = None
        h.forward = forward
        h.length = length
        h.has_date = has_date
        return h

    @property
    def raw_headers(self) -> RawHeaders:
        raw = self._raw
        if raw is None:
            raw = [(n, v.strip(b" \t")) for n, _, v in (line.partition(b":") for line in self.forward or ())]
            raw += self._own
            self._raw = raw
        return raw

    @raw_headers.setter
    def raw_headers(self, value: RawHeaders) -> None:
        self._raw = value
        self._headers = None
        self.forward = None  # the fields changed: a proxy must not forward the parsed ones

    @property
    def headers(self) -> Headers:
        h = self._headers
        if h is None:
            h = self._headers = Headers.from_raw(self.raw_headers)
        return h

    def __repr__(self) -> str:
        return f"<ResponseHead {self.status} {self.reason}>"

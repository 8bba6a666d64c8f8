"""``cors``: Cross-Origin Resource Sharing (the Fetch standard's CORS protocol) in front of a layout.

Theory of operation: ``cors(...).to(layout)`` sits in the sub-pipeline ``demux_http`` makes per
request. A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) is
answered here, 204 with the allowed methods, headers and ``max_age`` when the origin, the method
and every requested header are allowed, else 403 without CORS fields (the browser then blocks
the request). Any other request goes to a sub-pipeline of ``layout``; when it carries an allowed
``Origin``, its response gains ``Access-Control-Allow-Origin`` (the origin itself, with
``Vary: Origin``, or ``*`` when every origin is allowed and credentials are not),
``Access-Control-Allow-Credentials`` and ``Access-Control-Expose-Headers`` as configured.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from ..codec.http1 import RequestHead, ResponseHead
from ..core import Builder, Event, Filter, MessageEnd, MessageStart, register
from ..core.pipeline import Pipeline
from ..core.subpipes import _One

SAFE_METHODS = ("GET", "HEAD", "POST")


class _CorsCfg(_One):
    __slots__ = ("any", "credentials", "expose", "headers", "max_age", "methods", "origins", "patterns")

    def __init__(
        self,
        origins: Collection[str],
        methods: Collection[str],
        headers: Collection[str],
        expose: Collection[str],
        credentials: bool,
        max_age: int,
    ) -> None:
        super().__init__(None)
        self.any = "*" in origins
        self.origins = frozenset(o.lower().rstrip("/") for o in origins if "*" not in o)
        # "https://*.example.com": one or more labels in front
        self.patterns = [
            re.compile(re.escape(o.lower()).replace(r"\*", r"[a-z0-9-]+(?:\.[a-z0-9-]+)*"))
            for o in origins
            if "*" in o and o != "*"
        ]
        self.methods = frozenset(m.upper() for m in methods) | frozenset(SAFE_METHODS)
        self.headers = frozenset(h.lower() for h in headers)
        self.expose = ", ".join(expose).encode()
        self.credentials = credentials
        self.max_age = max_age

    def allows(self, origin: str) -> bool:
        o = origin.lower()
        return self.any or o in self.origins or any(p.fullmatch(o) for p in self.patterns)

    def allow_fields(self, origin: bytes) -> list[tuple[bytes, bytes]]:
        """The fields that let ``origin`` read a response."""
        if self.any and not self.credentials:
            fields = [(b"access-control-allow-origin", b"*")]
        else:
            fields = [(b"access-control-allow-origin", origin), (b"vary", b"Origin")]
        if self.credentials:
            fields.append((b"access-control-allow-credentials", b"true"))
        return fields


class Cors(Filter):
    """See the module docstring."""

    __slots__ = ("origin", "sub")

    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self.sub: Pipeline | None = None
        self.origin: bytes | None = None

    def process(self, evt: Event) -> None:
        sub = self.sub
        if sub is None:
            if type(evt) is not MessageStart:
                return
            head: RequestHead = evt.head
            origin = head.header(b"origin")
            cfg: _CorsCfg = self.cfg
            if origin is not None and not cfg.allows(origin.decode("latin-1")):
                origin = None
            wanted = head.header(b"access-control-request-method")
            if head.method == "OPTIONS" and head.header(b"origin") is not None and wanted is not None:
                self._preflight(origin, wanted, head.header(b"access-control-request-headers"))
                return
            self.origin = origin
            assert cfg.layout is not None  # .to() gave it: the builder checks
            sub = self.sub = cfg.layout.spawn(self.pipeline.context, self._answer)
            sub.start()
        sub.input(evt)

    def _preflight(self, origin: bytes | None, method: bytes, headers: bytes | None) -> None:
        cfg: _CorsCfg = self.cfg
        asked = [h.strip().lower() for h in (headers or b"").decode("latin-1").split(",") if h.strip()]
        ok = (
            origin is not None
            and method.decode("latin-1").upper() in cfg.methods
            and all(h in cfg.headers for h in asked)
        )
        if not ok or origin is None:
            self._out(MessageStart(ResponseHead(403, "", "1.1", [(b"content-length", b"0")])))
            self._out(MessageEnd())
            return
        fields = cfg.allow_fields(origin)
        fields.append((b"access-control-allow-methods", ", ".join(sorted(cfg.methods)).encode()))
        if asked:
            fields.append((b"access-control-allow-headers", ", ".join(asked).encode()))
        fields.append((b"access-control-max-age", str(cfg.max_age).encode()))
        self._out(MessageStart(ResponseHead(204, "", "1.1", fields)))
        self._out(MessageEnd())

    def _answer(self, evt: Event) -> None:
        if type(evt) is MessageStart and self.origin is not None:
            head = evt.head
            if isinstance(head, ResponseHead):
                cfg: _CorsCfg = self.cfg
                fields = [
                    (k, v) for k, v in head.raw_headers if not k.lower().startswith(b"access-control-allow-")
                ]
                fields += cfg.allow_fields(self.origin)
                if cfg.expose:
                    fields.append((b"access-control-expose-headers", cfg.expose))
                head.raw_headers = fields
        self._out(evt)

    def close(self) -> None:
        if self.sub is not None:
            self.sub.close()


def cors(
    self: Builder,
    origins: Collection[str] = ("*",),
    *,
    methods: Collection[str] = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"),
    headers: Collection[str] = ("content-type", "authorization"),
    expose: Collection[str] = (),
    credentials: bool = False,
    max_age: int = 600,
) -> Builder:
    """CORS for the responses of the sub-pipeline (``.to(layout)``): ``origins`` allowed
    (``"https://app.example.com"``, ``"https://*.example.com"``, or ``"*"``), the ``methods`` and
    request ``headers`` a preflight may ask for, response headers to ``expose``, whether
    ``credentials`` (cookies) are allowed, and how long a browser keeps a preflight (``max_age``
    seconds); see the module docstring. Use it under ``demux_http``."""
    if credentials and "*" in origins:
        raise ValueError("cors(): credentials cannot go with every origin ('*'): list the origins")
    if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0:
        raise ValueError(f"cors(): max_age must be a number of seconds >= 0, not {max_age!r}")
    for o in origins:
        if o != "*" and not re.fullmatch(r"https?://[^/\s]+", o):
            raise ValueError(f"cors(): origin {o!r} is not scheme://host[:port]")
    return self.add("cors", Cors, _CorsCfg(origins, methods, headers, expose, credentials, max_age), 1)


register(cors=cors)

"""Gates: request checks that answer at once (401, 403) or let the request through unchanged.

Theory of operation: a gate sits in the sub-pipeline ``demux_http`` makes per request, before
what serves or forwards it. At the request head it asks its check; a check returns None to let
the request pass (its events then flow on untouched) or an answer — status, fields and text —
that the gate sends to the pipeline's output instead (the steps after it see nothing), dropping
the rest of the request. Checks are pure functions of the
head and the context (see :mod:`pipework.policy`); what a check learns (the user) goes on
``ctx.vars``. ``basic_auth`` (RFC 7617, htpasswd files) and ``api_key`` are here; the other
gateway policies add theirs the same way.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any

from ..codec.http1 import RequestHead, ResponseHead
from ..core import Builder, Data, Event, Filter, MessageEnd, MessageStart, register
from ..policy.htpasswd import Htpasswd, basic_credentials
from .keys import key_function

log = logging.getLogger("pipework")

#: a check's answer: status, extra fields, text body
Answer = tuple[int, list[tuple[bytes, bytes]], str]
Check = Callable[[RequestHead, Any], "Answer | None"]


class Gate(Filter):
    """See the module docstring."""

    __slots__ = ("blocked",)

    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self.blocked = False

    def process(self, evt: Event) -> None:
        if type(evt) is MessageStart:
            answer = self.cfg(evt.head, self.pipeline.context)
            self.blocked = answer is not None
            if answer is not None:
                status, fields, text = answer
                out = self.pipeline.output  # past the steps after the gate: they see nothing
                out(
                    MessageStart(ResponseHead(status, "", "1.1", [(b"content-type", b"text/plain"), *fields]))
                )
                out(Data(text.encode()))
                out(MessageEnd())
                return
        if not self.blocked:
            self._out(evt)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


def _basic_check(users: Htpasswd, realm: str) -> Check:
    challenge = [(b"www-authenticate", f'Basic realm="{realm}", charset="UTF-8"'.encode())]

    def check(head: RequestHead, ctx: Any) -> Answer | None:
        creds = basic_credentials(head.header(b"authorization"))
        if creds is not None and users.check(*creds):
            ctx.vars.user = creds[0]
            return None
        if creds is not None:
            log.warning("%r: basic_auth: wrong password for %r", ctx, creds[0])
        return 401, challenge, "authentication required\n"

    return check


def basic_auth(self: Builder, users: str | Mapping[str, str], *, realm: str = "pipework") -> Builder:
    """Let a request through only with ``Authorization: Basic`` credentials found in ``users``:
    an htpasswd file (bcrypt, Apache MD5 or SHA-1 entries, as ``htpasswd`` writes them) or a
    ``{user: hash}`` dict; others get 401 with a ``WWW-Authenticate`` challenge for ``realm``.
    The user's name is in ``ctx.vars.user``. Errors in the file are reported at load."""
    table = Htpasswd.from_file(users) if isinstance(users, str) else Htpasswd(dict(users))
    if '"' in realm or "\\" in realm:
        raise ValueError(f"basic_auth(): realm {realm!r} must not hold quotes or backslashes")
    return self.add("basic_auth", Gate, _basic_check(table, realm))


def api_key(
    self: Builder,
    keys: Collection[str] | Mapping[str, str] | Callable[[str], Any],
    *,
    header: str | None = "x-api-key",
    query: str | None = None,
) -> Builder:
    """Let a request through only with a known API key in the ``header`` field (or the
    ``query`` parameter): ``keys`` is a collection of keys, a ``{key: client name}`` dict, or a
    function of the key returning the client (None to refuse). 401 without a key or with an
    unknown one. The client is in ``ctx.vars.client``."""
    if header is None and query is None:
        raise ValueError("api_key(): give the header or the query parameter that carries the key")
    found = key_function(f"header:{header}" if header else f"query:{query}", "api_key()")
    other = key_function(f"query:{query}", "api_key()") if header and query else None
    if callable(keys) and not isinstance(keys, Mapping):
        lookup: Callable[[str], Any] = keys
    else:
        pairs = dict(keys) if isinstance(keys, Mapping) else {k: k for k in keys}
        if not pairs:
            raise ValueError("api_key(): no keys given")
        # looked up by a digest of the key, so that neither the time a lookup takes nor the
        # table's order tells a client anything about the keys
        table = {_digest(k): c for k, c in pairs.items()}

        def lookup(key: str) -> Any:
            return table.get(_digest(key))

    where = f"the {header} field" if header else f"the {query} query parameter"

    def check(head: RequestHead, ctx: Any) -> Answer | None:
        raw = found(head, ctx)
        if raw is None and other is not None:
            raw = other(head, ctx)
        client = lookup(raw.decode("latin-1")) if raw is not None else None
        if client is None:
            return 401, [], f"an API key is required in {where}\n" if raw is None else "unknown API key\n"
        ctx.vars.client = client
        return None

    return self.add("api_key", Gate, check)


register(basic_auth=basic_auth, api_key=api_key)

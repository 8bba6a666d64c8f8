"""Gates: request checks that answer at once (401, 403) or let the request through unchanged.

Theory of operation: a gate sits in the sub-pipeline ``demux_http`` makes per request, before
what serves or forwards it. At the request head it asks its check; a check returns None to let
the request pass (its events then flow on untouched) or an answer — status, fields and text —
that the gate sends to the pipeline's output instead (the steps after it see nothing), dropping
the rest of the request. Checks are pure functions of the
head and the context (see :mod:`pipework.policy`); what a check learns (the user) goes on
``ctx.vars``. Here: ``basic_auth`` (RFC 7617, htpasswd files), ``api_key``, ``jwt_auth`` (RFC
7519 bearer tokens), ``allow_ips`` (CIDR lists, behind trusted proxies) and ``rate_limit`` (429
with RateLimit-* fields; its own module, :mod:`.rate_limit`, registered here).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

from ..codec.http1 import RequestHead, ResponseHead
from ..core import Builder, Event, EventQueue, Filter, MessageStart, register
from ..core.checks import seconds
from ..core.script import service
from ..lb.retry import Retry
from ..net.fetch import FetchError, fetch
from ..net.files import Stamp, stamp
from ..net.tasks import Periodic
from ..policy.cidr import AccessList, IpSet, request_client
from ..policy.htpasswd import Htpasswd, basic_credentials
from ..policy.jwt import Jwks, JwtError, JwtKey, JwtVerifier
from .http import Answer, Check, send_answer
from .keys import key_function
from .proxy import Exchange, _ProxyCfg
from .rate_limit import REJECTED as REJECTED  # admin/metrics reads gate.REJECTED
from .rate_limit import rate_limit

log = logging.getLogger("pipework")

#: a check's answer: status, extra fields, text body


class Gate(Filter):
    """See the module docstring."""

    __slots__ = ("blocked",)

    @staticmethod
    def direct_check(cfg: Check) -> Check:
        """The check, for demux_http's direct path (see filters.http.direct_checks)."""
        return cfg

    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self.blocked = False

    def process(self, evt: Event) -> None:
        if type(evt) is MessageStart:
            answer = self.cfg(evt.head, self.pipeline.context)
            self.blocked = answer is not None
            if answer is not None:
                send_answer(self.pipeline.output, answer)  # past the steps after the gate
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


def _client(ctx: Any, head: RequestHead, trusted: IpSet | None) -> str:
    """The client's address: the peer's, or behind ``trusted`` proxies the one they forwarded
    (X-Forwarded-For walked from the right, as nginx's realip with real_ip_recursive)."""
    return request_client(ctx.inbound.remote_address, head.raw_headers, trusted)


def _networks(value: Any) -> IpSet:
    """Networks: an IpSet, a list, one network, or the path of a file of them (one a line,
    ``#`` comments; errors name the file and line)."""
    if isinstance(value, IpSet):
        return value
    if isinstance(value, str) and os.path.isfile(value):
        return IpSet.from_file(value)
    return IpSet([value] if isinstance(value, str) else value)


class _ListFiles(Periodic):
    """Re-reads an allow_ips step's list files when they change (a service: it runs while the
    program serves). A file that cannot be read or has a bad line leaves the lists as they were,
    with one error naming the file and the line; the next good version is taken."""

    def __init__(self, every: float, files: list[str], build: Callable[[], Any], holder: list[Any]) -> None:
        self.every = every
        self.files = files
        self.build = build
        self.holder = holder
        self.task_name = f"allow_ips {' '.join(files)}"
        self.stamps = self._stamps()

    def _stamps(self) -> list[Stamp | None]:
        return [stamp(path) for path in self.files]

    async def refresh(self) -> float:
        stamps = self._stamps()
        if stamps != self.stamps:
            self.stamps = stamps
            try:
                self.holder[0] = self.build()
            except (OSError, ValueError) as exc:
                log.error("allow_ips: %s; keeping the lists in use", exc)
            else:
                log.info("allow_ips: reloaded %s", ", ".join(self.files))
        return self.every


def allow_ips(
    self: Builder,
    allow: Any = (),
    *,
    deny: Any = (),
    default: str = "deny",
    trusted_proxies: Any = (),
    reload: float = 1.0,
) -> Builder:
    """Let a request through by its client's address: ``allow`` and ``deny`` are networks
    (``"10.0.0.0/8"``, ``"2001:db8::/32"``, addresses) or a file of them; the most specific
    network holding the address decides, deny winning a tie, else ``default`` (see
    :class:`~pipework.policy.cidr.AccessList`); others get 403. Behind ``trusted_proxies``, the
    client is the address they put in X-Forwarded-For. Files (one network a line, ``#``
    comments) are checked every ``reload`` seconds while the program serves and read again when
    they change; a bad version keeps the lists in use, with an error naming the file and line
    (``reload=0``: read once, at load)."""
    seconds(reload, "allow_ips(): reload")

    def build() -> tuple[AccessList, IpSet | None]:
        rules = AccessList(_networks(allow), _networks(deny), default)  # type: ignore[arg-type]
        return rules, (_networks(trusted_proxies) if trusted_proxies else None)

    holder = [build()]
    files = [v for v in (allow, deny, trusted_proxies) if isinstance(v, str) and os.path.isfile(v)]
    if files and reload > 0:
        service(_ListFiles(float(reload), files, build, holder))

    def check(head: RequestHead, ctx: Any) -> Answer | None:
        rules, trusted = holder[0]
        client = _client(ctx, head, trusted)
        if rules.allows(client):
            return None
        log.warning("%r: %s %s refused for %s by allow_ips", ctx, head.method, head.target, client)
        return 403, [], "forbidden\n"

    return self.add("allow_ips", Gate, check)


class _JwksRefresh(Periodic):
    """Keeps a jwt_auth step's keys equal to a JWKS document served over HTTP (a service: it runs
    while the program serves)."""

    def __init__(self, url: str, every: float, holder: list[JwtVerifier]) -> None:
        self.url = url
        self.every = every
        self.holder = holder
        self.task_name = f"jwks {url}"
        self.failing = False

    async def refresh(self) -> float:
        """Fetch the document once and use its keys; the seconds until the next fetch."""
        try:
            status, body = await fetch(self.url)
            if status != 200:
                raise FetchError(f"{self.url}: status {status}")
            jwks = Jwks.from_json(body)
        except (FetchError, ValueError) as exc:
            if not self.failing:
                log.warning(
                    "jwt_auth: cannot refresh the keys from %s (%s); keeping the ones it has", self.url, exc
                )
            self.failing = True
            return min(self.every, 10.0)
        if self.failing:
            log.info("jwt_auth: the keys from %s are back", self.url)
        self.failing = False
        self.holder[0] = self.holder[0].with_keys(jwks)
        return self.every


def _key_file(path: str) -> JwtKey | Jwks:
    """The keys in the file at ``path``: a JWKS document (JSON: any kind of key, HMAC secrets as
    ``oct`` keys) or a PEM public key or certificate."""
    with open(path, "rb") as f:
        data = f.read()
    if data.lstrip().startswith(b"{"):
        try:
            return Jwks.from_json(data)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
    return JwtKey.from_pem_file(path)


def jwt_auth(
    self: Builder,
    keys: Any = None,
    *,
    jwks_url: str | None = None,
    refresh: float = 300.0,
    algorithms: Collection[str] = ("RS256", "ES256", "EdDSA"),
    audience: str | Collection[str] | None = None,
    issuer: str | Collection[str] | None = None,
    leeway: float = 60.0,
    required: Collection[str] = ("exp",),
) -> Builder:
    """Let a request through only with a valid ``Authorization: Bearer`` JWT: signed by one of
    ``keys`` (a PEM file or a JWKS file, a :class:`~pipework.policy.jwt.JwtKey`, a
    :class:`~pipework.policy.jwt.Jwks` or a list of keys) or of the keys of the JWKS document at
    ``jwks_url`` (fetched when the program starts and every ``refresh`` seconds; until the first
    fetch, tokens are refused), with one of ``algorithms``, with ``exp``/``nbf`` checked
    (``leeway`` seconds of skew), ``aud`` and ``iss`` when given. Others get 401 with
    ``WWW-Authenticate: Bearer error="invalid_token"`` and the reason (RFC 6750). The claims are
    in ``ctx.vars.claims``."""
    if (keys is None) == (jwks_url is None):
        raise ValueError("jwt_auth(): give keys or jwks_url (one of them)")
    if isinstance(keys, str):
        keys = _key_file(keys)
    holder = [
        JwtVerifier(
            keys or [], algorithms, audience=audience, issuer=issuer, leeway=leeway, required=required
        )
    ]
    if jwks_url is not None:
        if not jwks_url.startswith(("http://", "https://")):
            raise ValueError(f"jwt_auth(): jwks_url {jwks_url!r} is not an http:// or https:// URL")
        seconds(refresh, "jwt_auth(): refresh", zero=False)
        service(_JwksRefresh(jwks_url, float(refresh), holder))

    def check(head: RequestHead, ctx: Any) -> Answer | None:
        value = (head.header(b"authorization") or b"").decode("latin-1")
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return 401, [(b"www-authenticate", b'Bearer realm="pipework"')], "a bearer token is required\n"
        try:
            ctx.vars.claims = holder[0].verify(token.strip(), time.time())
        except JwtError as exc:
            log.warning("%r: jwt_auth: %s", ctx, exc)
            field = f'Bearer error="invalid_token", error_description="{exc.reason}"'.encode()
            return 401, [(b"www-authenticate", field)], f"invalid token: {exc.reason}\n"
        return None

    return self.add("jwt_auth", Gate, check)


_TOKEN = re.compile(r"[A-Za-z0-9._:/+=-]{1,200}")
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def _ids(head: RequestHead, ctx: Any) -> Answer | None:
    """X-Request-Id kept when the client sent a sane one, else made; a W3C trace context
    continued (a new span id under the caller's trace) or started."""
    fields = head.raw_headers
    rid = head.header(b"x-request-id")
    if rid is None or not _TOKEN.fullmatch(rid.decode("latin-1")):
        rid = secrets.token_hex(16).encode()
        fields = [(k, v) for k, v in fields if k.lower() != b"x-request-id"] + [(b"x-request-id", rid)]
    parent = head.header(b"traceparent")
    m = _TRACEPARENT.fullmatch(parent.decode("latin-1")) if parent is not None else None
    if m is not None and m.group(1) != "0" * 32 and m.group(2) != "0" * 16:
        trace, flags = m.group(1), m.group(3)
    else:
        trace, flags = secrets.token_hex(16), "01"
    span = secrets.token_hex(8)
    fields = [(k, v) for k, v in fields if k.lower() != b"traceparent"]
    fields.append((b"traceparent", f"00-{trace}-{span}-{flags}".encode()))
    head.replace_fields(fields)
    ctx.vars.request_id = rid.decode("latin-1")
    ctx.vars.trace_id = trace
    return None


def request_id(self: Builder) -> Builder:
    """Give each request an ``X-Request-Id`` (the client's if it is a sane token of at most 200
    characters, else 32 random hex digits) and a W3C ``traceparent`` (the caller's trace
    continued with a new span id, or a new trace), for the upstream and the access log
    (``request_id`` in its JSON lines); also in ``ctx.vars.request_id`` and ``ctx.vars.trace_id``."""
    return self.add("request_id", Gate, _ids)


register(
    request_id=request_id,
    basic_auth=basic_auth,
    api_key=api_key,
    allow_ips=allow_ips,
    jwt_auth=jwt_auth,
    rate_limit=rate_limit,
)


class _AuthCfg:
    __slots__ = ("copy", "path", "proxy")

    def __init__(self, proxy: Any, path: str, copy: frozenset[bytes]) -> None:
        self.proxy = proxy
        self.path = path
        self.copy = copy


class ForwardAuth(Filter):
    """``forward_auth``: ask an authentication service about each request before it goes on."""

    __slots__ = ("body", "exchange", "head", "held", "verdict")

    #: request body bytes held while the service answers; past it the client is not read from
    #: until the verdict (a body of any size waits, as nginx's auth_request reads none before it)
    MAX_HELD = 256 * 1024

    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self.held: EventQueue | None = None  # events waiting for the verdict
        self.head: ResponseHead | None = None  # the service's answer head
        self.body: list[bytes] = []
        self.exchange: Any = None
        self.verdict: bool | None = None

    def process(self, evt: Event) -> None:
        if self.verdict is True:
            self._out(evt)
            return
        if self.verdict is False:
            return
        if type(evt) is MessageStart and self.held is None:
            head: RequestHead = evt.head
            self.held = EventQueue(self.pipeline.context.valve, self.MAX_HELD)
            self.held.push(evt)
            self._ask(head)
            return
        if self.held is not None:
            self.held.push(evt)

    def _ask(self, head: RequestHead) -> None:
        cfg: _AuthCfg = self.cfg
        fields = [(k, v) for k, v in head.raw_headers if k.lower() not in _NOT_TO_AUTH]
        fields += [
            (b"x-forwarded-method", head.method.encode()),
            (b"x-forwarded-uri", head.raw_target),
            (b"x-forwarded-for", str(self.pipeline.context.inbound.remote_address).encode()),
        ]
        ask = RequestHead("GET", cfg.path, "1.1", fields)
        self.exchange = Exchange(cfg.proxy, self.pipeline.context, self)
        self.exchange.start(ask)
        if not self.exchange.done:
            self.exchange.end()

    # -- the auth service's answer (the Exchange's sink) --------------------------------------------
    def on_response_head(self, tag: Any, e: ResponseHead) -> None:
        self.head = e

    def on_response_data(self, tag: Any, data: bytes) -> None:
        if sum(map(len, self.body)) < 64 * 1024:
            self.body.append(data)

    def on_response_flush(self, tag: Any) -> None:
        pass

    def on_response_end(self, tag: Any, trailers: Any) -> None:
        head = self.head
        assert head is not None
        if 200 <= head.status < 300:
            self._allow(head)
        else:
            keep = [(k, v) for k, v in head.raw_headers if k.lower() not in _NOT_BACK]
            self._refuse(head.status, keep, b"".join(self.body))

    def on_response_failed(self, tag: Any, error: str) -> None:
        log.warning("%r: forward_auth: the authentication service failed: %s", self.pipeline.context, error)
        self._refuse(503 if error in ("NoHealthyUpstream", "UpstreamOverflow") else 502, [],
                     "authentication service unavailable\n")  # fmt: skip

    def _allow(self, answer: ResponseHead) -> None:
        self.verdict = True
        held, self.held = self.held, None
        if held is None:
            return
        cfg: _AuthCfg = self.cfg
        if held and cfg.copy:
            head = held.events[0].head  # type: ignore[attr-defined]
            adds = [(k, v) for k, v in answer.raw_headers if k.lower() in cfg.copy]
            names = {k.lower() for k, _ in adds}
            head.replace_fields([(k, v) for k, v in head.raw_headers if k.lower() not in names] + adds)
        while held:
            self._out(held.pop())  # the last pop lets the client be read again

    def _refuse(self, status: int, fields: list[tuple[bytes, bytes]], body: str | bytes) -> None:
        self.verdict = False
        self._let_go()
        send_answer(self.pipeline.output, (status, fields, body))

    def _let_go(self) -> None:
        held, self.held = self.held, None
        if held is not None:
            held.clear()  # and the client is read again

    def close(self) -> None:
        self._let_go()
        if self.exchange is not None and not self.exchange.done:
            self.exchange.abort()


#: request fields not sent to the authentication service (its own framing)
_NOT_TO_AUTH = frozenset((b"content-length", b"transfer-encoding", b"expect", b"connection", b"upgrade"))
#: the service's fields not returned to a refused client (framing, hop-by-hop)
_NOT_BACK = frozenset(
    (b"content-length", b"transfer-encoding", b"connection", b"keep-alive", b"via", b"date")
)


def forward_auth(
    self: Builder,
    service: Any,
    *,
    path: str = "/",
    copy: Collection[str] = (),
    timeout: float = 5.0,
) -> Builder:
    """Ask ``service`` (an address or a :class:`~pipework.Upstream`) about each request: a GET of
    ``path`` with the request's fields and ``X-Forwarded-Method``/``-Uri``/``-For``. A 2xx lets
    the request through, with the service's fields named in ``copy`` (e.g. ``["x-user"]``) set
    on it; any other answer goes back to the client as it is (401 with its challenge, 403, a
    redirect to a login page); no answer within ``timeout`` seconds is 504, a service that cannot
    be reached 502. As nginx's ``auth_request`` and Traefik's ForwardAuth."""
    if not path.startswith("/"):
        raise ValueError(f"forward_auth(): path {path!r} must start with /")
    cfg = _ProxyCfg(
        service,
        connect_timeout=float(timeout),
        read_timeout=float(timeout),
        first_byte_timeout=None,
        timeout=float(timeout),
        retry=Retry(1),
        forwarded=False,
        pool_options={"max_idle": 64, "idle_timeout": 60.0},
    )
    auth = _AuthCfg(cfg, path, frozenset(c.lower().encode() for c in copy))
    return self.add("forward_auth", ForwardAuth, auth)


register(forward_auth=forward_auth)

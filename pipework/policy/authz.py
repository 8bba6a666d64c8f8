"""Authorisation rules: which requests may pass, by path, method, host, client address, TLS client
identity, JWT claims and any condition of the expression language.

Theory of operation: a :class:`Policy` is an ordered list of :class:`Rule` and a default. Each
rule allows or denies and holds conditions, all of which must hold for it to apply; the first
rule that applies decides, and when none does the default decides (deny unless told). Every
condition is compiled when the policy is made — methods to a frozenset, paths to an exact set,
a tuple of prefixes (one ``str.startswith``), templates and regexes, networks to an
:class:`~pipework.policy.cidr.IpSet`, ``when`` to a Python function (:mod:`.expr`) — and a
rule tests the cheap conditions first. A request's facts (:class:`Facts`) are read lazily from
the request head and the connection's context, and each only once.

Unknown never lets a request through: a condition that cannot be decided because the request
lacks what it asks about (no JWT for ``claims``, no client certificate for ``certs``, an absent
claim or header) makes an allow rule not apply and a deny rule apply. ``has(...)`` in ``when``
says what to do about an absent value explicitly.

The status of a refusal: 401 when the request lacks an identity that a rule needed — a deny
rule undecided for lack of ``claims``/``scopes``/``user``, or a default deny after an allow rule
was skipped for lack of one — because authenticating could change the answer (RFC 9110 15.5.2;
Kong's ACL answers the same way); 403 otherwise, including a missing client certificate, which
no HTTP challenge can ask for (nginx answers 400 or 403 there). Envoy's RBAC filter answers 403
to everything, OPA's Envoy plugin too unless the policy says; the caller of :meth:`Policy.decide`
may flatten the two. The reason — which rule, what was missing — is for the log, not the client.

Paths are matched as nginx matches locations: on the path percent-decoded, with ``//`` merged
and ``.``/``..`` segments resolved (so ``/public/../admin`` and ``/%61dmin`` are ``/admin``),
without the query. Patterns: ``/a/b`` exact; ``/a/*`` or ``/a/`` a prefix (character-wise, as
a route's ``prefix``: ``/api*`` holds ``/apix``); ``=/a/`` exact even with a trailing slash;
``/users/{id}`` and ``/files/{rest*}`` templates as routes write them (a ``{name}`` is one
non-empty segment, ``{name*}`` the rest); ``~regex`` a regular expression matching the whole path.

Pure code: no I/O, no clock.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote

from ..lb.route import LITERAL, PARAM, host_pattern, parse_template, request_host
from .cidr import Address, IpSet, parse_address, request_client
from .expr import CompiledExpr, ExprError, Undecided, compile_expr

__all__ = ["NAMES", "Decision", "Facts", "PathSet", "Policy", "Rule", "normalize_path"]

#: the facts a ``when`` expression may name (attributes of :class:`Facts`)
NAMES: Final = (
    "method", "path", "raw_path", "host", "client", "headers", "query",
    "claims", "scopes", "user", "cert", "tls", "vars",
)  # fmt: skip
#: facts a request may lack: using one that is absent leaves the condition undecided
OPTIONAL: Final = frozenset(("claims", "scopes", "user", "cert", "tls"))
#: the missing facts that make a refusal 401 (authentication could supply them)
IDENTITIES: Final = frozenset(("claims", "scopes", "user"))
#: the keys of a rule written as a mapping
RULE_KEYS: Final = ("allow", "deny", "name", "methods", "paths", "hosts", "clients", "certs", "when")
_METHOD: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 5.6.2 token
_CERT_KINDS: Final = ("cn", "dns", "uri", "email", "ip", "sha256")


# --- paths -----------------------------------------------------------------------------------------


def normalize_path(path: str) -> str:
    """The path as rules see it: the query and fragment gone, an absolute-form target reduced to
    its path, percent-escapes decoded (UTF-8, bad bytes as U+FFFD), ``//`` merged and ``.`` and
    ``..`` segments resolved (never above ``/``), as nginx does before matching a location."""
    if path[:1] != "/":
        if "://" in path:  # absolute form: http://host/path
            rest = path.partition("://")[2]
            slash = rest.find("/")
            path = rest[slash:] if slash >= 0 else "/"
        else:
            return path  # "*" (OPTIONS) or garbage: matched as it is
    cut = min((i for i in (path.find("?"), path.find("#")) if i >= 0), default=-1)
    if cut >= 0:
        path = path[:cut]
    if "%" in path:
        path = unquote(path, errors="replace")
    if "//" not in path and "/." not in path:
        return path
    out: list[str] = []
    segs = path.split("/")
    for seg in segs[1:-1]:
        if seg == "..":
            if out:
                out.pop()
        elif seg and seg != ".":
            out.append(seg)
    last = segs[-1]
    if last == "..":
        if out:
            out.pop()
        last = ""
    elif last == ".":
        last = ""
    return "/" + "/".join([*out, last]) if out else "/" + last


class PathSet:
    """Path patterns (see the module docstring), compiled; ``matches(path)`` on a normalized path."""

    __slots__ = ("exact", "patterns", "prefixes", "regexes")

    def __init__(self, patterns: Iterable[str], what: str = "paths") -> None:
        exact: set[str] = set()
        prefixes: list[str] = []
        regexes: list[re.Pattern[str]] = []
        self.patterns = tuple(patterns)
        for p in self.patterns:
            if not isinstance(p, str):
                raise TypeError(f"{what}: a path pattern is a str, not {p!r}")
            if p.startswith("~"):
                try:
                    regexes.append(re.compile(p[1:]))
                except re.error as e:
                    raise ValueError(f"{what}: {p!r}: bad regular expression: {e}") from None
                continue
            if p.startswith("="):
                p = p[1:]
                if not p.startswith("/") or "*" in p or "{" in p:
                    raise ValueError(f"{what}: {'=' + p!r}: '=' takes a plain path (=/a/b/)")
                exact.add(p)
                continue
            if not p.startswith("/"):
                raise ValueError(f"{what}: {p!r} must start with / (or = for exact, ~ for a regex)")
            if "?" in p or "#" in p:
                raise ValueError(f"{what}: {p!r}: a path pattern has no query or fragment")
            star = p.find("*")
            if "{" in p or "}" in p:
                try:
                    segments, _ = parse_template(p)
                except ValueError as e:
                    raise ValueError(f"{what}: {e}") from None
                regexes.append(_template_regex(segments))
            elif star >= 0:
                if star != len(p) - 1:
                    raise ValueError(
                        f"{what}: {p!r}: '*' only ends a prefix (/api/*); write {{name}} for one "
                        "segment or ~regex for more"
                    )
                prefixes.append(p[:-1])
            elif p.endswith("/"):
                prefixes.append(p)
            else:
                exact.add(p)
        self.exact = frozenset(exact)
        self.prefixes = tuple(prefixes)
        self.regexes = tuple(regexes)

    def matches(self, path: str) -> bool:
        if path in self.exact or (self.prefixes and path.startswith(self.prefixes)):
            return True
        return any(rx.fullmatch(path) for rx in self.regexes)

    def __repr__(self) -> str:
        return f"<PathSet {list(self.patterns)}>"


def _template_regex(segments: tuple[tuple[int, str], ...]) -> re.Pattern[str]:
    parts = []
    for kind, text in segments:
        if kind == LITERAL:
            parts.append("/" + re.escape(text))
        elif kind == PARAM:
            parts.append("/[^/]+")
        else:  # REST: the rest of the path after that slash, perhaps empty
            parts.append("/.*")
    return re.compile("".join(parts), re.DOTALL)


# --- a request's facts -----------------------------------------------------------------------------

_UNSET: Final[Any] = object()


def _san_kind(name: str) -> str:
    if "://" in name:
        return "uri"
    if "@" in name:
        return "email"
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return "dns"
    return "ip"


def cert_facts(peer: Mapping[str, Any]) -> dict[str, Any]:
    """The client certificate's facts for rules, from
    :func:`~pipework.net.certs.peer_cert_info`: ``cn``, ``subject``, ``issuer``, ``serial``,
    ``fingerprint`` (SHA-256, lower-case hex), ``sans`` and, by kind, ``dns``, ``uris``,
    ``emails``, ``ips`` (lists of strings)."""
    sans = list(peer.get("sans", ()))
    kinds: dict[str, list[str]] = {"dns": [], "uri": [], "email": [], "ip": []}
    for s in sans:
        kinds[_san_kind(s)].append(s)
    return {
        "cn": peer.get("common_name", ""),
        "subject": peer.get("subject", ""),
        "issuer": peer.get("issuer", ""),
        "serial": peer.get("serial", ""),
        "fingerprint": peer.get("fingerprint_sha256", ""),
        "sans": sans,
        "dns": kinds["dns"],
        "uris": kinds["uri"],
        "emails": kinds["email"],
        "ips": kinds["ip"],
    }


class Facts:
    """What rules know about one request, each read on first use.

    Made from the request ``head`` (a :class:`~pipework.codec.http1.RequestHead`) and the
    connection's context ``ctx`` (its ``vars``: ``claims`` from ``jwt_auth``, ``user`` from
    ``basic_auth``; ``tls``: the session facts from ``accept_tls``; ``inbound.remote_address``);
    ``trusted``: proxies whose X-Forwarded-For names the client. Absent facts are None.
    """

    __slots__ = ("_addr", "_cert", "_client", "_headers", "_path", "_query", "ctx", "head", "trusted")

    def __init__(self, head: Any, ctx: Any, trusted: IpSet | None = None) -> None:
        self.head = head
        self.ctx = ctx
        self.trusted = trusted
        self._path: str | None = None
        self._client: str | None = None
        self._addr: Any = _UNSET
        self._headers: dict[str, str] | None = None
        self._query: dict[str, str] | None = None
        self._cert: Any = _UNSET

    @property
    def method(self) -> str:
        return str(self.head.method)

    @property
    def path(self) -> str:
        """The path, normalized (see :func:`normalize_path`)."""
        p = self._path
        if p is None:
            p = self._path = normalize_path(self.head.target)
        return p

    @property
    def raw_path(self) -> str:
        """The path as the client wrote it (no query)."""
        return str(self.head.path)

    @property
    def host(self) -> str:
        """The Host, lower case, without port or trailing dot ("" without one)."""
        raw = self.head.header(b"host")
        return request_host(raw) if raw is not None else ""

    @property
    def client(self) -> str:
        """The client's address: the peer's, or behind trusted proxies the one they forwarded."""
        c = self._client
        if c is None:
            c = self._client = request_client(
                self.ctx.inbound.remote_address, self.head.raw_headers, self.trusted
            )
        return c

    @property
    def client_address(self) -> Address | None:
        """The client's address parsed (once: ``clients`` conditions of every rule share it),
        None if it is not an IP address."""
        a = self._addr
        if a is _UNSET:
            try:
                a = parse_address(self.client)
            except ValueError:
                a = None
            self._addr = a
        return a  # type: ignore[no-any-return]

    @property
    def headers(self) -> dict[str, str]:
        """Field values by lower-case name, repeated fields joined with ", "."""
        h = self._headers
        if h is None:
            h = {}
            for k, v in self.head.raw_headers:
                name = k.decode("latin-1").lower()
                value = v.decode("latin-1")
                h[name] = f"{h[name]}, {value}" if name in h else value
            self._headers = h
        return h

    @property
    def query(self) -> dict[str, str]:
        """Query parameters, decoded, the first value of each."""
        q = self._query
        if q is None:
            q = self._query = {k: v[0] for k, v in self.head.query_params().items()}
        return q

    @property
    def claims(self) -> Any:
        """The JWT's claims (``jwt_auth``), or None."""
        return getattr(self.ctx.vars, "claims", None)

    @property
    def scopes(self) -> list[str] | None:
        """The token's scopes: its ``scope`` claim split on spaces (RFC 8693 4.2, RFC 9068) or
        its ``scp`` list; None without claims."""
        claims = self.claims
        if not isinstance(claims, Mapping):
            return None
        scope = claims.get("scope", claims.get("scp"))
        if isinstance(scope, str):
            return scope.split()
        if isinstance(scope, list):
            return [s for s in scope if isinstance(s, str)]
        return []

    @property
    def user(self) -> Any:
        """The authenticated user (``basic_auth``), or None."""
        return getattr(self.ctx.vars, "user", None)

    @property
    def cert(self) -> dict[str, Any] | None:
        """The client certificate's facts (see :func:`cert_facts`), or None."""
        c = self._cert
        if c is _UNSET:
            tls = getattr(self.ctx, "tls", None)
            peer = tls.peer if tls is not None else None
            c = self._cert = cert_facts(peer) if peer is not None else None
        return c  # type: ignore[no-any-return]

    @property
    def tls(self) -> dict[str, Any] | None:
        """The inbound TLS session: ``version``, ``cipher``, ``alpn``, ``sni``; None over plain TCP."""
        tls = getattr(self.ctx, "tls", None)
        if tls is None:
            return None
        return {"version": tls.version, "cipher": tls.cipher, "alpn": tls.alpn, "sni": tls.server_name}

    @property
    def vars(self) -> dict[str, Any]:
        """The context's variables (``ctx.vars``), as a mapping."""
        return dict(vars(self.ctx.vars))


# --- rules -----------------------------------------------------------------------------------------


class _CertMatch:
    """``certs``: identities of the client certificate, any of which lets the condition hold."""

    __slots__ = ("cn", "dns", "email", "ip", "sha256", "uri", "wild")

    def __init__(self, entries: Iterable[str], what: str) -> None:
        got: dict[str, set[str]] = {k: set() for k in _CERT_KINDS}
        wild: list[str] = []
        for e in entries:
            if not isinstance(e, str) or ":" not in e:
                raise ValueError(
                    f"{what}: {e!r}: write kind:value, the kind one of {', '.join(_CERT_KINDS)} "
                    "(cn:alice, dns:api.internal, uri:spiffe://example.org/web, sha256:9f86d0...)"
                )
            kind, _, value = e.partition(":")
            kind = kind.strip().lower()
            if kind not in got:
                raise ValueError(f"{what}: {e!r}: unknown kind {kind!r} (kinds: {', '.join(_CERT_KINDS)})")
            if kind == "sha256":
                value = value.replace(":", "").strip().lower()
                if not re.fullmatch(r"[0-9a-f]{64}", value):
                    raise ValueError(f"{what}: {e!r}: a SHA-256 fingerprint is 64 hex digits")
            elif kind == "dns":
                value = value.strip().lower()
                if value.startswith("*."):
                    wild.append(value[1:])
                    continue
            elif kind == "ip":
                try:
                    value = str(ipaddress.ip_address(value.strip()))
                except ValueError:
                    raise ValueError(f"{what}: {e!r}: not an IP address") from None
            if not value:
                raise ValueError(f"{what}: {e!r}: empty value")
            got[kind].add(value)
        self.cn = frozenset(got["cn"])
        self.dns = frozenset(got["dns"])
        self.uri = frozenset(got["uri"])
        self.email = frozenset(got["email"])
        self.ip = frozenset(got["ip"])
        self.sha256 = frozenset(got["sha256"])
        self.wild = tuple(wild)  # ".example.org": one or more labels in front

    def matches(self, cert: Mapping[str, Any]) -> bool:
        if cert["cn"] in self.cn or cert["fingerprint"] in self.sha256:
            return True
        for name in cert["dns"]:
            n = name.lower()
            if n in self.dns or (self.wild and n.endswith(self.wild)):
                return True
        return (
            any(u in self.uri for u in cert["uris"])
            or any(m in self.email for m in cert["emails"])
            or any(i in self.ip for i in cert["ips"])
        )


class Rule:
    """One rule: ``allow`` (True) or deny, and conditions that must all hold for it to apply.

    ``methods`` (upper-cased), ``paths`` (patterns, see the module docstring), ``hosts``
    (names or ``*.wildcards``), ``clients`` (networks, or the path of a file of them),
    ``certs`` (``kind:value`` identities of the client certificate: ``cn:``, ``dns:`` (``*.``
    wildcards), ``uri:``, ``email:``, ``ip:``, ``sha256:``), ``when`` (an expression of
    :mod:`.expr` over :data:`NAMES`, or a function of the :class:`Facts` returning a bool).
    ``name`` labels it in the log (else ``rule N``). Raises ValueError/TypeError naming the
    mistake.
    """

    __slots__ = (
        "allow",
        "certs",
        "clients",
        "hosts",
        "label",
        "methods",
        "name",
        "paths",
        "when",
        "when_source",
        "wild",
    )

    def __init__(
        self,
        allow: bool,
        *,
        methods: Sequence[str] | str | None = None,
        paths: Sequence[str] | str | None = None,
        hosts: Sequence[str] | str | None = None,
        clients: Sequence[str] | str | IpSet | None = None,
        certs: Sequence[str] | str | None = None,
        when: str | Callable[[Facts], Any] | None = None,
        name: str | None = None,
        what: str = "rule",
    ) -> None:
        if not isinstance(allow, bool):
            raise TypeError(f"{what}: allow is True or False, not {allow!r}")
        self.allow = allow
        self.name = name
        self.label = name or what
        self.methods: frozenset[str] | None = None
        if methods is not None:
            ms = [methods] if isinstance(methods, str) else list(methods)
            for m in ms:
                if not isinstance(m, str) or not _METHOD.fullmatch(m):
                    raise ValueError(f"{what}: methods: {m!r} is not a method name")
            self.methods = frozenset(m.upper() for m in ms)
        self.paths = (
            PathSet([paths] if isinstance(paths, str) else paths, f"{what}: paths")
            if paths is not None
            else None
        )
        self.hosts: frozenset[str] | None = None
        self.wild: tuple[str, ...] = ()
        if hosts is not None:
            exact, wild = set(), []
            for h in [hosts] if isinstance(hosts, str) else hosts:
                try:
                    name_, is_wild = host_pattern(h)
                except (TypeError, ValueError) as e:
                    raise ValueError(f"{what}: hosts: {e}") from None
                if is_wild and not name_:
                    raise ValueError(f"{what}: hosts: '*' holds every host; leave hosts out instead")
                (wild.append("." + name_) if is_wild else exact.add(name_))
            self.hosts, self.wild = frozenset(exact), tuple(wild)
        self.clients: IpSet | None = None
        if clients is not None:
            try:
                if isinstance(clients, IpSet):
                    self.clients = clients
                elif isinstance(clients, str) and "/" in clients and Path(clients).is_file():
                    self.clients = IpSet.from_file(clients)
                else:
                    self.clients = IpSet([clients] if isinstance(clients, str) else list(clients))
            except (ValueError, TypeError) as e:
                raise ValueError(f"{what}: clients: {e}") from None
        self.certs = (
            _CertMatch([certs] if isinstance(certs, str) else certs, f"{what}: certs")
            if certs is not None
            else None
        )
        self.when: Callable[[Facts], Any] | None = None
        self.when_source: str | None = None
        if isinstance(when, str):
            compiled: CompiledExpr = compile_expr(when, NAMES, optional=OPTIONAL, what=f"{what}: when")
            self.when, self.when_source = compiled.fn, compiled.source
        elif when is not None:
            if not callable(when):
                raise TypeError(
                    f"{what}: when is an expression (a str) or a function of the request, not {when!r}"
                )
            self.when = when

    @classmethod
    def from_mapping(cls, spec: Mapping[str, Any], what: str = "rule") -> Rule:
        """A rule written as a mapping (as a YAML file holds it): ``allow: true`` or ``deny: true``
        and the conditions of :class:`Rule`."""
        if not isinstance(spec, Mapping):
            raise TypeError(f"{what}: a rule is a mapping ({{'allow': True, 'paths': [...]}}), not {spec!r}")
        unknown = [k for k in spec if k not in RULE_KEYS]
        if unknown:
            raise ValueError(f"{what}: unknown key {unknown[0]!r} (keys: {', '.join(RULE_KEYS)})")
        has_allow, has_deny = "allow" in spec, "deny" in spec
        if has_allow == has_deny:
            raise ValueError(f"{what}: say allow: true or deny: true (one of them)")
        flag = spec["allow"] if has_allow else spec["deny"]
        if not isinstance(flag, bool):
            raise ValueError(f"{what}: {'allow' if has_allow else 'deny'} is true or false, not {flag!r}")
        allow = flag if has_allow else not flag
        conds = {k: v for k, v in spec.items() if k not in ("allow", "deny", "name")}
        return cls(allow, name=spec.get("name"), what=what, **conds)

    def applies(self, f: Facts) -> bool:
        """Whether every condition holds; raises :class:`~.expr.Undecided` (or whatever a ``when``
        raises) when one cannot be decided."""
        if self.methods is not None and f.head.method not in self.methods:
            return False
        if self.hosts is not None:
            h = f.host
            if h not in self.hosts and not (self.wild and h.endswith(self.wild)):
                return False
        if self.paths is not None and not self.paths.matches(f.path):
            return False
        if self.clients is not None:
            addr = f.client_address
            if addr is None:
                raise Undecided("client")
            if addr not in self.clients:
                return False
        if self.certs is not None:
            cert = f.cert
            if cert is None:
                raise Undecided("cert", "cert")
            if not self.certs.matches(cert):
                return False
        return self.when is None or bool(self.when(f))

    def __repr__(self) -> str:
        return f"<Rule {self.label} {'allow' if self.allow else 'deny'}>"


class Decision:
    """What a policy decided: ``allowed``; for a refusal ``status`` (401 or 403) and ``absent``
    (the identity that was missing, for the challenge); ``rule`` (its label, or "default") and
    ``reason`` (for the log)."""

    __slots__ = ("absent", "allowed", "reason", "rule", "status")

    def __init__(
        self, allowed: bool, rule: str, reason: str, status: int = 200, absent: str | None = None
    ) -> None:
        self.allowed = allowed
        self.rule = rule
        self.reason = reason
        self.status = status
        self.absent = absent

    def __repr__(self) -> str:
        return f"<Decision {'allow' if self.allowed else self.status} by {self.rule}: {self.reason}>"


def _missing(exc: BaseException) -> tuple[str, str | None]:
    if isinstance(exc, Undecided):
        return (f"{exc.what} is absent" if exc.absent else f"{exc.what} is missing"), exc.absent
    return f"{type(exc).__name__}: {exc}", None


class Policy:
    """Ordered rules and a default (``"allow"`` or ``"deny"``); see the module docstring."""

    __slots__ = ("default", "rules")

    def __init__(
        self, rules: Iterable[Rule | Mapping[str, Any]], default: str = "deny", what: str = ""
    ) -> None:
        if default not in ("allow", "deny"):
            raise ValueError(f"{what}default is 'allow' or 'deny', not {default!r}")
        self.default = default == "allow"
        if isinstance(rules, str | bytes | Mapping):
            raise TypeError(f"{what}rules are a list of rules, not {type(rules).__name__}")
        out: list[Rule] = []
        for i, r in enumerate(rules, 1):
            rule = r if isinstance(r, Rule) else Rule.from_mapping(r, f"{what}rule {i}")
            rule.label = rule.name or f"rule {i}"  # errors name the step; the log, the rule
            out.append(rule)
        self.rules = tuple(out)

    def decide(self, f: Facts) -> Decision:
        """The decision for a request: never raises (a rule that fails is undecided)."""
        skipped: tuple[Rule, str, str | None] | None = None  # an allow rule that lacked an identity
        for rule in self.rules:
            try:
                applies = rule.applies(f)
            except Exception as exc:  # any failure of a condition: undecided, never an error
                why, absent = _missing(exc)
                if rule.allow:
                    if skipped is None or (absent in IDENTITIES and skipped[2] not in IDENTITIES):
                        skipped = (rule, why, absent)
                    continue
                status = 401 if absent in IDENTITIES else 403
                return Decision(
                    False, rule.label, f"{rule.label} (deny) cannot be decided: {why}", status, absent
                )
            if applies:
                if rule.allow:
                    return Decision(True, rule.label, f"{rule.label} allows")
                return Decision(False, rule.label, f"{rule.label} denies", 403)
        if self.default:
            return Decision(True, "default", "no rule applies; the default allows")
        if skipped is not None:
            rule, why, absent = skipped
            status = 401 if absent in IDENTITIES else 403
            why = f"no rule allows ({rule.label} cannot be decided: {why}); the default denies"
            return Decision(False, "default", why, status, absent)
        return Decision(False, "default", "no rule allows; the default denies", 403)


__all__ += ["ExprError", "cert_facts"]

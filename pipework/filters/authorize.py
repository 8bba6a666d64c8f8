"""``authorize``: let a request through or refuse it by rules over its path, method, host, client
address, TLS client certificate and JWT claims.

Theory of operation: ``authorize`` is a gate (:class:`~pipework.filters.gate.Gate`) in the
sub-pipeline ``demux_http`` makes per request, after the steps that authenticate (``jwt_auth``
puts the claims, ``basic_auth`` the user on ``ctx.vars``; ``accept_tls`` the client certificate
on ``ctx.tls``). At the request head it asks its :class:`~pipework.policy.authz.Policy` —
the first rule that applies decides, else the default — and lets the request pass untouched or
answers 403 (401 with a ``WWW-Authenticate`` challenge when what was missing is an identity a
client can supply by authenticating). The client gets a short, fixed text; the reason — which
rule, what was missing — goes to the log (``pipework`` logger, warning). The rule that let a
request through is in ``ctx.vars.authorized_by``. See :mod:`pipework.policy.authz` for the rules
and :mod:`pipework.policy.expr` for the ``when`` language.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..codec.http1 import RequestHead
from ..core import Builder, register
from ..policy.authz import Facts, Policy, Rule
from ..policy.cidr import IpSet
from .gate import Gate
from .http import Answer

log = logging.getLogger("pipework")

_TEXT = {401: "authentication required\n", 403: "forbidden\n"}


def _trusted(value: Any) -> IpSet | None:
    if not value:
        return None
    if isinstance(value, IpSet):
        return value
    try:
        return IpSet([value] if isinstance(value, str) else value)
    except (ValueError, TypeError) as e:
        raise ValueError(f"authorize(): trusted_proxies: {e}") from None


def _function_policy(fn: Callable[[Facts], Any]) -> Callable[[Facts], tuple[bool, str]]:
    def decide(f: Facts) -> tuple[bool, str]:
        try:
            verdict = fn(f)
        except Exception as exc:  # a failing function refuses: unknown never lets a request through
            return False, f"{getattr(fn, '__name__', 'function')} failed: {type(exc).__name__}: {exc}"
        if isinstance(verdict, str):
            return False, verdict
        return bool(verdict), "the function refuses"

    return decide


def authorize(
    self: Builder,
    rules: Iterable[Rule | Mapping[str, Any]] | Callable[[Facts], Any],
    *,
    default: str = "deny",
    trusted_proxies: Any = (),
    realm: str = "pipework",
) -> Builder:
    """Let a request through or refuse it by ``rules``; see the module docstring.

    ``rules``: a list of rules, each a mapping (``{"allow": True, "methods": ["GET"], "paths":
    ["/public/*"], "clients": ["10.0.0.0/8"], "certs": ["cn:alice"], "when": "'admin' in
    claims.roles"}``; ``deny: True`` for a deny rule) or a :class:`~pipework.policy.authz.Rule`;
    the first that applies decides, else ``default`` (``"deny"`` or ``"allow"``). Or a function
    of the request's :class:`~pipework.policy.authz.Facts` (``req.method``, ``req.path``,
    ``req.client``, ``req.claims``, ``req.cert``, ... None when absent) returning True to allow,
    False to refuse, or a string: refused, with that reason in the log. ``trusted_proxies``:
    networks whose X-Forwarded-For names the client. ``realm`` goes in 401 challenges.
    Mistakes in the rules raise ValueError at load, naming the rule (and for ``when`` the column).
    """
    if '"' in realm or "\\" in realm:
        raise ValueError(f"authorize(): realm {realm!r} must not hold quotes or backslashes")
    trusted = _trusted(trusted_proxies)
    challenge = {
        "claims": [(b"www-authenticate", f'Bearer realm="{realm}"'.encode())],
        "scopes": [(b"www-authenticate", f'Bearer realm="{realm}"'.encode())],
        "user": [(b"www-authenticate", f'Basic realm="{realm}", charset="UTF-8"'.encode())],
    }

    if callable(rules) and not isinstance(rules, Iterable):
        decide = _function_policy(rules)

        def check_fn(head: RequestHead, ctx: Any) -> Answer | None:
            f = Facts(head, ctx, trusted)
            ok, reason = decide(f)
            if ok:
                ctx.vars.authorized_by = "function"
                return None
            log.warning(
                "%r: authorize: %s %s from %s refused (403): %s",
                ctx,
                head.method,
                head.target,
                f.client,
                reason,
            )
            return 403, [], _TEXT[403]

        return self.add("authorize", Gate, check_fn)

    policy = Policy(rules, default, "authorize(): ")

    def check(head: RequestHead, ctx: Any) -> Answer | None:
        f = Facts(head, ctx, trusted)
        d = policy.decide(f)
        if d.allowed:
            ctx.vars.authorized_by = d.rule
            return None
        log.warning(
            "%r: authorize: %s %s from %s refused (%d): %s",
            ctx,
            head.method,
            head.target,
            f.client,
            d.status,
            d.reason,
        )
        fields = challenge.get(d.absent or "", []) if d.status == 401 else []
        return d.status, fields, _TEXT[d.status]

    return self.add("authorize", Gate, check)


register(authorize=authorize)

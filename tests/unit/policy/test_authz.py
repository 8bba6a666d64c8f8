"""Authorisation rules: path normalization and patterns, each kind of condition, first match,
the default, undecided rules (allow skips, deny applies) and 401 against 403."""

from __future__ import annotations

from typing import Any

import pytest

from pipework.codec.http1 import RequestHead
from pipework.core.context import Context, InboundInfo
from pipework.policy.authz import Facts, PathSet, Policy, Rule, cert_facts, normalize_path
from pipework.policy.cidr import IpSet


class _Peer:
    def __init__(self, addr: str) -> None:
        self.peer = (addr, 40000)
        self.local = ("127.0.0.1", 80)


class _Tls:
    def __init__(self, peer: dict[str, Any] | None) -> None:
        self.peer = peer
        self.version, self.cipher, self.alpn, self.server_name = "TLSv1.3", "X", None, "a.test"


def request(
    method: str = "GET",
    target: str = "/",
    *,
    fields: list[tuple[bytes, bytes]] | None = None,
    peer: str = "10.0.0.5",
    claims: Any = None,
    user: str | None = None,
    cert: dict[str, Any] | None = None,
    trusted: IpSet | None = None,
) -> Facts:
    ctx = Context(InboundInfo("tcp", _Peer(peer)))
    if claims is not None:
        ctx.vars.claims = claims
    if user is not None:
        ctx.vars.user = user
    if cert is not None:
        ctx.tls = _Tls(cert)
    head = RequestHead(method, target, "1.1", [(b"host", b"api.example.com"), *(fields or [])])
    return Facts(head, ctx, trusted)


ALICE = {
    "common_name": "alice",
    "subject": "CN=alice,O=Example",
    "issuer": "CN=CA",
    "sans": ["alice.svc.cluster.local", "spiffe://example.org/ns/web", "alice@example.org", "10.9.9.9"],
    "serial": "1F",
    "fingerprint_sha256": "ab" * 32,
}


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("/a/b", "/a/b"),
        ("/a//b///c", "/a/b/c"),
        ("/public/../admin", "/admin"),
        ("/public/%2e%2e/admin", "/admin"),
        ("/%61dmin/x?q=1", "/admin/x"),
        ("/a/./b/.", "/a/b/"),
        ("/../../etc", "/etc"),
        ("/a/b/..", "/a/"),
        ("/a%2Fb", "/a/b"),
        ("http://h.example/x/y?z", "/x/y"),
        ("http://h.example", "/"),
        ("*", "*"),
    ],
)
def test_normalize_path(raw: str, want: str) -> None:
    assert normalize_path(raw) == want


def test_path_patterns() -> None:
    ps = PathSet(["/exact", "/api/*", "/docs/", "=/dir/", "/users/{id}", "/files/{rest*}", "~/v[0-9]+/.+"])
    yes = [
        "/exact",
        "/api/",
        "/api/x/y",
        "/docs/",
        "/docs/a",
        "/dir/",
        "/users/7",
        "/files/",
        "/files/a/b",
        "/v2/x",
    ]
    no = ["/exact/", "/api", "/docs", "/dir/x", "/users/", "/users/7/x", "/files", "/v/x", "/exac"]
    assert [p for p in yes if not ps.matches(p)] == []
    assert [p for p in no if ps.matches(p)] == []


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("api/*", "must start with /"),
        ("/a/*/b", "'*' only ends a prefix"),
        ("/a?x=1", "no query"),
        ("/u/{id", "a param is a whole segment"),
        ("~(", "bad regular expression"),
        ("=/a/*", "'=' takes a plain path"),
    ],
)
def test_bad_path_patterns(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match="paths") as info:
        PathSet([pattern], "rule 1: paths")
    assert message in str(info.value)


def test_first_match_wins_and_the_default() -> None:
    p = Policy(
        [
            {"deny": True, "paths": ["/admin/*"], "clients": ["10.0.0.0/8"], "name": "no-admin-from-lan"},
            {"allow": True, "methods": ["GET", "HEAD"], "paths": ["/public/*"]},
            {"allow": True, "paths": ["/admin/*"]},
        ]
    )
    d = p.decide(request(target="/admin/x"))
    assert (d.allowed, d.status, d.rule) == (False, 403, "no-admin-from-lan")
    assert p.decide(request(target="/admin/x", peer="192.0.2.1")).rule == "rule 3"
    assert p.decide(request(target="/public/a")).allowed
    d = p.decide(request("POST", "/public/a"))
    assert (d.allowed, d.status, d.rule) == (False, 403, "default")
    assert Policy([], "allow").decide(request()).allowed


def test_hosts_and_trusted_proxies() -> None:
    p = Policy([{"allow": True, "hosts": ["*.example.com"], "clients": ["198.51.100.0/24"]}])
    xff = [(b"x-forwarded-for", b"198.51.100.7")]
    assert not p.decide(request(fields=xff)).allowed  # the peer is not a trusted proxy
    assert p.decide(request(fields=xff, trusted=IpSet(["10.0.0.0/8"]))).allowed


def test_claims_scopes_and_401() -> None:
    p = Policy(
        [
            {"allow": True, "paths": ["/admin/*"], "when": "'admin' in claims.roles"},
            {"allow": True, "paths": ["/orders/*"], "when": "'orders:read' in scopes"},
            {"deny": True, "paths": ["/me"], "when": "claims.sub == 'mallory'"},
            {"allow": True, "paths": ["/me"], "when": "has(claims)"},
        ]
    )
    d = p.decide(request(target="/admin/x"))
    assert (d.allowed, d.status, d.absent) == (False, 401, "claims")  # authenticating could help
    assert "rule 1 cannot be decided: claims is absent" in d.reason
    d = p.decide(request(target="/admin/x", claims={"sub": "bob", "roles": ["dev"]}))
    assert (d.allowed, d.status) == (False, 403)
    d = p.decide(request(target="/admin/x", claims={"sub": "bob"}))  # no roles claim: rule 1 skipped
    assert (d.allowed, d.status) == (False, 403)
    assert "claims.roles is missing" in d.reason
    assert p.decide(request(target="/admin/x", claims={"roles": ["admin"]})).allowed
    assert p.decide(request(target="/orders/1", claims={"scope": "orders:read profile"})).allowed
    assert p.decide(request(target="/orders/1", claims={"scp": ["orders:read"]})).allowed
    assert not p.decide(request(target="/orders/1", claims={"scope": "profile"})).allowed
    d = p.decide(request(target="/me", claims={"sub": "mallory"}))
    assert (d.allowed, d.rule) == (False, "rule 3")
    d = p.decide(request(target="/me"))  # the deny rule about claims cannot be decided: it applies
    assert (d.allowed, d.status, d.rule) == (False, 401, "rule 3")
    assert p.decide(request(target="/me", claims={"sub": "alice"})).allowed


def test_client_certificates() -> None:
    p = Policy(
        [
            {"allow": True, "paths": ["/svc/*"], "certs": ["uri:spiffe://example.org/ns/web"]},
            {"allow": True, "paths": ["/ops/*"], "certs": ["dns:*.svc.cluster.local", "cn:root"]},
            {"allow": True, "paths": ["/pin/*"], "certs": ["sha256:" + ":".join(["AB"] * 32)]},
            {"allow": True, "paths": ["/mail/*"], "certs": ["email:alice@example.org"]},
            {"allow": True, "paths": ["/ip/*"], "certs": ["ip:10.9.9.9"]},
            {"allow": True, "paths": ["/expr/*"], "when": "cert.cn == 'alice' and 'Example' in cert.subject"},
        ]
    )
    for path in ("/svc/x", "/ops/x", "/pin/x", "/mail/x", "/ip/x", "/expr/x"):
        assert p.decide(request(target=path, cert=ALICE)).allowed, path
    d = p.decide(request(target="/svc/x"))  # no certificate: 403, nothing to challenge for
    assert (d.allowed, d.status, d.absent) == (False, 403, "cert")
    bob = dict(ALICE, common_name="bob", sans=["bob.example"], fingerprint_sha256="cd" * 32)
    assert not p.decide(request(target="/ops/x", cert=bob)).allowed
    facts = cert_facts(ALICE)
    assert facts["dns"] == ["alice.svc.cluster.local"]
    assert facts["uris"] == ["spiffe://example.org/ns/web"]
    assert facts["emails"] == ["alice@example.org"]
    assert facts["ips"] == ["10.9.9.9"]


def test_python_functions_as_conditions() -> None:
    def weekday_staff(req: Facts) -> bool:
        return req.user in ("ann", "bob")

    def broken(req: Facts) -> bool:
        raise RuntimeError("boom")

    p = Policy([Rule(False, when=broken), Rule(True, when=weekday_staff, name="staff")])
    d = p.decide(request(user="ann"))  # the deny rule failed: undecided, so it applies
    assert (d.allowed, d.rule) == (False, "rule 1")
    assert "RuntimeError: boom" in d.reason
    p = Policy([Rule(True, when=broken), Rule(True, when=weekday_staff, name="staff")])
    assert p.decide(request(user="ann")).rule == "staff"
    assert not p.decide(request(user="eve")).allowed


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"paths": ["/x"]}, "rule 1: say allow: true or deny: true"),
        ({"allow": True, "deny": True}, "rule 1: say allow: true or deny: true"),
        ({"allow": "yes"}, "rule 1: allow is true or false"),
        ({"allow": True, "pahts": ["/x"]}, "rule 1: unknown key 'pahts'"),
        ({"allow": True, "methods": ["GE T"]}, "rule 1: methods: 'GE T' is not a method name"),
        ({"allow": True, "clients": ["10.0.0.1/8"]}, "rule 1: clients: '10.0.0.1/8' has host bits set"),
        ({"allow": True, "certs": ["alice"]}, "rule 1: certs: 'alice': write kind:value"),
        ({"allow": True, "certs": ["sha1:abcd"]}, "rule 1: certs: 'sha1:abcd': unknown kind 'sha1'"),
        ({"allow": True, "hosts": ["a.com:80"]}, "rule 1: hosts: host 'a.com:80'"),
        ({"allow": True, "when": "claims.roles contains 'x'"}, "rule 1: when: column 14: syntax error"),
        ({"allow": True, "when": "role in claims.roles"}, "rule 1: when: column 1: unknown name 'role'"),
    ],
)
def test_mistakes_are_named_at_load(rule: dict[str, Any], message: str) -> None:
    with pytest.raises((ValueError, TypeError)) as info:
        Policy([rule], what="authorize(): ")
    assert f"authorize(): {message}" in str(info.value)


def test_bad_default() -> None:
    with pytest.raises(ValueError, match="default is 'allow' or 'deny'"):
        Policy([], "permit")

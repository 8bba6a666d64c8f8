"""The policy expression language: what it computes, what it refuses at load (column and reason),
and that a missing value never raises anything but Undecided."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipework.policy.expr import CompiledExpr, ExprError, Undecided, compile_expr

NAMES = ("method", "path", "client", "headers", "claims", "cert")
OPTIONAL = ("claims", "cert")


def comp(src: str) -> CompiledExpr:
    return compile_expr(src, NAMES, optional=OPTIONAL, what="when")


def facts(**kw: Any) -> SimpleNamespace:
    base: dict[str, Any] = dict.fromkeys(OPTIONAL)
    base.update(method="GET", path="/a/b", client="10.1.2.3", headers={})
    base.update(kw)
    return SimpleNamespace(**base)


@pytest.mark.parametrize(
    ("src", "kw", "want"),
    [
        ("method == 'GET'", {}, True),
        ("method in ['POST', 'PUT']", {}, False),
        ("path.startswith('/a/') and not path.endswith('.php')", {}, True),
        ("'admin' in claims.roles", {"claims": {"roles": ["admin", "ops"]}}, True),
        ("claims['sub'] == 'alice' or claims.sub == 'bob'", {"claims": {"sub": "bob"}}, True),
        ("claims.realm_access.roles[0] == 'x'", {"claims": {"realm_access": {"roles": ["x"]}}}, True),
        ("claims.exp > 10 and claims.exp <= 20", {"claims": {"exp": 15}}, True),
        ("'read' in claims.scope.split()", {"claims": {"scope": "read write"}}, True),
        ("headers['x-team'].lower() == 'blue'", {"headers": {"x-team": "BLUE"}}, True),
        ("in_network(client, ['10.0.0.0/8', '2001:db8::/32'])", {}, True),
        ("in_network(client, '192.168.0.0/16')", {}, False),
        ("matches(path, '^/a/[a-z]+$')", {}, True),
        ("len(claims.roles) >= 2", {"claims": {"roles": ["a", "b"]}}, True),
        ("has(claims) and claims.x is None", {"claims": {"x": None}}, True),
        ("not has(claims)", {}, True),
        ("has(claims.roles)", {"claims": {}}, False),
        ("cert.cn == 'alice'", {"cert": {"cn": "alice"}}, True),
        ("-1 < 0", {}, True),
        ("method in {'GET', 'HEAD'}", {}, True),
    ],
)
def test_values(src: str, kw: dict[str, Any], want: bool) -> None:
    assert comp(src)(facts(**kw)) is want


@pytest.mark.parametrize(
    ("src", "kw", "what", "absent"),
    [
        ("'admin' in claims.roles", {}, "claims", "claims"),
        ("not 'admin' in claims.roles", {}, "claims", "claims"),  # never true for lack of claims
        ("not 'admin' in claims.roles", {"claims": {}}, "claims.roles", None),
        ("claims.a.b == 1", {"claims": {"a": 5}}, "claims.a.b", None),
        ("headers['x-team'] == 'blue'", {}, "headers['x-team']", None),
        ("cert.cn == 'x' or method == 'GET'", {}, "cert", "cert"),  # undecided before the or
        ("claims.roles[3] == 'x'", {"claims": {"roles": []}}, "claims.roles[3]", None),
        ("claims.__dict__", {"claims": {}}, None, None),
    ],
)
def test_missing_values_are_undecided(
    src: str, kw: dict[str, Any], what: str | None, absent: str | None
) -> None:
    if what is None:
        with pytest.raises(ExprError):
            comp(src)
        return
    with pytest.raises(Undecided) as info:
        comp(src)(facts(**kw))
    assert info.value.what == what
    assert info.value.absent == absent


@pytest.mark.parametrize(
    ("src", "message"),
    [
        ("clams.roles", "when: column 1: unknown name 'clams' (did you mean claims?)"),
        ("method == 'GET' and open('/etc/passwd')", "when: column 21: unknown function open()"),
        ("claims.__class__", "when: column 8: no names starting with _ ('__class__')"),
        ("path.format(1)", "when: column 6: unknown method .format()"),
        ("claims.exp + 1 > 2", "when: column 1: arithmetic is not part of the language"),
        ("[x for x in claims]", "when: column 1: a comprehension is not part of the language"),
        ("claims.roles[1:]", "when: column 14: slices are not part of the language"),
        ("method = 'GET'", "when: column 8: syntax error: invalid syntax"),
        ("'a' in (", "when: column 8: syntax error: '(' was never closed"),
        ("claims.sub is 'x'", "when: column 15: 'is' and 'is not' compare only with None"),
        ("matches(path, '(')", "when: column 15: bad regular expression '('"),
        ("matches(path, path)", "when: column 15: matches() takes a string literal"),
        ("in_network(client, '10.0.0.1/8')", "when: column 20: in_network() takes a network"),
        ("has('x')", "when: column 5: has() takes a name or a key lookup"),
        ("len(path, 1)", "when: column 1: len() takes 1 argument(s)"),
        ("lambda: 1", "when: column 1: a lambda is not part of the language"),
        ("f'{path}'", "when: column 1: an f-string is not part of the language"),
        ("{'a': 1}", "when: column 1: a dict literal is not part of the language"),
        ("", "when: column 1: empty expression"),
        ("x" * 5000, "when: column 4097: longer than 4096 characters"),
        ("(" * 300 + "1" + ")" * 300, "when: column 201: syntax error: too many nested parentheses"),
        ("not " * 60 + "True", "when: column 165: nested more than 40 levels deep"),
    ],
)
def test_mistakes_name_the_column_and_reason(src: str, message: str) -> None:
    with pytest.raises(ValueError, match=r"^when: column ") as info:
        comp(src)
    assert message in str(info.value)
    assert isinstance(info.value, ExprError)


def test_names_and_multiline_source() -> None:
    e = comp("method == 'GET'\n  and 'admin' in claims.roles")
    assert e.names == {"method", "claims"}
    assert e(facts(claims={"roles": ["admin"]})) is True


def test_no_builtins_reach_the_code() -> None:
    e = comp("path == 'x'")
    assert e.fn.__globals__["__builtins__"] == {}


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_text_compiles_or_fails_with_expr_error(src: str) -> None:
    """Arbitrary input: an ExprError at load or a function; running it on absent facts raises
    only Undecided or TypeError."""
    try:
        e = comp(src)
    except ExprError:
        return
    try:
        e(facts())
    except (Undecided, TypeError):
        pass


@settings(max_examples=200, deadline=None)
@given(st.recursive(
    st.one_of(st.sampled_from(["method", "path", "claims.sub", "claims.roles", "cert.cn", "'x'", "1", "None",
                               "headers['h']", "has(claims.a)"])),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from([" == ", " != ", " in ", " < ", " and ", " or "]), inner).map(
            lambda t: f"({t[0]}){t[1]}({t[2]})"
        ),
        inner.map(lambda s: f"not ({s})"),
    ),
    max_leaves=8,
))  # fmt: skip
def test_generated_expressions_never_raise_anything_else(src: str) -> None:
    e = comp(src)
    for kw in ({}, {"claims": {"sub": "a", "roles": ["x"]}}, {"claims": {}, "cert": {"cn": "c"}}):
        try:
            e(facts(**kw))
        except (Undecided, TypeError):
            pass

"""Request keys: expressions and functions that name what a request is hashed by."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from pipework import RequestHead
from pipework.filters.keys import key_function

HEAD = RequestHead(
    "GET",
    "/a/b?user=ann&x=1",
    raw_headers=[(b"Host", b"Example.COM"), (b"X-User", b"bob"), (b"Cookie", b"a=1; sid=s42; b=2")],
)
CTX = SimpleNamespace(inbound=SimpleNamespace(remote_address="10.0.0.9"))


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("header:x-user", b"bob"),
        ("header:X-USER", b"bob"),
        ("header:missing", None),
        ("cookie:sid", b"s42"),
        ("cookie:b", b"2"),
        ("cookie:none", None),
        ("query:user", b"ann"),
        ("query:nope", None),
        ("path", b"/a/b"),
        ("uri", b"/a/b?user=ann&x=1"),
        ("host", b"example.com"),
        ("ip", b"10.0.0.9"),
    ],
)
def test_expressions(spec: str, want: bytes | None) -> None:
    assert key_function(spec)(HEAD, CTX) == want


def test_functions_of_the_head_or_of_head_and_context() -> None:
    assert key_function(lambda h: h.path)(HEAD, CTX) == b"/a/b"
    assert key_function(lambda h, ctx: ctx.inbound.remote_address)(HEAD, CTX) == b"10.0.0.9"
    assert key_function(lambda h: None)(HEAD, CTX) is None
    assert key_function(lambda h: 7)(HEAD, CTX) == b"7"


def test_bad_keys_say_what_is_known() -> None:
    with pytest.raises(ValueError, match=r"'header' is not a key; write one of header:NAME"):
        key_function("header", "hash_key")
    with pytest.raises(ValueError, match="'body:x' is not a key"):
        key_function("body:x")

    async def slow(h: object) -> bytes:
        return b""

    with pytest.raises(TypeError, match="must not be async"):
        key_function(slow)
    with pytest.raises(TypeError, match="expected an expression"):
        key_function(3)  # type: ignore[arg-type]

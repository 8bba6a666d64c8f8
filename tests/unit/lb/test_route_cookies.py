"""The one reading of cookies: every Cookie line, the first of a name wins, spaces around names
and values dropped; one cookie alone reads as all of them do."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipework.lb.route import cookie_value, parse_cookies

RAW = [
    (b"Cookie", b"sid=9; ver = canary ;theme=dark"),
    (b"cookie", b"ver=stable; empty=; =nameless; novalue"),
]


def test_parse_cookies() -> None:
    assert parse_cookies(RAW) == {"sid": "9", "ver": "canary", "theme": "dark", "empty": ""}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (b"sid", b"9"),
        (b"ver", b"canary"),
        (b"theme", b"dark"),
        (b"empty", b""),
        (b"novalue", None),
        (b"x", None),
    ],
)
def test_one_cookie(name: bytes, value: bytes | None) -> None:
    assert cookie_value(RAW, name) == value


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", " c", "d "]), st.sampled_from(["1", " 2", "3 ", ""])), max_size=6
    )
)
def test_one_cookie_reads_as_all_do(pairs: list[tuple[str, str]]) -> None:
    raw = [(b"Cookie", "; ".join(f"{k}={v}" for k, v in pairs).encode())]
    every = parse_cookies(raw)
    for name in ("a", "b", "c", "d"):
        got = cookie_value(raw, name.encode())
        assert (got.decode() if got is not None else None) == every.get(name)

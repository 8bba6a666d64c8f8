"""Route names, for the metrics and the access log: given, or made of the route's host and path."""

from __future__ import annotations

import pytest

from pipework.codec.http1 import RequestHead
from pipework.lb.router import Router


def test_names_given_or_made() -> None:
    r: Router[str] = Router()
    assert r.add("a", prefix="/api/", name="api").name == "api"
    assert r.add("b", path="/users/{id}").name == "/users/{id}"
    assert r.add("c", host="*.Example.com", prefix="/static/").name == "*.example.com/static/*"
    assert r.add("d", regex=r"/v[0-9]+/.*").name == "~/v[0-9]+/.*"
    assert r.add("e", host=["a.example", "b.example"]).name == "a.example,b.example"
    assert r.add("f", methods=["POST"]).name == "#5"
    m = r.match(RequestHead("GET", "/users/7", "1.1", [(b"host", b"x")]))
    assert m is not None
    assert m.route.name == "/users/{id}"


@pytest.mark.parametrize("bad", ["", 3])
def test_a_name_is_a_non_empty_str(bad: object) -> None:
    with pytest.raises(ValueError, match="name must be a non-empty str"):
        Router().add("x", prefix="/", name=bad)  # type: ignore[arg-type]

"""Upstreams, health-check and route settings: parsing, validation and bookkeeping without I/O."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

import pipework as pw
from pipework.filters.health_check import HealthCheck
from pipework.filters.route import HeaderOps, Split
from pipework.filters.upstream import Upstream, parse_target


def test_targets_in_every_form() -> None:
    up = Upstream(["10.0.0.1:80", ("10.0.0.2:8080", 3), "http://app:9000", ("10.0.0.3", 81)])
    got = [(ep.host, ep.port, ep.configured_weight) for ep in up.endpoints.values()]
    assert got == [("10.0.0.1", 80, 1), ("10.0.0.2", 8080, 3), ("app", 9000, 1), ("10.0.0.3", 81, 1)]
    up = Upstream({"[::1]:8080": 2, "a:1": 1})
    assert list(up.endpoints) == ["[::1]:8080", "a:1"]
    assert up.endpoints["[::1]:8080"].host_field == b"[::1]:8080"
    assert Upstream("b:80").endpoints["b:80"].host_field == b"b"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"targets": ["a:1"], "balancer": "fastest"}, "unknown balancer 'fastest'"),
        ({"targets": [("a:1", 0)]}, "weight must be a number > 0"),
        ({"targets": ["ftp://a:1"]}, "only http:// and https:// upstreams"),
        ({"targets": ["a:1"], "max_connections": -1}, "max_connections"),
        ({"targets": ["a:1"], "idle_timeout": "1m"}, "idle_timeout"),
        ({"targets": ["a:1"], "affinity": "ip"}, "affinity 'ip'"),
        ({"targets": ["a:1"], "balancer": "maglev", "hash_key": "body"}, "'body' is not a key"),
        ({"targets": ["a:1"], "hash_key": "path"}, "hash_key is for the ring_hash and maglev"),
    ],
)
def test_bad_settings_say_what_to_write(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Upstream(**kwargs)  # type: ignore[arg-type]


def test_set_targets_keeps_the_endpoints_it_still_has() -> None:
    up = Upstream(["a:1", "b:1"])
    a = up.endpoints["a:1"]
    a.active = 4
    up.set_targets([("a:1", 5), "c:1"])
    assert up.endpoints["a:1"] is a
    assert (a.active, a.configured_weight) == (4, 5)
    assert [ep.name for ep in up.available] == ["a:1", "c:1"]
    assert up.only is None
    up.set_targets(["c:1"])
    assert up.only is up.endpoints["c:1"]
    assert a.removed


def test_health_changes_take_targets_out_and_back() -> None:
    up = Upstream(["a:1", "b:1"])
    a, b = up.endpoints.values()
    up.set_health(a, down=True, why="test")
    assert up.available == [b]
    assert up.only is b
    up.set_health(b, ejected=True, why="test")
    assert up.available == []
    assert up.pick(None, None) is None
    up.set_health(a, down=False)
    assert up.available == [a]
    assert [t["healthy"] for t in up.targets] == [True, False]


def test_hashing_balancers_hash_the_client_address_by_default() -> None:
    up = Upstream(["a:1", "b:1"], balancer="ring_hash")
    assert up.hash_key is not None
    peer = SimpleNamespace(inbound=SimpleNamespace(remote_address="10.1.2.3"))
    assert up.hash_key(pw.RequestHead("GET", "/"), peer) == b"10.1.2.3"
    assert Upstream(["a:1"]).hash_key is None


def test_outlier_detection_is_on_for_two_or_more_targets() -> None:
    assert Upstream(["a:1"]).outlier is None
    assert Upstream(["a:1", "b:1"]).outlier is not None
    assert Upstream(["a:1", "b:1"], outlier=False).outlier is None
    assert Upstream(["a:1"], outlier=pw.OutlierDetection(consecutive_5xx=2)).outlier is not None


def test_https_targets() -> None:
    up = Upstream(["https://api.test", "https://10.0.0.1:8443", "http://10.0.0.2"])
    eps = list(up.endpoints.values())
    assert [(ep.name, ep.tls, ep.host_field) for ep in eps] == [
        ("api.test:443", True, b"api.test"),
        ("10.0.0.1:8443", True, b"10.0.0.1:8443"),
        ("10.0.0.2:80", False, b"10.0.0.2"),
    ]


def test_parse_target() -> None:
    assert parse_target("http://h:8080/") == ("h", 8080)
    assert parse_target("h") == ("h", 80)
    assert parse_target(("::1", 9)) == ("::1", 9)
    with pytest.raises(TypeError, match="not int"):
        parse_target(80)


def test_health_check_settings() -> None:
    hc = HealthCheck("/healthz", statuses="200-204,301", host="svc.local", headers={"X-Probe": "1"})
    assert hc.statuses == frozenset({200, 201, 202, 203, 204, 301})
    up = Upstream(["10.0.0.1:8080"])
    req = hc.request(up.endpoints["10.0.0.1:8080"])
    assert req.startswith(b"GET /healthz HTTP/1.1\r\nhost: svc.local\r\n")
    assert b"X-Probe: 1\r\n" in req
    assert req.endswith(b"connection: close\r\n\r\n")
    assert HealthCheck(None).path is None  # a TCP check
    for kwargs, message in (
        ({"path": "healthz"}, "must start with /"),
        ({"statuses": "ok"}, "write '200-399'"),
        ({"statuses": [700]}, "HTTP statuses"),
        ({"interval": 0}, "interval"),
        ({"rise": 0}, "rise"),
        ({"jitter": 1.5}, "jitter"),
    ):
        with pytest.raises(ValueError, match=message):
            HealthCheck(**kwargs)  # type: ignore[arg-type]


def test_header_ops_set_add_remove() -> None:
    ops = HeaderOps({"set": {"X-A": "1"}, "add": {"Via": "x"}, "remove": "X-Gone"}, "t")
    fields = [(b"X-A", b"0"), (b"x-gone", b"y"), (b"Via", b"1.1 a")]
    assert ops.apply(fields) == [(b"Via", b"1.1 a"), (b"x-a", b"1"), (b"via", b"x")]
    with pytest.raises(ValueError, match="unknown change 'append'"):
        HeaderOps({"append": {}}, "t")
    with pytest.raises(ValueError, match="not a field value"):
        HeaderOps({"set": {"x": "a\r\nb"}}, "t")
    assert not HeaderOps(None, "t")


def test_split_by_weight_and_by_key() -> None:
    s = Split({"a": 3, "b": 1}, None, None, None)
    s.rng = random.Random(1)
    picks = [s.choose(None, None) for _ in range(4000)]  # type: ignore[arg-type]
    assert 0.7 < picks.count("a") / 4000 < 0.8
    head = pw.RequestHead("GET", "/", raw_headers=[(b"Cookie", b"user=ann")])
    sticky = Split({"a": 1, "b": 1}, "cookie:user", None, None)
    assert len({sticky.choose(head, None) for _ in range(10)}) == 1
    by_value = Split(None, "cookie:user", {"ann": "v2"}, "v1")
    assert by_value.choose(head, None) == "v2"
    assert by_value.choose(pw.RequestHead("GET", "/"), None) == "v1"

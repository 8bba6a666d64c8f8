"""Topic names, filters and matching, with the examples of MQTT 5.0 §4.7 and §4.8.2."""

from __future__ import annotations

import pytest

from pipework.codec.mqtt import split_shared, topic_filter_error, topic_matches, topic_name_error

VALID_NAMES = ["a", "/", "a/b", "/finance", "sport/tennis/player1", "$SYS/broker", "a b", "\ufeff", "é/ü",
               "a" * 65535, "é" * 32767]
INVALID_NAMES = ["", "a/+", "#", "a/#", "+", "a+b", "a\x00b", "a" * 65536, "é" * 32768]
VALID_FILTERS = ["#", "+", "+/+", "/+", "sport/#", "sport/tennis/+", "+/tennis/#", "a//b", "$SYS/#",
                 "$share/g/a/#", "$share/g/+", "$share/g//"]
INVALID_FILTERS = ["", "sport/tennis#", "sport/tennis/#/ranking", "sport+", "a/+b", "##", "a\x00",
                   "$share/", "$share/g", "$share//a", "$share/g+/a", "$share/g#/a", "$share/g/a#"]


@pytest.mark.parametrize("name", VALID_NAMES, ids=lambda n: repr(n)[:20])
def test_valid_names(name: str) -> None:
    assert topic_name_error(name) is None


@pytest.mark.parametrize("name", INVALID_NAMES, ids=lambda n: repr(n)[:20])
def test_invalid_names(name: str) -> None:
    problem = topic_name_error(name)
    assert problem is not None
    assert "[MQTT-" in problem


@pytest.mark.parametrize("topic_filter", VALID_FILTERS)
def test_valid_filters(topic_filter: str) -> None:
    assert topic_filter_error(topic_filter) is None


@pytest.mark.parametrize("topic_filter", INVALID_FILTERS)
def test_invalid_filters(topic_filter: str) -> None:
    assert topic_filter_error(topic_filter) is not None


def test_share_prefix_is_plain_in_3_1_1() -> None:
    assert topic_filter_error("$share/g", shared=False) is None
    assert topic_filter_error("$share//a", shared=False) is None
    assert topic_filter_error("$share/g+/a", shared=False) is not None  # '+' inside a level


def test_split_shared() -> None:
    assert split_shared("$share/grp/a/+/b") == ("grp", "a/+/b")
    assert split_shared("a/b") == (None, "a/b")
    assert split_shared("$sharex/a") == (None, "$sharex/a")


MATCHES = [
    # §4.7.1.2: "sport/tennis/player1/#" matches these three
    ("sport/tennis/player1/#", "sport/tennis/player1", True),
    ("sport/tennis/player1/#", "sport/tennis/player1/ranking", True),
    ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", True),
    ("sport/#", "sport", True),  # "also matches the singular sport"
    ("#", "a/b/c", True),
    ("#", "/", True),
    # §4.7.1.3: "sport/tennis/+" matches "sport/tennis/player1" but not "sport/tennis/player1/ranking"
    ("sport/tennis/+", "sport/tennis/player1", True),
    ("sport/tennis/+", "sport/tennis/player2", True),
    ("sport/tennis/+", "sport/tennis/player1/ranking", False),
    ("sport/tennis/+", "sport/tennis", False),
    ("sport/+", "sport", False),
    ("sport/+", "sport/", True),
    ("+/+", "/finance", True),
    ("/+", "/finance", True),
    ("+", "/finance", False),
    ("+", "finance", True),
    ("+/tennis/#", "sport/tennis/x/y", True),
    ("+/tennis/#", "sport/golf/x", False),
    # §4.7.2: wildcards at the start do not match $-topics [MQTT-4.7.2-1]
    ("#", "$SYS/broker/clients", False),
    ("+/monitor/Clients", "$SYS/monitor/Clients", False),
    ("$SYS/#", "$SYS/monitor/Clients", True),
    ("$SYS/monitor/+", "$SYS/monitor/Clients", True),
    ("a/$b/#", "a/$b/c", True),
    # plain filters compare exactly, without normalisation [MQTT-4.7.3-4]
    ("a/b", "a/b", True),
    ("a/b", "a/b/", False),
    ("A/b", "a/b", False),
    ("a//b", "a//b", True),
    ("a/+/b", "a//b", True),
    # shared subscriptions match what their inner filter matches
    ("$share/g/sport/#", "sport/tennis", True),
    ("$share/g/+", "$SYS", False),
    ("$share/g/a", "a", True),
]


@pytest.mark.parametrize(("topic_filter", "name", "expected"), MATCHES)
def test_topic_matches(topic_filter: str, name: str, expected: bool) -> None:
    assert topic_filter_error(topic_filter) is None
    assert topic_name_error(name) is None
    assert topic_matches(topic_filter, name) is expected

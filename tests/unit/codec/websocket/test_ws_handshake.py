"""The opening handshake: the RFC 6455 1.3/4.1 example, header checks with their HTTP status,
subprotocol choice and Sec-WebSocket-Extensions parsing."""

from __future__ import annotations

import base64

import pytest

from pipework.codec.websocket import (
    HandshakeRequest,
    HandshakeResponse,
    LocalProtocolError,
    RemoteProtocolError,
    accept_key,
    format_extensions,
    header_values,
    make_key,
    parse_extensions,
    parse_subprotocols,
    request_headers,
    response_headers,
    select_subprotocol,
    validate_request,
    validate_response,
)

RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

# RFC 6455 1.2/4.1: the example client handshake.
RFC_REQUEST = [
    ("Host", "server.example.com"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", RFC_KEY),
    ("Origin", "http://example.com"),
    ("Sec-WebSocket-Protocol", "chat, superchat"),
    ("Sec-WebSocket-Version", "13"),
]


def test_accept_key_of_the_rfc() -> None:
    assert accept_key(RFC_KEY) == RFC_ACCEPT
    assert accept_key(RFC_KEY.encode()) == RFC_ACCEPT


def test_make_key_is_16_random_bytes() -> None:
    keys = {make_key() for _ in range(20)}
    assert len(keys) == 20
    assert all(len(base64.b64decode(k, validate=True)) == 16 for k in keys)


def test_rfc_request_validates_and_is_answered() -> None:
    request = validate_request(RFC_REQUEST)
    assert request == HandshakeRequest(RFC_KEY, ["chat", "superchat"], [], "http://example.com")
    chosen = select_subprotocol(request.subprotocols, ["superchat", "chat"])
    assert chosen == "superchat"
    headers = response_headers(request, subprotocol=chosen)
    assert headers == [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                       ("Sec-WebSocket-Accept", RFC_ACCEPT), ("Sec-WebSocket-Protocol", "superchat")]
    assert validate_response(headers, RFC_KEY, subprotocols=["chat", "superchat"]) == \
        HandshakeResponse("superchat", [])


def test_headers_as_bytes_any_case_and_lists() -> None:
    raw = [(n.upper().encode(), v.encode()) for n, v in RFC_REQUEST if n != "Connection"]
    raw += [(b"connection", b"keep-alive, UPGRADE"),
            (b"sec-websocket-extensions", b"permessage-deflate; a=1")]
    request = validate_request(raw)
    assert request.key == RFC_KEY
    assert request.extensions == [("permessage-deflate", [("a", "1")])]
    assert header_values(raw, "HOST") == ["server.example.com"]


def test_our_request_validates() -> None:
    key = make_key()
    headers = request_headers("example.com:8080", key, subprotocols=["mqtt"], extensions="permessage-deflate",
                              origin="https://example.com")
    request = validate_request(headers)
    assert (request.key, request.subprotocols, request.origin) == (key, ["mqtt"], "https://example.com")
    assert request.extensions == [("permessage-deflate", [])]
    answer = response_headers(request, subprotocol="mqtt", extensions="permessage-deflate")
    assert validate_response(answer, key, subprotocols=["mqtt"], extensions=["permessage-deflate"]) == \
        HandshakeResponse("mqtt", [("permessage-deflate", [])])


def without(name: str) -> list[tuple[str, str]]:
    return [(n, v) for n, v in RFC_REQUEST if n != name]


def replaced(name: str, value: str) -> list[tuple[str, str]]:
    return [*without(name), (name, value)]


@pytest.mark.parametrize(("headers", "status", "why"), [
    (without("Host"), 400, "no Host"),
    ([*RFC_REQUEST, ("Host", "other")], 400, "two Hosts"),
    (without("Upgrade"), 400, "no Upgrade"),
    (replaced("Upgrade", "h2c"), 400, "Upgrade to something else"),
    (without("Connection"), 400, "no Connection"),
    (replaced("Connection", "keep-alive"), 400, "Connection without upgrade"),
    (without("Sec-WebSocket-Key"), 400, "no key"),
    ([*RFC_REQUEST, ("Sec-WebSocket-Key", RFC_KEY)], 400, "two keys"),
    (replaced("Sec-WebSocket-Key", "c2hvcnQ="), 400, "a key of 5 bytes"),
    (replaced("Sec-WebSocket-Key", "not base64!!"), 400, "a key not base64"),
    (replaced("Sec-WebSocket-Version", "8"), 426, "version 8"),
    (without("Sec-WebSocket-Version"), 426, "no version"),
    (replaced("Sec-WebSocket-Protocol", "chat, bad proto"), 400, "a subprotocol not a token"),
    ([*RFC_REQUEST, ("Sec-WebSocket-Extensions", "permessage-deflate;")], 400, "extension syntax"),
])
def test_bad_request(headers: list[tuple[str, str]], status: int, why: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        validate_request(headers)
    assert info.value.http_status == status, why


ANSWER = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", RFC_ACCEPT)]


@pytest.mark.parametrize(("headers", "why"), [
    (ANSWER[1:], "no Upgrade"),
    ([ANSWER[0], ANSWER[2]], "no Connection"),
    (ANSWER[:2], "no Sec-WebSocket-Accept"),
    ([*ANSWER[:2], ("Sec-WebSocket-Accept", accept_key(make_key()))], "the wrong accept key"),
    ([*ANSWER, ("Sec-WebSocket-Protocol", "superchat")], "a subprotocol not offered"),
    ([*ANSWER, ("Sec-WebSocket-Protocol", "chat, superchat")], "two subprotocols"),
    ([*ANSWER, ("Sec-WebSocket-Extensions", "x-unknown")], "an extension not offered"),
])
def test_bad_response(headers: list[tuple[str, str]], why: str) -> None:
    with pytest.raises(RemoteProtocolError):
        validate_response(headers, RFC_KEY, subprotocols=["chat"], extensions=["permessage-deflate"])


def test_server_may_not_pick_a_subprotocol_not_offered() -> None:
    request = validate_request(RFC_REQUEST)
    with pytest.raises(LocalProtocolError):
        response_headers(request, subprotocol="mqtt")
    assert select_subprotocol(request.subprotocols, ["mqtt"]) is None
    with pytest.raises(LocalProtocolError):
        request_headers("h", RFC_KEY, subprotocols=["a b"])


@pytest.mark.parametrize(("values", "parsed"), [
    ([], []),
    (["permessage-deflate"], [("permessage-deflate", [])]),
    (["permessage-deflate; client_max_window_bits, permessage-deflate"],
     [("permessage-deflate", [("client_max_window_bits", None)]), ("permessage-deflate", [])]),
    (["a;b=1 ; c = \"2\"", "d"], [("a", [("b", "1"), ("c", "2")]), ("d", [])]),
    (['x; y="a\\bc"'], [("x", [("y", "abc")])]),
    ([" , a ,, b , "], [("a", []), ("b", [])]),
])
def test_parse_extensions(values: list[str], parsed: list[tuple[str, list[tuple[str, str | None]]]]) -> None:
    assert parse_extensions(values) == parsed


@pytest.mark.parametrize("value", ["a;", ";b", "a b", 'a; b="c d"', 'a; b="unterminated', "a; b=", "a; =1",
                                   "a; b=1 c", "(a)"])
def test_malformed_extensions(value: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_extensions([value])
    assert info.value.http_status == 400


def test_format_extensions_round_trips() -> None:
    extensions = [("permessage-deflate",
                   [("server_no_context_takeover", None), ("client_max_window_bits", "10")]),
                  ("x-other", [])]
    text = format_extensions(extensions)
    assert text == "permessage-deflate; server_no_context_takeover; client_max_window_bits=10, x-other"
    assert parse_extensions([text]) == extensions
    with pytest.raises(LocalProtocolError):
        format_extensions([("bad name", [])])
    with pytest.raises(LocalProtocolError):
        format_extensions([("x", [("p", "a b")])])


def test_parse_subprotocols() -> None:
    assert parse_subprotocols(["chat, superchat", "v2.mqtt"]) == ["chat", "superchat", "v2.mqtt"]
    with pytest.raises(RemoteProtocolError):
        parse_subprotocols(["ch@t"])

"""The request heads proxy() and mux_http() send upstream, built by proxy.request_head."""

from __future__ import annotations

import pytest

from pipework.codec.http1 import LocalProtocolError, RequestDecoder, RequestHead
from pipework.filters.proxy import request_head


def parsed(raw: bytes) -> RequestHead:
    dec = RequestDecoder()
    dec.receive_data(raw)
    head = dec.events[0]
    assert isinstance(head, RequestHead)
    return head


def lines(data: bytes) -> list[bytes]:
    assert data.endswith(b"\r\n\r\n")
    return data[:-4].split(b"\r\n")


def test_proxy_head_drops_hop_by_hop_and_adds_forwarding_fields() -> None:
    head = parsed(
        b"GET /a?b=1 HTTP/1.1\r\nHost: site\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n"
        b"Keep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Connection: x\r\nX-Forwarded-For: 10.0.0.1\r\n"
        b"x-forwarded-for: 10.0.0.2\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\n"
        b"Accept: */*\r\n\r\n"
    )
    for trusted in (True, False):
        data, chunked, upgrade = request_head(head, "192.0.2.7", b"", trusted)
        assert (chunked, upgrade) == (False, None)
        assert lines(data) == [
            b"GET /a?b=1 HTTP/1.1",
            b"Host: site",
            b"Accept: */*",
            b"x-forwarded-for: 10.0.0.1, 10.0.0.2, 192.0.2.7",
            b"x-forwarded-proto: http",
            b"x-forwarded-host: site",
            b"via: 1.1 pipework",
        ]


def test_client_head_keeps_its_fields_and_gets_a_host() -> None:
    head = RequestHead("POST", "/up", "1.1", [(b"X-Forwarded-For", b"10.0.0.1"), (b"Connection", b"close")])
    data, chunked, upgrade = request_head(head, None, b"api:8080", False)
    assert chunked
    assert upgrade is None
    assert lines(data) == [
        b"POST /up HTTP/1.1",
        b"host: api:8080",
        b"X-Forwarded-For: 10.0.0.1",
        b"transfer-encoding: chunked",
    ]
    with_length = RequestHead("PUT", "/", "1.1", [(b"Host", b"h"), (b"Content-Length", b"3")])
    assert request_head(with_length, None, b"x", False)[1] is False
    assert request_head(RequestHead("GET", "/"), None, b"x", False)[1] is False


def test_upgrade_pair_passes_only_when_connection_asks_for_it() -> None:
    head = parsed(b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
    data, _, upgrade = request_head(head, "127.0.0.1", b"", True)
    assert upgrade == b"websocket"
    assert lines(data)[-2:] == [b"connection: upgrade", b"upgrade: websocket"]
    bare = parsed(b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n")
    data, _, upgrade = request_head(bare, "127.0.0.1", b"", True)
    assert upgrade is None
    assert b"upgrade" not in data.lower()


def test_chunked_request_body_stays_chunked() -> None:
    head = parsed(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
    data, chunked, _ = request_head(head, "127.0.0.1", b"", True)
    assert chunked
    assert lines(data).count(b"transfer-encoding: chunked") == 1


def test_fields_made_by_a_script_are_checked() -> None:
    head = RequestHead("GET", "/", "1.1", [(b"Host", b"h"), (b"X-Bad", b"a\r\nInjected: 1")])
    with pytest.raises(LocalProtocolError):
        request_head(head, None, b"h", False)

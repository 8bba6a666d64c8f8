"""The `websockets` library's sans-IO protocols as the independent peer, in both roles: its opening
handshake against our header helpers and permessage-deflate negotiation, its frames (compressed,
fragmented, masked) decoded by our Connection, ours decoded by it, and our goodbyes understood."""

from __future__ import annotations

import os
from typing import Any

import pytest

# websockets is optional: without it this module is skipped (an error under PIPEWORK_REQUIRE_ALL=1,
# as for missing system tools, DESIGN.md 7), so its imports come after the check.
if os.environ.get("PIPEWORK_REQUIRE_ALL") != "1":
    pytest.importorskip("websockets.protocol", reason="websockets is the peer: pip install websockets")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame as PeerFrame
from websockets.frames import Opcode as PeerOpcode
from websockets.protocol import OPEN, Protocol, Side
from websockets.server import ServerProtocol
from websockets.streams import StreamReader
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from pipework.codec.websocket import (
    CLOSED,
    NEED_DATA,
    Close,
    CloseCode,
    Connection,
    DeflateOffer,
    DeflateParams,
    Event,
    Frame,
    Message,
    Opcode,
    Ping,
    Pong,
    RemoteProtocolError,
    Role,
    State,
    decode_frame,
    encode_frame,
    make_key,
    negotiate_deflate,
    request_headers,
    response_headers,
    select_subprotocol,
    validate_request,
    validate_response,
)

Headers = list[tuple[str, str]]


def split_http(raw: bytes) -> tuple[str, Headers, bytes]:
    """The start line, the header pairs and what follows the head of an HTTP/1.1 message."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    start, *lines = head.decode("latin-1").split("\r\n")
    return start, [(n, v.strip()) for n, _, v in (line.partition(":") for line in lines)], rest


def join_http(start: str, headers: Headers) -> bytes:
    return (start + "\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers) + "\r\n").encode("latin-1")


def ours_events(conn: Connection, data: bytes) -> list[Event]:
    out: list[Event] = []
    if not data:
        return out  # b"" would mean the end of stream
    conn.receive_data(data)
    while (event := conn.next_event()) is not NEED_DATA:
        assert event is not CLOSED
        out.append(event)
    return out


def peer_events(peer: Protocol, data: bytes) -> list[Event]:
    """What the peer received, as our events: its frames with fragments joined."""
    peer.receive_data(data)
    out: list[Event] = []
    parts: list[bytes] = []
    text = False
    for frame in peer.events_received():
        assert isinstance(frame, PeerFrame)
        if frame.opcode is PeerOpcode.PING:
            out.append(Ping(bytes(frame.data)))
        elif frame.opcode is PeerOpcode.PONG:
            out.append(Pong(bytes(frame.data)))
        elif frame.opcode is PeerOpcode.CLOSE:
            assert peer.close_rcvd is not None
            out.append(Close(peer.close_rcvd.code, peer.close_rcvd.reason))
        else:
            if frame.opcode is not PeerOpcode.CONT:
                text = frame.opcode is PeerOpcode.TEXT
            parts.append(bytes(frame.data))
            if frame.fin:
                data = b"".join(parts)
                out.append(Message(data.decode() if text else data))
                parts = []
    return out


def peer_send(peer: Protocol, event: Event, fragment: int | None = None) -> bytes:
    if isinstance(event, Message):
        data = event.data.encode() if isinstance(event.data, str) else event.data
        first = peer.send_text if isinstance(event.data, str) else peer.send_binary
        if fragment is None or len(data) <= fragment:
            first(data)
        else:
            first(data[:fragment], fin=False)
            for i in range(fragment, len(data), fragment):
                peer.send_continuation(data[i:i + fragment], fin=i + fragment >= len(data))
    elif isinstance(event, Ping):
        peer.send_ping(event.payload)
    elif isinstance(event, Pong):
        peer.send_pong(event.payload)
    else:
        assert isinstance(event, Close)
        peer.send_close(event.code, event.reason)
    return b"".join(peer.data_to_send())


MESSAGES: list[Event] = [
    Message("Hello"), Message("κόσμε " * 500), Message(b"\x00\xff" * 40_000), Message(""), Message(b""),
    Ping(b"are you there"), Pong(b"unsolicited"), Message("{" + '"k": "v", ' * 2000 + "}"),
]


def exchange(ours: Connection, peer: Protocol) -> None:
    """Every message both ways, whole and fragmented, then a closing handshake started by the peer."""
    for fragment in (None, 1000):
        wire = b"".join(peer_send(peer, event, fragment) for event in MESSAGES)
        assert ours_events(ours, wire) == MESSAGES
    assert peer_events(peer, b"".join(ours.send(event) for event in MESSAGES)) == MESSAGES
    # websockets answers our Ping by itself.
    assert ours_events(ours, b"".join(peer.data_to_send())) == [Pong(b"are you there")]
    (close,) = ours_events(ours, peer_send(peer, Close(CloseCode.GOING_AWAY, "bye")))
    assert close == Close(CloseCode.GOING_AWAY, "bye")
    assert isinstance(close, Close)
    assert peer_events(peer, ours.send(close.response())) == [Close(CloseCode.GOING_AWAY, "")]
    assert ours.state is State.CLOSED


CLIENT_OFFERS: list[dict[str, Any] | None] = [
    None,
    {},
    {"server_no_context_takeover": True, "client_no_context_takeover": True},
    {"server_max_window_bits": 10, "client_max_window_bits": 12},
    {"client_max_window_bits": None},
]


@pytest.mark.parametrize("offer", CLIENT_OFFERS,
                         ids=["plain", "deflate", "no-takeover", "windows", "no-cmwb"])
def test_websockets_client_against_our_server(offer: dict[str, Any] | None) -> None:
    extensions = None if offer is None else [ClientPerMessageDeflateFactory(**offer)]
    peer = ClientProtocol(parse_uri("ws://example.com/chat"),
                          subprotocols=[Subprotocol("superchat"), Subprotocol("chat")],
                          extensions=extensions, max_size=None)
    peer.send_request(peer.connect())
    start, headers, rest = split_http(b"".join(peer.data_to_send()))
    assert start == "GET /chat HTTP/1.1"
    assert rest == b""

    request = validate_request(headers)
    chosen = select_subprotocol(request.subprotocols, ["chat"])
    agreed = negotiate_deflate(request.extensions, server_max_window_bits=14)
    assert (agreed is None) is (offer is None)
    answer = response_headers(request, subprotocol=chosen, extensions=agreed[1] if agreed else None)
    peer.receive_data(join_http("HTTP/1.1 101 Switching Protocols", answer))
    assert peer.events_received()
    assert peer.handshake_exc is None
    assert peer.state is OPEN
    assert peer.subprotocol == "chat"
    if agreed is not None:
        (ext,) = peer.extensions
        assert isinstance(ext, PerMessageDeflate)
        params = agreed[0]
        assert (ext.remote_no_context_takeover, ext.local_no_context_takeover) == (
            params.server_no_context_takeover, params.client_no_context_takeover)
        assert (ext.remote_max_window_bits, ext.local_max_window_bits) == (
            params.server_max_window_bits, params.client_max_window_bits)
    exchange(Connection(Role.SERVER, deflate=agreed[0] if agreed else None, max_message_size=1 << 20), peer)


SERVER_CONFIGS: list[dict[str, Any] | None] = [
    None,
    {},
    {"server_no_context_takeover": True, "client_no_context_takeover": True},
    {"server_max_window_bits": 11, "client_max_window_bits": 10},
]


@pytest.mark.parametrize("config", SERVER_CONFIGS, ids=["plain", "deflate", "no-takeover", "windows"])
@pytest.mark.parametrize("offer", [DeflateOffer(),
                                   DeflateOffer(server_max_window_bits=12, client_max_window_bits=13)],
                         ids=["default-offer", "window-offer"])
def test_our_client_against_websockets_server(config: dict[str, Any] | None, offer: DeflateOffer) -> None:
    extensions = None if config is None else [ServerPerMessageDeflateFactory(**config)]
    peer = ServerProtocol(extensions=extensions, subprotocols=[Subprotocol("chat")], max_size=None)
    key = make_key()
    headers = request_headers("example.com", key, subprotocols=["mqtt", "chat"],
                              extensions=offer.header_value(),
                              origin="https://example.com")
    peer.receive_data(join_http("GET /chat HTTP/1.1", headers))
    (request,) = peer.events_received()
    peer.send_response(peer.accept(request))  # type: ignore[arg-type]  # a Request, checked by accept
    assert peer.handshake_exc is None
    start, answer, _ = split_http(b"".join(peer.data_to_send()))
    assert start.startswith("HTTP/1.1 101 ")

    agreed = validate_response(answer, key, subprotocols=["mqtt", "chat"], extensions=["permessage-deflate"])
    assert agreed.subprotocol == "chat"
    params = offer.accept(agreed.extensions[0][1]) if agreed.extensions else None
    assert (params is None) is (config is None)
    if params is not None:
        (ext,) = peer.extensions
        assert isinstance(ext, PerMessageDeflate)
        assert (ext.local_no_context_takeover, ext.remote_no_context_takeover) == (
            params.server_no_context_takeover, params.client_no_context_takeover)
        assert (ext.local_max_window_bits, ext.remote_max_window_bits) == (
            params.server_max_window_bits, params.client_max_window_bits)
    exchange(Connection(Role.CLIENT, deflate=params, fragment_size=4096), peer)


def peer_protocol(side: Side, params: DeflateParams | None) -> Protocol:
    peer = Protocol(side, max_size=None)
    if params is not None:
        p = params
        if side is Side.SERVER:
            peer.extensions = [PerMessageDeflate(p.client_no_context_takeover, p.server_no_context_takeover,
                                                 p.client_max_window_bits, p.server_max_window_bits)]
        else:
            peer.extensions = [PerMessageDeflate(p.server_no_context_takeover, p.client_no_context_takeover,
                                                 p.server_max_window_bits, p.client_max_window_bits)]
    return peer


text = st.text(st.characters(exclude_categories=["Cs"]), max_size=200)
events = st.lists(st.one_of(text.map(Message), st.binary(max_size=2000).map(Message),
                            st.binary(max_size=125).map(Ping), st.binary(max_size=125).map(Pong)), max_size=6)
deflates = st.none() | st.builds(DeflateParams, st.booleans(), st.booleans(), st.integers(9, 15),
                                 st.integers(9, 15))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events, deflates, st.booleans(), st.none() | st.integers(1, 300))
def test_generated_messages_agree_with_websockets(sent: list[Event], params: DeflateParams | None,
                                                  we_are_server: bool, fragment: int | None) -> None:
    ours = Connection(Role.SERVER if we_are_server else Role.CLIENT, deflate=params, fragment_size=fragment)
    peer = peer_protocol(Side.CLIENT if we_are_server else Side.SERVER, params)
    assert ours_events(ours, b"".join(peer_send(peer, e, fragment) for e in sent)) == sent
    assert peer_events(peer, b"".join(ours.send(e) for e in sent)) == sent


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(list(Opcode)), st.binary(max_size=70_000), st.booleans(), st.booleans())
def test_single_frames_agree_with_websockets(opcode: Opcode, payload: bytes, fin: bool, masked: bool) -> None:
    if opcode.is_control:
        payload, fin = payload[:125], True
    peer_wire = PeerFrame(PeerOpcode(opcode), payload, fin).serialize(mask=masked)
    assert decode_frame(peer_wire, mask_required=masked, max_size=1 << 17) == \
        (Frame(opcode, payload, fin), len(peer_wire))
    reader = StreamReader()
    reader.feed_data(encode_frame(Frame(opcode, payload, fin), os.urandom(4) if masked else None))
    parser = PeerFrame.parse(reader.read_exact, mask=masked)
    with pytest.raises(StopIteration) as done:
        next(parser)
    frame = done.value.value
    assert (frame.opcode, bytes(frame.data), frame.fin) == (opcode, payload, fin)


@pytest.mark.parametrize(("bad", "code"), [
    (Message(b"\xff\xfe"), CloseCode.INVALID_PAYLOAD_DATA),
    (Message(b"x" * 5000), CloseCode.MESSAGE_TOO_BIG),
    (Message(b"\x00" * 3_000_000), CloseCode.MESSAGE_TOO_BIG),  # compresses to ~3 KiB: a small bomb
])
def test_websockets_understands_our_goodbye(bad: Message, code: CloseCode) -> None:
    params = DeflateParams()
    peer = peer_protocol(Side.CLIENT, params)
    if isinstance(bad.data, bytes) and bad.data.startswith(b"\xff"):
        peer.send_text(bad.data)  # websockets sends the bytes it is given as a text frame
        wire = b"".join(peer.data_to_send())
    else:
        wire = peer_send(peer, bad)
    ours = Connection(Role.SERVER, deflate=params, max_message_size=4096)
    with pytest.raises(RemoteProtocolError) as info:
        ours_events(ours, wire)
    assert info.value.close_code == code
    (close,) = peer_events(peer, ours.data_to_send())
    assert isinstance(close, Close)
    assert close.code == code

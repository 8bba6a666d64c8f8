"""permessage-deflate: the RFC 7692 section 7 examples fed whole, byte by byte and with trailing bytes;
context takeover; deflate bombs and broken DEFLATE with their close codes; parameter negotiation."""

from __future__ import annotations

import zlib

import pytest

from pipework.codec.websocket import (
    CLOSED,
    NEED_DATA,
    CloseCode,
    Connection,
    DeflateOffer,
    DeflateParams,
    Event,
    Frame,
    LocalProtocolError,
    Message,
    Opcode,
    Ping,
    RemoteProtocolError,
    Role,
    encode_frame,
    negotiate_deflate,
    parse_extensions,
)

KEY = bytes.fromhex("37fa213d")

# RFC 7692 7.2.3: server-to-client frames (unmasked) and the message each sequence decodes to.
RFC_EXAMPLES: list[tuple[str, list[str], list[str]]] = [
    ("7.2.3.1 one frame", ["c1 07 f2 48 cd c9 c9 07 00"], ["Hello"]),
    ("7.2.3.1 fragmented", ["41 03 f2 48 cd", "80 04 c9 c9 07 00"], ["Hello"]),
    ("7.2.3.2 shared window", ["c1 07 f2 48 cd c9 c9 07 00", "c1 05 f2 00 11 00 00"], ["Hello", "Hello"]),
    ("7.2.3.3 stored block", ["c1 0b 00 05 00 fa ff 48 65 6c 6c 6f 00"], ["Hello"]),
    ("7.2.3.4 BFINAL", ["c1 08 f3 48 cd c9 c9 07 00 00"], ["Hello"]),
    ("7.2.3.5 two blocks", ["c1 0d f2 48 05 00 00 00 ff ff ca c9 c9 07 00"], ["Hello"]),
    ("7.2.3.6 empty", ["c1 01 00"], [""]),
]
IDS = [e[0] for e in RFC_EXAMPLES]


def events(conn: Connection, data: bytes, *, byte_by_byte: bool = False) -> list[Event]:
    out: list[Event] = []
    chunks = [data[i:i + 1] for i in range(len(data))] if byte_by_byte else [data]
    for chunk in chunks:
        conn.receive_data(chunk)
        while (event := conn.next_event()) is not NEED_DATA:
            assert event is not CLOSED  # never without the end of stream
            out.append(event)
    return out


def drain(conn: Connection) -> None:
    while conn.next_event() is not NEED_DATA:
        pass


@pytest.mark.parametrize(("name", "frames", "texts"), RFC_EXAMPLES, ids=IDS)
@pytest.mark.parametrize("byte_by_byte", [False, True])
def test_rfc_example_decodes(name: str, frames: list[str], texts: list[str], byte_by_byte: bool) -> None:
    client = Connection(Role.CLIENT, deflate=DeflateParams())
    data = b"".join(bytes.fromhex(f) for f in frames)
    assert events(client, data, byte_by_byte=byte_by_byte) == [Message(t) for t in texts]


@pytest.mark.parametrize(("name", "frames", "texts"), RFC_EXAMPLES, ids=IDS)
def test_rfc_example_with_trailing_bytes(name: str, frames: list[str], texts: list[str]) -> None:
    client = Connection(Role.CLIENT, deflate=DeflateParams())
    data = b"".join(bytes.fromhex(f) for f in frames)
    ping = bytes.fromhex("89 01 70")
    assert events(client, data + ping[:2]) == [Message(t) for t in texts]
    assert events(client, ping[2:]) == [Ping(b"p")]


def test_we_compress_like_the_rfc_examples() -> None:
    server = Connection(Role.SERVER, deflate=DeflateParams())
    assert server.send(Message("Hello")) == bytes.fromhex("c1 07 f2 48 cd c9 c9 07 00")
    assert server.send(Message("Hello")) == bytes.fromhex("c1 05 f2 00 11 00 00")  # 7.2.3.2
    fresh = Connection(Role.SERVER, deflate=DeflateParams(server_no_context_takeover=True))
    hello = bytes.fromhex("c1 07 f2 48 cd c9 c9 07 00")
    assert fresh.send(Message("Hello")) == fresh.send(Message("Hello")) == hello
    assert server.send(Message(b"")) == bytes.fromhex("c2 01 00")  # 7.2.3.6
    fragmented = Connection(Role.SERVER, deflate=DeflateParams(), fragment_size=3)
    # 7.2.3.1's payload, fragmented: RSV1 on the first frame only.
    assert fragmented.send(Message("Hello")) == bytes.fromhex("41 03 f2 48 cd 00 03 c9 c9 07 80 01 00")


def test_control_frames_are_not_compressed() -> None:
    server = Connection(Role.SERVER, deflate=DeflateParams())
    assert server.send(Ping(b"Hello")) == bytes.fromhex("89 05") + b"Hello"


def test_uncompressed_messages_still_pass() -> None:
    client = Connection(Role.CLIENT, deflate=DeflateParams())
    assert events(client, bytes.fromhex("81 05") + b"Hello" + bytes.fromhex("c1 07 f2 48 cd c9 c9 07 00")) \
        == [Message("Hello"), Message("Hello")]


def test_no_context_takeover_resets_the_receiver() -> None:
    client = Connection(Role.CLIENT, deflate=DeflateParams(server_no_context_takeover=True))
    first, second = bytes.fromhex("c1 07 f2 48 cd c9 c9 07 00"), bytes.fromhex("c1 05 f2 00 11 00 00")
    assert events(client, first) == [Message("Hello")]
    client.receive_data(second)  # refers back to a window the server promised not to keep
    with pytest.raises(RemoteProtocolError) as info:
        client.next_event()
    assert info.value.close_code == CloseCode.INVALID_PAYLOAD_DATA


@pytest.mark.parametrize("params", [
    DeflateParams(), DeflateParams(True, True),
    DeflateParams(server_max_window_bits=9, client_max_window_bits=9),
    DeflateParams(client_no_context_takeover=True, server_max_window_bits=12),
])
def test_round_trip_both_ways(params: DeflateParams) -> None:
    client = Connection(Role.CLIENT, deflate=params, fragment_size=100)
    server = Connection(Role.SERVER, deflate=params)
    messages = [Message("Hello " * 50), Message(bytes(range(256)) * 20), Message(""), Message("κόσμε" * 99)]
    wire = b"".join(client.send(m) for m in messages)
    assert events(server, wire) == messages
    assert events(client, b"".join(server.send(m) for m in messages)) == messages


def compressed(data: bytes) -> bytes:
    obj = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = obj.compress(data) + obj.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4]


def test_deflate_bomb_is_refused_with_1009() -> None:
    bomb = compressed(b"\x00" * (16 << 20))  # 16 MiB of zeros in ~16 KiB
    assert len(bomb) < 20_000
    server = Connection(Role.SERVER, deflate=DeflateParams(), max_message_size=1 << 20)
    server.receive_data(encode_frame(Frame(Opcode.BINARY, bomb, rsv1=True), KEY))
    with pytest.raises(RemoteProtocolError) as info:
        server.next_event()
    assert info.value.close_code == CloseCode.MESSAGE_TOO_BIG
    goodbye = server.data_to_send()
    assert goodbye[:4] == b"\x88" + bytes([len(goodbye) - 2]) + b"\x03\xf1"


def test_fragmented_bomb_is_refused_with_1009() -> None:
    bomb = compressed(b"a" * (8 << 20))
    server = Connection(Role.SERVER, deflate=DeflateParams(), max_message_size=1 << 20)
    step = 1000
    frames = [Frame(Opcode.TEXT, bomb[:step], fin=False, rsv1=True)]
    frames += [Frame(Opcode.CONTINUATION, bomb[i:i + step], fin=False) for i in range(step, len(bomb), step)]
    server.receive_data(b"".join(encode_frame(f, KEY) for f in frames))
    with pytest.raises(RemoteProtocolError) as info:
        drain(server)
    assert info.value.close_code == CloseCode.MESSAGE_TOO_BIG


def test_limit_is_exact_after_decompression() -> None:
    data = b"b" * 5000
    for limit, ok in ((5000, True), (4999, False)):
        server = Connection(Role.SERVER, deflate=DeflateParams(), max_message_size=limit)
        server.receive_data(encode_frame(Frame(Opcode.BINARY, compressed(data), rsv1=True), KEY))
        if ok:
            assert server.next_event() == Message(data)
        else:
            with pytest.raises(RemoteProtocolError) as info:
                server.next_event()
            assert info.value.close_code == CloseCode.MESSAGE_TOO_BIG


@pytest.mark.parametrize(("frames", "code", "why"), [
    (["c1 02 ff ff"], CloseCode.INVALID_PAYLOAD_DATA, "not DEFLATE (invalid block type)"),
    (["c1 07 f2 48 cd c9 c9 07 00", "c1 03 f2 00 ff"], CloseCode.INVALID_PAYLOAD_DATA,
     "broken second message"),
    (["c1 02 c3 28"], CloseCode.INVALID_PAYLOAD_DATA, "stored/invalid data"),
    (["c1 08 ca 07 00 11 22 33 44 00"], CloseCode.INVALID_PAYLOAD_DATA, "garbage"),
    (["41 03 f2 48 cd", "c0 04 c9 c9 07 00"], CloseCode.PROTOCOL_ERROR, "RSV1 on a continuation frame"),
    (["c9 00"], CloseCode.PROTOCOL_ERROR, "RSV1 on a Ping"),
    (["c8 02 03 e8"], CloseCode.PROTOCOL_ERROR, "RSV1 on a Close"),
    (["a1 00"], CloseCode.PROTOCOL_ERROR, "RSV2 is not permessage-deflate's"),
])
def test_bad_compressed_frames(frames: list[str], code: CloseCode, why: str) -> None:
    client = Connection(Role.CLIENT, deflate=DeflateParams())
    client.receive_data(b"".join(bytes.fromhex(f) for f in frames))
    with pytest.raises(RemoteProtocolError) as info:
        drain(client)
    assert info.value.close_code == code, why


def test_invalid_utf8_inside_compressed_text_is_1007() -> None:
    client = Connection(Role.CLIENT, deflate=DeflateParams())
    client.receive_data(encode_frame(Frame(Opcode.TEXT, compressed(b"ok \xff"), rsv1=True)))
    with pytest.raises(RemoteProtocolError) as info:
        client.next_event()
    assert info.value.close_code == CloseCode.INVALID_PAYLOAD_DATA


# --- negotiation (RFC 7692 7.1) --------------------------------------------------------------------

def negotiate(header: str, **ours: int | bool) -> tuple[DeflateParams, str] | None:
    return negotiate_deflate(parse_extensions([header]), **ours)  # type: ignore[arg-type]


@pytest.mark.parametrize(("offer", "ours", "params", "response"), [
    ("permessage-deflate", {}, DeflateParams(), "permessage-deflate"),
    ("permessage-deflate; client_max_window_bits", {}, DeflateParams(), "permessage-deflate"),
    ("permessage-deflate; client_max_window_bits", {"client_max_window_bits": 10},
     DeflateParams(client_max_window_bits=10), "permessage-deflate; client_max_window_bits=10"),
    ("permessage-deflate", {"client_max_window_bits": 10},
     DeflateParams(), "permessage-deflate"),  # not offered: may not be named (7.1.2.2)
    ("permessage-deflate; client_max_window_bits=12", {},
     DeflateParams(client_max_window_bits=12), "permessage-deflate; client_max_window_bits=12"),
    ("permessage-deflate; server_max_window_bits=10", {},
     DeflateParams(server_max_window_bits=10), "permessage-deflate; server_max_window_bits=10"),
    ("permessage-deflate; server_max_window_bits=12", {"server_max_window_bits": 11},
     DeflateParams(server_max_window_bits=11), "permessage-deflate; server_max_window_bits=11"),
    ("permessage-deflate", {"server_max_window_bits": 11},
     DeflateParams(server_max_window_bits=11), "permessage-deflate; server_max_window_bits=11"),
    ("permessage-deflate; server_no_context_takeover; client_no_context_takeover", {},
     DeflateParams(True, True), "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
    ("permessage-deflate", {"server_no_context_takeover": True},
     DeflateParams(server_no_context_takeover=True), "permessage-deflate; server_no_context_takeover"),
    ("x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=8, permessage-deflate", {},
     DeflateParams(), "permessage-deflate"),  # 8 bits declined (zlib), the next offer taken
    ('permessage-deflate; client_max_window_bits="9"', {},
     DeflateParams(client_max_window_bits=9), "permessage-deflate; client_max_window_bits=9"),
])
def test_server_negotiation(offer: str, ours: dict[str, int | bool], params: DeflateParams,
                            response: str) -> None:
    assert negotiate(offer, **ours) == (params, response)
    # A client that offered the default accepts the answer and agrees on the same parameters.
    assert DeflateOffer().accept(parse_extensions([response])[0][1]) == params


@pytest.mark.parametrize("offer", [
    "permessage-deflate; unknown_param",
    "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    "permessage-deflate; server_no_context_takeover=1",
    "permessage-deflate; server_max_window_bits",
    "permessage-deflate; server_max_window_bits=7",
    "permessage-deflate; server_max_window_bits=16",
    "permessage-deflate; server_max_window_bits=010",
    "permessage-deflate; client_max_window_bits=abc",
    "permessage-deflate; server_max_window_bits=8",
    "x-other-extension",
])
def test_offers_we_decline(offer: str) -> None:
    assert negotiate(offer) is None


def test_offer_header_value() -> None:
    assert DeflateOffer().header_value() == "permessage-deflate; client_max_window_bits"
    assert DeflateOffer(True, True, 10, 12).header_value() == (
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=10; client_max_window_bits=12")
    with pytest.raises(LocalProtocolError):
        DeflateOffer(client_max_window_bits=8).header_value()  # zlib cannot compress with it
    with pytest.raises(LocalProtocolError):
        DeflateParams(server_max_window_bits=16)


@pytest.mark.parametrize(("offer", "response", "params"), [
    (DeflateOffer(), "", DeflateParams()),
    (DeflateOffer(), "client_max_window_bits=10", DeflateParams(client_max_window_bits=10)),
    (DeflateOffer(), "server_no_context_takeover; client_no_context_takeover", DeflateParams(True, True)),
    (DeflateOffer(server_max_window_bits=10), "server_max_window_bits=9",
     DeflateParams(server_max_window_bits=9)),
    (DeflateOffer(client_no_context_takeover=True), "", DeflateParams(client_no_context_takeover=True)),
])
def test_client_accepts_a_valid_response(offer: DeflateOffer, response: str, params: DeflateParams) -> None:
    ((_, got),) = parse_extensions(["; ".join(filter(None, ["permessage-deflate", response]))])
    assert offer.accept(got) == params


@pytest.mark.parametrize(("offer", "response"), [
    (DeflateOffer(), "unknown"),
    (DeflateOffer(), "client_max_window_bits"),  # a response must give a value
    (DeflateOffer(), "client_max_window_bits=8"),  # zlib cannot honour it
    (DeflateOffer(client_max_window_bits=10), "client_max_window_bits=11"),
    (DeflateOffer(server_max_window_bits=10), "server_max_window_bits=11"),
    (DeflateOffer(server_max_window_bits=10), ""),  # offered, so the server must answer it
    (DeflateOffer(), "server_max_window_bits"),
    (DeflateOffer(server_no_context_takeover=True), ""),
    (DeflateOffer(), "server_no_context_takeover; server_no_context_takeover"),
])
def test_client_refuses_an_invalid_response(offer: DeflateOffer, response: str) -> None:
    ((_, got),) = parse_extensions(["; ".join(filter(None, ["permessage-deflate", response]))])
    with pytest.raises(RemoteProtocolError) as info:
        offer.accept(got)
    assert info.value.http_status == 400

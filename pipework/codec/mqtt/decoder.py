"""The incremental MQTT decoder: bytes in, packets out, in chunks of any size.

Theory of operation: :meth:`Decoder.receive_data` appends to one ``bytearray``; each
:meth:`Decoder.next_event` frames the packet at the read offset, checks its type against the
connection's state, decodes it with :func:`~.decoding.decode_body` and moves the offset past it.
It answers NEED_DATA while a packet is incomplete and CLOSED once the peer's end of stream has
been seen with nothing left over. The buffer is compacted only when fully consumed or when the
consumed prefix is large, so a burst of small packets costs no copying. A packet announcing
more than ``max_packet_size`` bytes is refused as soon as its fixed header is in, before its
body is buffered.

When told who the peer is, the decoder also enforces the order of packets on the connection,
as a table (below): a CONNECT first and only once, only the packet types that side may send,
nothing after a DISCONNECT. Without a protocol level it learns it from the first CONNECT.

On a RemoteProtocolError the decoder enters the ERROR state for good, queues the goodbye the
spec asks for (:meth:`Decoder.data_to_send`) and raises; the caller flushes that and closes.
"""

from __future__ import annotations

from enum import Enum
from typing import Final

from .decoding import check_first_byte, decode_body
from .encoding import encode
from .errors import LocalProtocolError, ReasonCode, RemoteProtocolError, protocol_error
from .packets import VALID_REASON_CODES, ConnAck, Connect, Disconnect, Packet
from .wire import (
    CONNECT_HEAD,
    DEFAULT_MAX_PACKET_SIZE,
    MQTT_3_1_1,
    MQTT_5,
    PROTOCOL_NAME,
    PacketType,
    check_level,
    read_fixed_header,
)


class Sentinel(Enum):
    """What :meth:`Decoder.next_event` returns when it has no packet."""

    NEED_DATA = "NEED_DATA"
    CLOSED = "CLOSED"

    def __repr__(self) -> str:
        return self.value


NEED_DATA: Final = Sentinel.NEED_DATA
CLOSED: Final = Sentinel.CLOSED


class Peer(Enum):
    """Who sends the bytes a decoder reads."""

    CLIENT = "client"
    SERVER = "server"


class State(Enum):
    """Where the peer's stream stands."""

    AWAIT_CONNECT = "AWAIT_CONNECT"
    AWAIT_CONNACK = "AWAIT_CONNACK"
    CONNECTED = "CONNECTED"
    DISCONNECTED = "DISCONNECTED"
    ERROR = "ERROR"


_P = PacketType
_S = State
# A client's stream:                           A server's stream:
#
#   AWAIT_CONNECT --CONNECT--> CONNECTED         AWAIT_CONNACK --AUTH--> AWAIT_CONNACK
#   CONNECTED --PUBLISH, PUBACK, PUBREC,         AWAIT_CONNACK --CONNACK--> CONNECTED
#     PUBREL, PUBCOMP, SUBSCRIBE,                CONNECTED --PUBLISH, PUBACK, PUBREC, PUBREL,
#     UNSUBSCRIBE, PINGREQ, AUTH--> CONNECTED      PUBCOMP, SUBACK, UNSUBACK, PINGRESP,
#   CONNECTED --DISCONNECT--> DISCONNECTED         AUTH--> CONNECTED
#                                                CONNECTED --DISCONNECT--> DISCONNECTED
#
# "the first packet sent from the Client to the Server MUST be a CONNECT packet" [MQTT-3.1.0-1];
# a second CONNECT is a Protocol Error [MQTT-3.1.0-2]; "The Server MUST send a CONNACK with a 0x00
# (Success) Reason Code before sending any Packet other than AUTH" [MQTT-3.2.0-1], and never a
# second one [MQTT-3.2.0-2]; "After sending a DISCONNECT packet the sender MUST NOT send any more
# MQTT Control Packets" [MQTT-3.14.4-1]. A CONNACK refusing the connection also ends the stream:
# the Server "MUST then close the Network Connection" [MQTT-3.2.2-7]. Any (state, packet) pair
# missing from the table is a Protocol Error.
_CLIENT_SENDS: Final = (_P.PUBLISH, _P.PUBACK, _P.PUBREC, _P.PUBREL, _P.PUBCOMP, _P.SUBSCRIBE,
                        _P.UNSUBSCRIBE, _P.PINGREQ, _P.AUTH)
_SERVER_SENDS: Final = (_P.PUBLISH, _P.PUBACK, _P.PUBREC, _P.PUBREL, _P.PUBCOMP, _P.SUBACK,
                        _P.UNSUBACK, _P.PINGRESP, _P.AUTH)
TRANSITIONS: Final[dict[Peer, dict[tuple[State, PacketType], State]]] = {
    Peer.CLIENT: {
        (_S.AWAIT_CONNECT, _P.CONNECT): _S.CONNECTED,
        **{(_S.CONNECTED, p): _S.CONNECTED for p in _CLIENT_SENDS},
        (_S.CONNECTED, _P.DISCONNECT): _S.DISCONNECTED,
    },
    Peer.SERVER: {
        (_S.AWAIT_CONNACK, _P.AUTH): _S.AWAIT_CONNACK,
        (_S.AWAIT_CONNACK, _P.CONNACK): _S.CONNECTED,
        **{(_S.CONNECTED, p): _S.CONNECTED for p in _SERVER_SENDS},
        (_S.CONNECTED, _P.DISCONNECT): _S.DISCONNECTED,
    },
}

# Compact the buffer once this much of it has been consumed (and it is over half the buffer):
# moving the unread tail costs a copy, so it is done rarely, but the consumed prefix must not grow
# with the connection's lifetime.
_COMPACT_AT: Final = 64 * 1024

# MQTT 3.1.1 can only name two CONNECT failures in its CONNACK; on any other it just closes:
# "If none of these return codes are deemed applicable, then the Server MUST close the Network
# Connection without sending a CONNACK" (3.1.1 §3.2.2.3).
_CONNACK_3_1_1: Final = {
    ReasonCode.UNSUPPORTED_PROTOCOL_VERSION: 1, ReasonCode.CLIENT_IDENTIFIER_NOT_VALID: 2,
}


class Decoder:
    """Decodes one direction of an MQTT connection from chunks of bytes.

    ``protocol_level``: 4 (MQTT 3.1.1) or 5; None to learn it from the first packet, which must
    then be a CONNECT. ``peer``: who sends these bytes — Peer.CLIENT (we are the server, or a
    proxy's inbound side) or Peer.SERVER (we are the client; ``protocol_level`` is then
    required) — to enforce the order of packets; None to check packets one by one only (a tap).
    ``max_packet_size``: the largest packet accepted, fixed header included.
    """

    __slots__ = ("_buf", "_eof", "_error", "_level", "_level_hint", "_max", "_peer", "_pos", "_send",
                 "_state", "_table")

    def __init__(self, protocol_level: int | None = None, *, peer: Peer | None = None,
                 max_packet_size: int = DEFAULT_MAX_PACKET_SIZE) -> None:
        if protocol_level is not None:
            check_level(protocol_level)
        elif peer is Peer.SERVER:
            raise LocalProtocolError("a decoder of a server's packets needs the protocol level")
        if max_packet_size < 2:
            raise LocalProtocolError(f"max_packet_size must be at least 2, not {max_packet_size}")
        self._level = protocol_level
        self._level_hint: int | None = None
        self._peer = peer
        self._table = TRANSITIONS[peer] if peer is not None else None
        self._max = max_packet_size
        self._buf = bytearray()
        self._pos = 0
        self._eof = False
        self._send = b""
        self._error: RemoteProtocolError | None = None
        if peer is Peer.SERVER:
            self._state = State.AWAIT_CONNACK
        elif peer is Peer.CLIENT or protocol_level is None:
            self._state = State.AWAIT_CONNECT
        else:
            self._state = State.CONNECTED

    @property
    def protocol_level(self) -> int | None:
        """The level in use: given, or learned from the CONNECT; None before that."""
        return self._level

    @property
    def state(self) -> State:
        return self._state

    @property
    def trailing_data(self) -> tuple[bytes, bool]:
        """The bytes received but not decoded, and whether the end of stream was seen."""
        return bytes(self._buf[self._pos:]), self._eof

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Add bytes from the peer; ``b""`` means the peer closed its end of the stream.

        Raises LocalProtocolError after the end of stream. Call :meth:`next_event` until it
        returns NEED_DATA before receiving more, or the buffer grows without bound.
        """
        if self._eof:
            raise LocalProtocolError("data received after the end of stream")
        if data:
            self._buf += data
        else:
            self._eof = True

    def next_event(self) -> Packet | Sentinel:
        """The next packet, NEED_DATA (feed more bytes) or CLOSED (clean end of stream).

        Raises RemoteProtocolError when the peer broke MQTT, after queueing the goodbye
        :meth:`data_to_send` returns; the decoder then stays in ERROR and raises again.
        """
        if self._error is not None:
            raise self._error
        try:
            return self._next()
        except RemoteProtocolError as exc:
            self._send = self._goodbye(exc)
            self._state = State.ERROR
            self._error = exc
            raise

    def data_to_send(self) -> bytes:
        """Bytes to write to the peer before closing, once: after a RemoteProtocolError, the
        CONNACK or DISCONNECT that tells the peer why (§4.13); b"" when MQTT 3.1.1 has none."""
        data, self._send = self._send, b""
        return data

    def _next(self) -> Packet | Sentinel:
        buf, pos = self._buf, self._pos
        header = read_fixed_header(buf, pos)
        if header is None:
            return self._starved(pos)
        first, length, start = header
        end = start + length
        if end - pos > self._max:
            raise RemoteProtocolError(f"packet of {end - pos} bytes exceeds the limit of {self._max}",
                                      ReasonCode.PACKET_TOO_LARGE)
        ptype = check_first_byte(first, self._level)
        table = self._table
        if table is not None:
            next_state = table.get((self._state, ptype))
            if next_state is None:
                raise protocol_error(f"{ptype.name} from the {self._peer.value if self._peer else ''} "
                                     f"in state {self._state.name} (§3.1.0, §3.2.0, §3.14.4)")
        elif self._state is State.AWAIT_CONNECT:
            if ptype is not PacketType.CONNECT:
                raise protocol_error(f"first packet is {ptype.name}, not CONNECT [MQTT-3.1.0-1]")
            next_state = State.CONNECTED
        else:
            next_state = self._state
        if end > len(buf):
            return self._starved(pos)
        if ptype is PacketType.CONNECT:
            self._level_hint = _connect_level(buf, start, end)
        packet = decode_body(buf, first, start, end, self._level or MQTT_5)
        if type(packet) is Connect:
            self._level = packet.protocol_level
        elif type(packet) is ConnAck and packet.reason_code != 0 and table is not None:
            next_state = State.DISCONNECTED
        self._state = next_state
        if end == len(buf):
            buf.clear()
            self._pos = 0
        elif end > _COMPACT_AT and end * 2 > len(buf):
            del buf[:end]
            self._pos = 0
        else:
            self._pos = end
        return packet

    def _starved(self, pos: int) -> Sentinel:
        if not self._eof:
            return NEED_DATA
        if pos == len(self._buf):
            return CLOSED
        raise RemoteProtocolError(f"stream ended inside a packet ({len(self._buf) - pos} bytes left)",
                                  ReasonCode.MALFORMED_PACKET)

    def _goodbye(self, exc: RemoteProtocolError) -> bytes:
        """What to tell the peer before closing: §4.13 "In the case of an error in a CONNECT
        packet it MAY send a CONNACK packet containing the Reason Code, before closing the
        Network Connection. In the case of an error in any other packet, it SHOULD send a
        DISCONNECT packet containing the Reason Code before closing". (A server that has not yet
        sent its CONNACK must not send a DISCONNECT [MQTT-3.14.0-1]; the decoder cannot know.)"""
        code = exc.reason_code
        if self._state is State.AWAIT_CONNECT:
            level = self._level or self._level_hint
            if level == MQTT_5:
                allowed = code in VALID_REASON_CODES[PacketType.CONNACK]
                return encode(ConnAck(reason_code=code if allowed else ReasonCode.UNSPECIFIED_ERROR), MQTT_5)
            if code in _CONNACK_3_1_1:  # also for levels we do not speak, as 3.1.1 clients understand it
                return encode(ConnAck(reason_code=_CONNACK_3_1_1[code]), MQTT_3_1_1)
            return b""
        if self._level == MQTT_5 and self._state is not State.DISCONNECTED:
            allowed = code in VALID_REASON_CODES[PacketType.DISCONNECT]
            return encode(Disconnect(code if allowed else ReasonCode.UNSPECIFIED_ERROR), MQTT_5)
        return b""


def _connect_level(buf: bytearray, start: int, end: int) -> int | None:
    """The protocol level byte of a CONNECT body, if it says "MQTT" (for the goodbye's format)."""
    if end - start < CONNECT_HEAD.size:
        return None
    name_len, name, level, _, _ = CONNECT_HEAD.unpack_from(buf, start)
    return int(level) if name_len == len(PROTOCOL_NAME) and name == PROTOCOL_NAME else None

"""The MQTT codec's one error family and the reason codes it carries.

Theory of operation: every failure the codec detects is an :class:`MQTTError`. Bytes that break
the spec raise :class:`RemoteProtocolError` (the peer's fault: close the connection, after
flushing the goodbye that :meth:`Decoder.data_to_send` offers); a packet or argument we cannot
encode raises :class:`LocalProtocolError` (our own misuse: a bug in the caller). Each error
carries the MQTT 5.0 Reason Code (§2.4) that names it on the wire — 0x81 Malformed Packet, 0x82
Protocol Error, 0x95 Packet too large and so on — so that an MQTT 5 peer can be told why in a
CONNACK or DISCONNECT. MQTT 3.1.1 has no such codes; there the code only informs the caller.

Normative statement ids quoted in this package (``[MQTT-x.y.z-n]``) are MQTT 5.0's unless
marked 3.1.1; MQTT 3.1.1 states the same rules under other numbers.
"""

from __future__ import annotations

from enum import IntEnum


class ReasonCode(IntEnum):
    """MQTT 5.0 Reason Codes (§2.4, table 2-6). Some values have several names; the first is canonical.

    MQTT 3.1.1 SUBACK return codes (0x00, 0x01, 0x02, 0x80) are the same numbers.
    """

    SUCCESS = 0x00
    NORMAL_DISCONNECTION = 0x00
    GRANTED_QOS_0 = 0x00
    GRANTED_QOS_1 = 0x01
    GRANTED_QOS_2 = 0x02
    DISCONNECT_WITH_WILL_MESSAGE = 0x04
    NO_MATCHING_SUBSCRIBERS = 0x10
    NO_SUBSCRIPTION_EXISTED = 0x11
    CONTINUE_AUTHENTICATION = 0x18
    RE_AUTHENTICATE = 0x19
    UNSPECIFIED_ERROR = 0x80
    MALFORMED_PACKET = 0x81
    PROTOCOL_ERROR = 0x82
    IMPLEMENTATION_SPECIFIC_ERROR = 0x83
    UNSUPPORTED_PROTOCOL_VERSION = 0x84
    CLIENT_IDENTIFIER_NOT_VALID = 0x85
    BAD_USER_NAME_OR_PASSWORD = 0x86
    NOT_AUTHORIZED = 0x87
    SERVER_UNAVAILABLE = 0x88
    SERVER_BUSY = 0x89
    BANNED = 0x8A
    SERVER_SHUTTING_DOWN = 0x8B
    BAD_AUTHENTICATION_METHOD = 0x8C
    KEEP_ALIVE_TIMEOUT = 0x8D
    SESSION_TAKEN_OVER = 0x8E
    TOPIC_FILTER_INVALID = 0x8F
    TOPIC_NAME_INVALID = 0x90
    PACKET_IDENTIFIER_IN_USE = 0x91
    PACKET_IDENTIFIER_NOT_FOUND = 0x92
    RECEIVE_MAXIMUM_EXCEEDED = 0x93
    TOPIC_ALIAS_INVALID = 0x94
    PACKET_TOO_LARGE = 0x95
    MESSAGE_RATE_TOO_HIGH = 0x96
    QUOTA_EXCEEDED = 0x97
    ADMINISTRATIVE_ACTION = 0x98
    PAYLOAD_FORMAT_INVALID = 0x99
    RETAIN_NOT_SUPPORTED = 0x9A
    QOS_NOT_SUPPORTED = 0x9B
    USE_ANOTHER_SERVER = 0x9C
    SERVER_MOVED = 0x9D
    SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = 0x9E
    CONNECTION_RATE_EXCEEDED = 0x9F
    MAXIMUM_CONNECT_TIME = 0xA0
    SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED = 0xA1
    WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED = 0xA2

    @property
    def is_error(self) -> bool:
        """True for failures: §2.4 "Reason Codes of 0x80 or greater indicate failure"."""
        return self.value >= 0x80


class ConnectReturnCode(IntEnum):
    """MQTT 3.1.1 CONNACK return codes (3.1.1 §3.2.2.3); values 6-255 are reserved."""

    ACCEPTED = 0
    UNACCEPTABLE_PROTOCOL_VERSION = 1
    IDENTIFIER_REJECTED = 2
    SERVER_UNAVAILABLE = 3
    BAD_USER_NAME_OR_PASSWORD = 4
    NOT_AUTHORIZED = 5


# Value -> member without the cost of ``ReasonCode(value)`` on the decoding path.
REASON_BY_VALUE: dict[int, ReasonCode] = {int(m): m for m in ReasonCode}  # aliases excluded
CONNECT_RETURN_BY_VALUE: dict[int, ConnectReturnCode] = {int(m): m for m in ConnectReturnCode}


class MQTTError(Exception):
    """Base of the codec's errors.

    ``reason_code`` is the MQTT 5.0 Reason Code that describes the failure on the wire
    (0x81 Malformed Packet unless a more precise code applies). ``str(err)`` says what was
    wrong and, where a MUST was broken, which spec statement.
    """

    reason_code: ReasonCode

    def __init__(self, msg: str, reason_code: ReasonCode = ReasonCode.MALFORMED_PACKET) -> None:
        super().__init__(msg)
        self.reason_code = reason_code

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.args[0]!r}, {self.reason_code.name})"


class LocalProtocolError(MQTTError):
    """We were asked to do something MQTT forbids: encode an invalid packet, misuse the decoder.

    Nothing was written; the connection is as it was. It is a bug in the caller.
    """


class RemoteProtocolError(MQTTError):
    """The peer sent bytes that break MQTT. Send the goodbye the decoder queued, then close."""


def malformed(msg: str) -> RemoteProtocolError:
    """A 0x81 Malformed Packet error: the bytes cannot be parsed as the spec lays them out."""
    return RemoteProtocolError(msg, ReasonCode.MALFORMED_PACKET)


def protocol_error(msg: str) -> RemoteProtocolError:
    """A 0x82 Protocol Error: the bytes parse, but break a rule of the protocol."""
    return RemoteProtocolError(msg, ReasonCode.PROTOCOL_ERROR)

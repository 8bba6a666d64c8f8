"""The record layer up to the end of the ClientHello: :class:`ClientHelloReader`, :func:`peek`.

Theory of operation: a client opens TLS with handshake records (RFC 8446 5.1)::

    struct {
        ContentType type;                  /* handshake(22) */
        ProtocolVersion legacy_record_version;
        uint16 length;                     /* at most 2^14 */
        opaque fragment[TLSPlaintext.length];
    } TLSPlaintext;

whose fragments, joined, carry handshake messages: a type byte (client_hello(1)), a 24-bit
length, the body. The ClientHello may span several records and arrive in reads of any size. The
reader appends what it receives to one buffer, takes each record off as soon as it is whole
(so input fed byte by byte costs no more than input fed whole), checks the handshake header as
soon as its four bytes are in, and parses the body (:mod:`.hello`) once the message is whole.
What it refuses, it refuses at the first byte that proves it wrong: ``GET / HTTP/1.1`` fails on
its ``G``.

The first records must be handshake records and the first message a ClientHello (RFC 8446 5.1:
"Handshake messages MUST NOT be interleaved with other record types"; 4: a message other than the
expected one is an "unexpected_message"). The legacy record version "MUST be ignored for all
purposes" (5.1) except that its major byte must be 3, which is what makes the bytes TLS at all.
SSL 2.0's record format, which some old clients used to send a "compatible" hello, is refused:
RFC 8446 D.5, "Implementations MUST NOT send an SSL version 2.0 compatible CLIENT-HELLO".

Bounds: a record holds at most 2^14 bytes (5.1), and the whole hello at most ``max_size`` bytes
on the wire (:data:`MAX_HELLO_SIZE` by default), refused as soon as its announced length proves
it would pass the limit, before the bytes are buffered.

``raw`` is every byte from the first record header to the end of the record holding the hello's
last byte: whole records, so the proxy forwards exactly what the client sent and the backend's
record layer sees the same boundaries. Bytes after them (a TLS 1.3 client's early data, or a
pipelined next record) are :attr:`ClientHelloReader.trailing_data`.
"""

from __future__ import annotations

import struct
from enum import Enum
from typing import Final

from .errors import Alert, LocalProtocolError, RemoteProtocolError
from .hello import ClientHello, parse_client_hello

HANDSHAKE: Final = 22  # ContentType handshake
ALERT: Final = 21  # ContentType alert
CLIENT_HELLO: Final = 1  # HandshakeType client_hello
#: RFC 8446 5.1: "The length MUST NOT exceed 2^14 bytes."
MAX_RECORD: Final = 2**14
RECORD_HEADER: Final = 5
HANDSHAKE_HEADER: Final = 4
#: The largest hello accepted by default, on the wire: four full records (64 KiB of handshake
#: data), as Go's crypto/tls (maxHandshake, 65536) and Envoy's tls_inspector (64 KiB) allow. Real
#: hellos are 200 to 2,000 bytes (a post-quantum key share adds about 1,200); the headroom is for
#: long PSK identities and many session tickets, and the bound is what a stalled or hostile
#: client can make the proxy hold per connection.
MAX_HELLO_SIZE: Final = 4 * (RECORD_HEADER + MAX_RECORD)

_RECORD: Final = struct.Struct("!BBBH")
_U16: Final = struct.Struct("!H")
_FATAL: Final = 2  # AlertLevel fatal


class Sentinel(Enum):
    NEED_DATA = "NEED_DATA"

    def __repr__(self) -> str:
        return self.value


NEED_DATA: Final = Sentinel.NEED_DATA


def _error(msg: str, alert: Alert = Alert.DECODE_ERROR) -> RemoteProtocolError:
    return RemoteProtocolError(msg, alert)


def peek(data: bytes | bytearray | memoryview) -> bool | None:
    """Whether ``data``, the first bytes of a connection, look like the start of a TLS
    ClientHello: True, False, or None while too few bytes are in to tell (the verdict needs six:
    the record header and the handshake type). A cheap test for protocol detection; True does not
    promise that the hello parses."""
    n = len(data)
    if n == 0:
        return None
    if data[0] != HANDSHAKE or (n > 1 and data[1] != 3) or (n > 2 and data[2] > 4):
        return False
    if n < 6:
        return None
    length = (data[3] << 8) | data[4]
    return 0 < length <= MAX_RECORD and data[5] == CLIENT_HELLO


def encode_alert(alert: Alert) -> bytes:
    """A fatal alert record (RFC 8446 6) to send a TLS client before closing."""
    return _RECORD.pack(ALERT, 3, 3, 2) + bytes((_FATAL, alert))


class ClientHelloReader:
    """Reads the ClientHello that opens a connection, from chunks of any size.

    ``receive_data`` returns the :class:`ClientHello` once it is whole, NEED_DATA before. Then
    the caller forwards ``hello.raw`` and :attr:`trailing_data` and stops using the reader.
    ``max_size`` bounds the hello's bytes on the wire (see :data:`MAX_HELLO_SIZE`).
    """

    __slots__ = ("_buf", "_error", "_hello", "_hs_len", "_max_size", "_msg", "_pos")

    def __init__(self, max_size: int = MAX_HELLO_SIZE) -> None:
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size <= 0:
            raise LocalProtocolError(f"max_size must be a positive number of bytes, not {max_size!r}")
        self._max_size = max_size
        self._buf = bytearray()  # everything received
        self._pos = 0  # where the first record not yet taken off starts
        self._msg = bytearray()  # the handshake bytes of the records taken off
        self._hs_len = -1  # the hello body's announced length, once its header is in
        self._hello: ClientHello | None = None
        self._error: RemoteProtocolError | None = None

    @property
    def hello(self) -> ClientHello | None:
        """The ClientHello, once whole."""
        return self._hello

    @property
    def trailing_data(self) -> bytes:
        """The bytes received after the hello's last record."""
        return bytes(self._buf[self._pos :]) if self._hello is not None else b""

    @property
    def received_data(self) -> bytes:
        """Every byte received so far, for a caller that passes a refused stream on as it came."""
        return bytes(self._buf)

    @property
    def looks_like_tls(self) -> bool:
        """Whether the bytes began as a TLS handshake record: if so, a refusal may be answered
        with :func:`encode_alert`; otherwise the peer speaks something else and gets nothing."""
        return bool(self._buf) and self._buf[0] == HANDSHAKE and (len(self._buf) < 2 or self._buf[1] == 3)

    def receive_data(self, data: bytes | bytearray | memoryview) -> ClientHello | Sentinel:
        """Add bytes (``b""`` means EOF); return the ClientHello once whole, else NEED_DATA.

        Raises RemoteProtocolError (again on every later call) as soon as the bytes cannot start
        an acceptable ClientHello, or at EOF before it is whole; LocalProtocolError for data
        after the hello was returned.
        """
        if self._error is not None:
            raise self._error
        if self._hello is not None:
            raise LocalProtocolError("the ClientHello was already returned: take trailing_data")
        try:
            if not data:
                raise _error(f"the connection closed {len(self._buf)} bytes into the ClientHello")
            self._buf += data
            return self._advance()
        except RemoteProtocolError as exc:
            self._error = exc
            raise

    def next_event(self) -> ClientHello | Sentinel:
        """The ClientHello if it is whole, else NEED_DATA; raises the error that stopped the reader."""
        if self._error is not None:
            raise self._error
        return NEED_DATA if self._hello is None else self._hello

    def _advance(self) -> ClientHello | Sentinel:
        buf = self._buf
        while True:
            pos = self._pos
            have = len(buf) - pos
            if have < RECORD_HEADER:
                self._check_record_start(pos, have)
                return NEED_DATA
            self._check_record_start(pos, RECORD_HEADER)
            length = _U16.unpack_from(buf, pos + 3)[0]
            if length > MAX_RECORD:
                # RFC 8446 5.1: "An endpoint that receives a record that exceeds this length MUST
                # terminate the connection with a "record_overflow" alert."
                raise _error(f"a record of {length} bytes exceeds 2^14", Alert.RECORD_OVERFLOW)
            if length == 0:
                # RFC 8446 5.1: "Implementations MUST NOT send zero-length fragments of Handshake
                # types"
                raise _error("an empty handshake record", Alert.UNEXPECTED_MESSAGE)
            end = pos + RECORD_HEADER + length
            if end > self._max_size:
                raise _error(f"the ClientHello takes more than {self._max_size} bytes",
                             Alert.ILLEGAL_PARAMETER)
            if len(buf) < end:
                if not self._msg:  # the first record: check its message type from its first byte
                    self._check_message_start(buf[pos + RECORD_HEADER : end])
                return NEED_DATA
            self._msg += buf[pos + RECORD_HEADER : end]
            self._pos = end
            hello = self._take_message()
            if hello is not None:
                self._hello = hello
                return hello

    def _check_record_start(self, pos: int, have: int) -> None:
        buf = self._buf
        if have >= 1 and buf[pos] != HANDSHAKE:
            if pos == 0 and buf[0] & 0x80 and (have < 3 or buf[2] == CLIENT_HELLO):
                raise _error("an SSL 2.0 compatible ClientHello (RFC 8446 D.5: MUST NOT be sent)",
                             Alert.PROTOCOL_VERSION)
            what = "a TLS record" if pos == 0 else "a handshake record after the first"
            raise _error(f"{bytes(buf[pos : pos + 8])!r} is not {what}", Alert.UNEXPECTED_MESSAGE)
        if have >= 2 and buf[pos + 1] != 3:
            raise _error(f"record version {buf[pos + 1]}.{buf[pos + 2] if have > 2 else 0} is not TLS",
                         Alert.PROTOCOL_VERSION)

    def _check_message_start(self, head: bytes | bytearray) -> None:
        if head and head[0] != CLIENT_HELLO:
            raise _error(f"handshake message type {head[0]} is not client_hello(1)", Alert.UNEXPECTED_MESSAGE)

    def _take_message(self) -> ClientHello | None:
        msg = self._msg
        if self._hs_len < 0:
            self._check_message_start(msg)
            if len(msg) < HANDSHAKE_HEADER:
                return None
            self._hs_len = int.from_bytes(msg[1:4], "big")
            total = HANDSHAKE_HEADER + self._hs_len
            fewest_records = -(-total // MAX_RECORD)
            if total + RECORD_HEADER * fewest_records > self._max_size:
                raise _error(f"a ClientHello of {total} bytes exceeds the limit of {self._max_size} "
                             "on the wire", Alert.ILLEGAL_PARAMETER)
        total = HANDSHAKE_HEADER + self._hs_len
        if len(msg) < total:
            return None
        if len(msg) > total:
            # RFC 8446 5.1: a ClientHello can immediately precede a key change (0-RTT), and
            # "implementations MUST verify that all messages immediately preceding a key change
            # align with a record boundary; if not, then they MUST terminate the connection with
            # an "unexpected_message" alert."
            raise _error(f"{len(msg) - total} more handshake bytes after the ClientHello in its record",
                         Alert.UNEXPECTED_MESSAGE)
        return parse_client_hello(bytes(msg[HANDSHAKE_HEADER:]), bytes(self._buf[: self._pos]))


def decode(data: bytes | bytearray | memoryview, max_size: int = MAX_HELLO_SIZE) -> ClientHello | None:
    """The ClientHello at the start of ``data``, or None while ``data`` holds a proper prefix of
    one; ``len(hello.raw)`` is where the rest begins. Raises RemoteProtocolError as
    :meth:`ClientHelloReader.receive_data` does."""
    if not data:
        return None
    result = ClientHelloReader(max_size).receive_data(data)
    return result if isinstance(result, ClientHello) else None

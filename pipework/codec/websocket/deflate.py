"""permessage-deflate (RFC 7692): negotiating its parameters and compressing messages with zlib.

Theory of operation: the extension is agreed in the opening handshake. A client sends an offer
(:class:`DeflateOffer`, :meth:`DeflateOffer.header_value`); the server picks the first offer it
can honour (:func:`negotiate_deflate`) and answers with the parameters it accepted; the client
checks that answer against its offer (:meth:`DeflateOffer.accept`). Both ends then hold the same
:class:`DeflateParams` and give it to their :class:`Connection`, which compresses each outgoing
data message and sets RSV1 on its first frame, and decompresses each incoming message whose
first frame has RSV1 (7.2).

A message is compressed as a raw DEFLATE stream flushed with Z_SYNC_FLUSH, whose last four bytes
(0x00 0x00 0xff 0xff) are dropped (7.2.1); the receiver appends them back (7.2.2). Without
"no_context_takeover" both ends keep their LZ77 window from one message to the next. The
decompressor is fed frame by frame and asked for at most one byte more than the message may
still grow by, so a small payload that inflates to gigabytes (a "deflate bomb") is refused with
1009 after at most ``max_message_size + 1`` bytes of output, never buffered whole.

zlib is the only DEFLATE in the standard library and what every other implementation uses. It
refuses a 256-byte window (windowBits 8) when compressing, so we never agree to compress with
one: an offer that demands it is declined, a response that demands it fails the handshake.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from .errors import LocalProtocolError, bad_handshake, invalid_data, too_big

EXTENSION_NAME: Final = "permessage-deflate"
# Sec-WebSocket-Extensions entries as parsed by handshake.parse_extensions: (name, [(param, value)]).
Extension = tuple[str, list[tuple[str, str | None]]]

MIN_WINDOW_BITS: Final = 8  # "a value in the range 8 to 15" (7.1.2.1, 7.1.2.2)
MAX_WINDOW_BITS: Final = 15
_MIN_COMPRESS_BITS: Final = 9  # zlib's deflateInit2 refuses raw windowBits 8
_TAIL: Final = b"\x00\x00\xff\xff"  # the end of an empty stored block: a sync flush marker (7.2.1)
_NAMES: Final = frozenset({"server_no_context_takeover", "client_no_context_takeover",
                           "server_max_window_bits", "client_max_window_bits"})


@dataclass(frozen=True, slots=True)
class DeflateParams:
    """The agreed parameters (RFC 7692 7.1): whether each side resets its LZ77 window after
    every message, and the largest window each side compresses with (8-15 bits)."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = MAX_WINDOW_BITS
    client_max_window_bits: int = MAX_WINDOW_BITS

    def __post_init__(self) -> None:
        for bits in (self.server_max_window_bits, self.client_max_window_bits):
            if not MIN_WINDOW_BITS <= bits <= MAX_WINDOW_BITS:
                raise LocalProtocolError(f"max_window_bits must be 8..15, not {bits} (RFC 7692 7.1.2)")


@dataclass(frozen=True, slots=True)
class DeflateOffer:
    """A client's offer. ``client_max_window_bits``: None offers the bare parameter ("the
    server may choose my window", 7.1.2.2), a number caps our own window; ``server_max_window_bits``:
    None leaves the server's window to it, a number asks for at most that."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = None
    client_max_window_bits: int | None = None

    def header_value(self) -> str:
        """The offer as one element of a Sec-WebSocket-Extensions header."""
        parts = [EXTENSION_NAME]
        if self.server_no_context_takeover:
            parts.append("server_no_context_takeover")
        if self.client_no_context_takeover:
            parts.append("client_no_context_takeover")
        if self.server_max_window_bits is not None:
            parts.append(f"server_max_window_bits={_check_bits(self.server_max_window_bits)}")
        if self.client_max_window_bits is None:
            parts.append("client_max_window_bits")
        else:
            parts.append(f"client_max_window_bits={_check_bits(self.client_max_window_bits, True)}")
        return "; ".join(parts)

    def accept(self, params: Sequence[tuple[str, str | None]]) -> DeflateParams:
        """The agreed parameters from the server's response to this offer (7.1.1-7.1.2).

        Raises RemoteProtocolError (a failed handshake: "the client MUST _Fail the WebSocket
        Connection_") for an unknown, repeated or malformed parameter, a server window larger
        than asked, or a client window not offered, larger than offered or of 8 bits.
        """
        got = _read_params(params)
        if got is None:
            raise bad_handshake(f"invalid {EXTENSION_NAME} response parameters: {list(params)!r} (7.1)")
        server_bits = MAX_WINDOW_BITS
        if "server_max_window_bits" in got:
            value = got["server_max_window_bits"]
            if value is None:
                raise bad_handshake("server_max_window_bits without a value (7.1.2.1)")
            if self.server_max_window_bits is not None and value > self.server_max_window_bits:
                raise bad_handshake(f"server_max_window_bits={value} exceeds the "
                                    f"{self.server_max_window_bits} offered (7.1.2.1)")
            server_bits = value
        elif self.server_max_window_bits is not None:
            raise bad_handshake("server_max_window_bits offered but not accepted (7.1.2.1)")
        if self.server_no_context_takeover and "server_no_context_takeover" not in got:
            raise bad_handshake("server_no_context_takeover offered but not accepted (7.1.1.1)")
        client_bits = MAX_WINDOW_BITS if self.client_max_window_bits is None else self.client_max_window_bits
        if "client_max_window_bits" in got:
            value = got["client_max_window_bits"]
            if value is None:
                raise bad_handshake("client_max_window_bits without a value in a response (7.1.2.2)")
            if value > client_bits:
                raise bad_handshake(f"client_max_window_bits={value} exceeds the {client_bits} we use "
                                    "(7.1.2.2)")
            client_bits = value
        if client_bits < _MIN_COMPRESS_BITS:
            raise bad_handshake("client_max_window_bits=8: zlib cannot compress with a 256-byte window")
        return DeflateParams(
            server_no_context_takeover="server_no_context_takeover" in got,
            client_no_context_takeover=self.client_no_context_takeover or "client_no_context_takeover" in got,
            server_max_window_bits=server_bits, client_max_window_bits=client_bits)


def _check_bits(bits: int, compress: bool = False) -> int:
    low = _MIN_COMPRESS_BITS if compress else MIN_WINDOW_BITS
    if not low <= bits <= MAX_WINDOW_BITS:
        raise LocalProtocolError(f"max_window_bits must be {low}..15, not {bits} (RFC 7692 7.1.2)")
    return bits


def _read_params(params: Sequence[tuple[str, str | None]]) -> dict[str, int | None] | None:
    """The parameters of one offer or response as {name: window bits or None}, or None when
    any is unknown, repeated or has a bad value: all reasons to decline an offer (7.1)."""
    out: dict[str, int | None] = {}
    for name, value in params:
        if name not in _NAMES or name in out:
            return None
        if name.endswith("_no_context_takeover"):
            if value is not None:
                return None
            out[name] = None
        elif value is None:
            out[name] = None  # bare: legal only for client_max_window_bits in an offer
        elif value.isdigit() and value.isascii() and value[0] != "0" and len(value) <= 2 \
                and MIN_WINDOW_BITS <= int(value) <= MAX_WINDOW_BITS:
            out[name] = int(value)
        else:
            return None  # "1*DIGIT ... value in the range 8 to 15 ... without leading zeros" (7.1.2)
    return out


def negotiate_deflate(extensions: Sequence[Extension], *, server_no_context_takeover: bool = False,
                      client_no_context_takeover: bool = False,
                      server_max_window_bits: int = MAX_WINDOW_BITS,
                      client_max_window_bits: int = MAX_WINDOW_BITS) -> tuple[DeflateParams, str] | None:
    """Accept the first permessage-deflate offer in ``extensions`` we can honour (server side).

    The keyword arguments are what this server wants; the offer may only tighten them.
    Returns the agreed parameters and the Sec-WebSocket-Extensions element to answer with, or
    None when there is no acceptable offer (each bad offer is declined, not an error, 7.1).
    """
    _check_bits(server_max_window_bits, True)
    _check_bits(client_max_window_bits)
    for name, params in extensions:
        if name != EXTENSION_NAME:
            continue
        got = _read_params(params)
        if got is None:
            continue
        if "server_max_window_bits" in got:
            asked = got["server_max_window_bits"]
            if asked is None or asked < _MIN_COMPRESS_BITS:
                continue  # no value is malformed; 8 bits we cannot compress with: decline
            server_bits = min(asked, server_max_window_bits)
        else:
            server_bits = server_max_window_bits
        if "client_max_window_bits" in got:
            client_bits = min(got["client_max_window_bits"] or MAX_WINDOW_BITS, client_max_window_bits)
        else:
            client_bits = MAX_WINDOW_BITS  # may not be named in the response (7.1.2.2)
        agreed = DeflateParams(
            server_no_context_takeover=server_no_context_takeover or "server_no_context_takeover" in got,
            client_no_context_takeover=client_no_context_takeover or "client_no_context_takeover" in got,
            server_max_window_bits=server_bits, client_max_window_bits=client_bits)
        parts = [EXTENSION_NAME]
        if agreed.server_no_context_takeover:
            parts.append("server_no_context_takeover")
        if agreed.client_no_context_takeover:
            parts.append("client_no_context_takeover")
        if server_bits < MAX_WINDOW_BITS or "server_max_window_bits" in got:
            parts.append(f"server_max_window_bits={server_bits}")
        if "client_max_window_bits" in got and (client_bits < MAX_WINDOW_BITS
                                                or got["client_max_window_bits"] is not None):
            parts.append(f"client_max_window_bits={client_bits}")
        return agreed, "; ".join(parts)
    return None


def deflate_bound(n: int) -> int:
    """The most bytes zlib's raw DEFLATE can turn ``n`` bytes into (zlib's deflateBound): the
    largest compressed frame an honest peer can send for a message of ``n`` bytes."""
    return n + (n >> 12) + (n >> 14) + (n >> 25) + 13


class Deflater:
    """Compresses whole messages for one direction (RFC 7692 7.2.1)."""

    __slots__ = ("_bits", "_obj", "_reset")

    def __init__(self, max_window_bits: int, no_context_takeover: bool) -> None:
        self._bits = -_check_bits(max_window_bits, True)
        self._reset = no_context_takeover
        self._obj = zlib.compressobj(wbits=self._bits)

    def compress(self, data: bytes) -> bytes:
        """The compressed payload of one message: deflated, sync-flushed, its 4-byte tail removed.

        An empty message becomes the single byte 0x00 (an empty fixed-Huffman block, 7.2.3.6).
        """
        obj = self._obj
        out = obj.compress(data) + obj.flush(zlib.Z_SYNC_FLUSH)
        if self._reset:
            self._obj = zlib.compressobj(wbits=self._bits)
        return out[:-4] if out.endswith(_TAIL) else out


class Inflater:
    """Decompresses messages for one direction, never producing more than a budget (7.2.2)."""

    __slots__ = ("_bits", "_obj", "_reset")

    def __init__(self, max_window_bits: int, no_context_takeover: bool) -> None:
        self._bits = -max_window_bits
        self._reset = no_context_takeover
        self._obj = zlib.decompressobj(wbits=self._bits)

    def feed(self, data: bytes, budget: int, final: bool = False) -> bytes:
        """Decompress one frame's payload; ``final`` for the message's last frame.

        ``budget``: how many bytes the message may still grow by. Raises RemoteProtocolError
        1009 as soon as the output would exceed it, 1007 for data that is not DEFLATE (or that
        reaches back further than the agreed window).
        """
        obj = self._obj
        try:
            # max_length = budget + 1: one byte over is proof enough, and caps the work done.
            out = obj.decompress(data, budget + 1) if data else b""
            if len(out) <= budget and final:
                out += obj.decompress(_TAIL, budget + 1 - len(out))
        except zlib.error as exc:
            msg = f"compressed message is not valid DEFLATE data (RFC 7692 7.2.2): {exc}"
            raise invalid_data(msg) from None
        if len(out) > budget:
            raise too_big(f"decompressed message grows past the size limit ({budget} bytes were left)")
        if final and (self._reset or obj.eof):
            # A stream ended by a BFINAL block (7.2.3.4) cannot go on: start the next one afresh.
            self._obj = zlib.decompressobj(wbits=self._bits)
        return out

"""The SOCKS conversation as a sans-IO state machine, for either side of the connection.

Theory of operation: one :class:`Connection` per TCP connection, created with the role we play.
A proxy accepting SOCKS clients is the SERVER; a proxy reaching an upstream through a SOCKS proxy
is the CLIENT. The conversation is lock-step: one state for both sides, moved on by each message
sent (:meth:`Connection.send` returns its bytes) or received (:meth:`Connection.receive_data`
buffers bytes; :meth:`Connection.next_event` parses the message the peer owes, or returns
NEED_DATA, PAUSED when it is our turn to send, or CLOSED when the conversation is over). The
transitions are the table below; a (state, message) pair missing from it is refused, as
LocalProtocolError when we try to send it and RemoteProtocolError when the peer does.

Policy stays with the caller: a server sees the Greeting and picks a method, sees the
UserPassRequest and judges it, sees the Request and connects, then sends the Reply. Once a
reply grants CONNECT (or the second BIND reply arrives) the state is ESTABLISHED and the codec
only passes bytes (Data events): the I/O layer may then splice the sockets and take
``trailing_data``, the bytes that arrived with or after the handshake, first.

On a RemoteProtocolError a SERVER queues the refusal the protocol has for that point (method
``X'FF'``, auth STATUS 1, a REP or CD failure reply; see :mod:`.errors`) for ``data_to_send``
and enters ERROR; the caller flushes and closes. A CLIENT has nothing to tell a broken server.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Final, NoReturn

from .errors import LocalProtocolError, RemoteProtocolError
from .messages import (
    SOCKS4,
    SOCKS5,
    AuthMethod,
    Command,
    Data,
    Event,
    Greeting,
    Message,
    MethodSelection,
    Reply,
    ReplyCode,
    Request,
    Socks4Code,
    Socks4Reply,
    Socks4Request,
    UserPassReply,
    UserPassRequest,
)
from .wire import (
    Buffer,
    encode,
    parse_greeting,
    parse_method_selection,
    parse_reply,
    parse_request,
    parse_socks4_reply,
    parse_socks4_request,
    parse_userpass_reply,
    parse_userpass_request,
)

#: Unread bytes a connection holds before its handshake is done. Every handshake message fits in
#: 520 octets; the rest is data a client sent optimistically before the reply (a TLS ClientHello,
#: an HTTP request), which we keep until ESTABLISHED. 64 KiB covers that and bounds a peer that
#: streams bytes at a server that has not answered yet.
DEFAULT_MAX_HANDSHAKE_BUFFER: Final = 64 * 1024
#: Methods this codec can carry through: no sub-negotiation, or RFC 1929's. GSSAPI (RFC 1961)
#: wraps the rest of the connection and is not implemented.
SUPPORTED_METHODS: Final = frozenset({AuthMethod.NO_AUTHENTICATION, AuthMethod.USERNAME_PASSWORD})


class Role(Enum):
    CLIENT = "client"
    SERVER = "server"


class State(Enum):
    START = "START"  # the client's first message (Greeting or SOCKS4 request) is next
    AWAIT_METHOD = "AWAIT_METHOD"  # the server's MethodSelection is next
    AWAIT_AUTH = "AWAIT_AUTH"  # the client's UserPassRequest is next
    AWAIT_AUTH_REPLY = "AWAIT_AUTH_REPLY"  # the server's UserPassReply is next
    AWAIT_REQUEST = "AWAIT_REQUEST"  # the client's Request is next
    AWAIT_REPLY = "AWAIT_REPLY"  # the server's reply to CONNECT or UDP ASSOCIATE is next
    AWAIT_BIND_REPLY = "AWAIT_BIND_REPLY"  # the server's first BIND reply (where it listens) is next
    AWAIT_BIND_CONNECTION = "AWAIT_BIND_CONNECTION"  # the second BIND reply (who connected) is next
    ESTABLISHED = "ESTABLISHED"  # the tunnel: Data both ways (for UDP ASSOCIATE, the association)
    REFUSED = "REFUSED"  # the server said no; both sides close
    ERROR = "ERROR"


class Sentinel(Enum):
    """What :meth:`Connection.next_event` returns when it has no event."""

    NEED_DATA = "NEED_DATA"  # the peer owes bytes: receive more
    PAUSED = "PAUSED"  # it is our turn to send
    CLOSED = "CLOSED"  # the conversation is over: the peer closed, or a refusal ended it

    def __repr__(self) -> str:
        return self.value


NEED_DATA: Final = Sentinel.NEED_DATA
PAUSED: Final = Sentinel.PAUSED
CLOSED: Final = Sentinel.CLOSED


class Input(Enum):
    """The messages, as far as the table cares about them."""

    GREETING = "Greeting"
    METHOD_NONE = "MethodSelection(NO AUTHENTICATION)"
    METHOD_USERPASS = "MethodSelection(USERNAME/PASSWORD)"
    METHOD_REFUSED = "MethodSelection(NO ACCEPTABLE METHODS)"
    METHOD_OTHER = "MethodSelection(unsupported method)"
    USERPASS = "UserPassRequest"
    AUTH_OK = "UserPassReply(success)"
    AUTH_FAILED = "UserPassReply(failure)"
    CONNECT = "Request(CONNECT or UDP ASSOCIATE)"
    BIND = "Request(BIND)"
    SOCKS4_CONNECT = "Socks4Request(CONNECT)"
    SOCKS4_BIND = "Socks4Request(BIND)"
    REPLY_OK = "reply(granted)"
    REPLY_FAILED = "reply(failed)"


_S, _I = State, Input
# The conversation (RFC 1928 3, 4, 6; RFC 1929 2; SOCKS4 and SOCKS4a documents):
#
#  SOCKS5:  START --Greeting--> AWAIT_METHOD --MethodSelection(00)--> AWAIT_REQUEST
#                                AWAIT_METHOD --MethodSelection(02)--> AWAIT_AUTH
#                                AWAIT_METHOD --MethodSelection(FF)--> REFUSED
#           AWAIT_AUTH --UserPassRequest--> AWAIT_AUTH_REPLY --UserPassReply(00)--> AWAIT_REQUEST
#                                           AWAIT_AUTH_REPLY --UserPassReply(other)--> REFUSED
#           AWAIT_REQUEST --Request(CONNECT, UDP ASSOCIATE)--> AWAIT_REPLY
#           AWAIT_REQUEST --Request(BIND)--> AWAIT_BIND_REPLY
#  SOCKS4:  START --Socks4Request(CONNECT)--> AWAIT_REPLY
#           START --Socks4Request(BIND)--> AWAIT_BIND_REPLY
#  both:    AWAIT_REPLY --reply(granted)--> ESTABLISHED       any AWAIT_*REPLY --reply(failed)--> REFUSED
#           AWAIT_BIND_REPLY --reply(granted)--> AWAIT_BIND_CONNECTION --reply(granted)--> ESTABLISHED
#
# "If the selected METHOD is X'FF', none of the methods listed by the client are acceptable, and
# the client MUST close the connection" (RFC 1928 3). "If the server returns a `failure' (STATUS
# value other than X'00') status, it MUST close the connection" (RFC 1929 2). "When a reply (REP
# value other than X'00') indicates a failure, the SOCKS server MUST terminate the TCP connection
# shortly after sending the reply" (RFC 1928 6). BIND: "Two replies are sent from the SOCKS server
# to the client during a BIND operation. ... The second reply occurs only after the anticipated
# incoming connection succeeds or fails" (RFC 1928 4); SOCKS4's BIND has the same two replies.
TRANSITIONS: Final[dict[tuple[State, Input], State]] = {
    (_S.START, _I.GREETING): _S.AWAIT_METHOD,
    (_S.START, _I.SOCKS4_CONNECT): _S.AWAIT_REPLY,
    (_S.START, _I.SOCKS4_BIND): _S.AWAIT_BIND_REPLY,
    (_S.AWAIT_METHOD, _I.METHOD_NONE): _S.AWAIT_REQUEST,
    (_S.AWAIT_METHOD, _I.METHOD_USERPASS): _S.AWAIT_AUTH,
    (_S.AWAIT_METHOD, _I.METHOD_REFUSED): _S.REFUSED,
    (_S.AWAIT_AUTH, _I.USERPASS): _S.AWAIT_AUTH_REPLY,
    (_S.AWAIT_AUTH_REPLY, _I.AUTH_OK): _S.AWAIT_REQUEST,
    (_S.AWAIT_AUTH_REPLY, _I.AUTH_FAILED): _S.REFUSED,
    (_S.AWAIT_REQUEST, _I.CONNECT): _S.AWAIT_REPLY,
    (_S.AWAIT_REQUEST, _I.BIND): _S.AWAIT_BIND_REPLY,
    (_S.AWAIT_REPLY, _I.REPLY_OK): _S.ESTABLISHED,
    (_S.AWAIT_REPLY, _I.REPLY_FAILED): _S.REFUSED,
    (_S.AWAIT_BIND_REPLY, _I.REPLY_OK): _S.AWAIT_BIND_CONNECTION,
    (_S.AWAIT_BIND_REPLY, _I.REPLY_FAILED): _S.REFUSED,
    (_S.AWAIT_BIND_CONNECTION, _I.REPLY_OK): _S.ESTABLISHED,
    (_S.AWAIT_BIND_CONNECTION, _I.REPLY_FAILED): _S.REFUSED,
}
_CLIENT_SENDS: Final = frozenset({_I.GREETING, _I.USERPASS, _I.CONNECT, _I.BIND, _I.SOCKS4_CONNECT,
                                  _I.SOCKS4_BIND})
#: Whose turn it is in each state, read off the table.
TURN: Final[dict[State, Role]] = {
    state: Role.CLIENT if inp in _CLIENT_SENDS else Role.SERVER for (state, inp) in TRANSITIONS
}

Parser = Callable[[Buffer, int], tuple[Message, int] | None]
_REPLY_PARSERS: Final[dict[int, Parser]] = {SOCKS5: parse_reply, SOCKS4: parse_socks4_reply}
_PARSERS: Final[dict[State, Parser]] = {
    _S.AWAIT_METHOD: parse_method_selection,
    _S.AWAIT_AUTH: parse_userpass_request,
    _S.AWAIT_AUTH_REPLY: parse_userpass_reply,
    _S.AWAIT_REQUEST: parse_request,
}


_METHOD_INPUTS: Final[dict[int, Input]] = {
    AuthMethod.NO_AUTHENTICATION: _I.METHOD_NONE,
    AuthMethod.USERNAME_PASSWORD: _I.METHOD_USERPASS,
    AuthMethod.NO_ACCEPTABLE_METHODS: _I.METHOD_REFUSED,
}


def _input(message: Message, version: int | None) -> Input:
    if isinstance(message, (Reply, Socks4Reply)):
        if version != (SOCKS5 if isinstance(message, Reply) else SOCKS4):
            raise LocalProtocolError(f"{type(message).__name__} in a SOCKS{version} conversation")
        return _I.REPLY_OK if message.ok else _I.REPLY_FAILED
    if isinstance(message, Greeting):
        return _I.GREETING
    if isinstance(message, MethodSelection):
        return _METHOD_INPUTS.get(message.method, _I.METHOD_OTHER)
    if isinstance(message, UserPassRequest):
        return _I.USERPASS
    if isinstance(message, UserPassReply):
        return _I.AUTH_OK if message.ok else _I.AUTH_FAILED
    if isinstance(message, Request):
        return _I.BIND if message.command == Command.BIND else _I.CONNECT
    if isinstance(message, Socks4Request):
        return _I.SOCKS4_BIND if message.command == Command.BIND else _I.SOCKS4_CONNECT
    raise TypeError(f"not a SOCKS message: {message!r}")


#: The refusal code of each version when the peer's bytes are at fault in no precise way.
_GENERAL_FAILURE: Final[dict[int, int]] = {SOCKS4: Socks4Code.REJECTED, SOCKS5: ReplyCode.GENERAL_FAILURE}


class Connection:
    """One SOCKS conversation, seen from ``role``'s side.

    Attributes set as the conversation goes: ``version`` (4 or 5), ``methods`` (offered by the
    client), ``method`` (selected), ``request`` (the Request or Socks4Request).
    """

    __slots__ = ("_buf", "_eof", "_error", "_max_buffer", "_send", "method", "methods", "request", "role",
                 "state", "version")

    def __init__(self, role: Role, *, max_handshake_buffer: int = DEFAULT_MAX_HANDSHAKE_BUFFER) -> None:
        self.role = role
        self.state = State.START
        self.version: int | None = None
        self.methods: tuple[int, ...] = ()
        self.method: int | None = None
        self.request: Request | Socks4Request | None = None
        self._max_buffer = max_handshake_buffer
        self._buf = bytearray()
        self._eof = False
        self._send = b""
        self._error: RemoteProtocolError | None = None

    @property
    def trailing_data(self) -> tuple[bytes, bool]:
        """Bytes received but not returned as events, and whether the peer's EOF was seen."""
        return bytes(self._buf), self._eof

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Add bytes from the peer; ``b""`` means the peer closed its end.

        Raises LocalProtocolError after EOF or a failure, and RemoteProtocolError (with the
        refusal queued) when the handshake's unread bytes pass ``max_handshake_buffer``.
        """
        if self._eof or self.state is State.ERROR:
            raise LocalProtocolError(f"receive_data after {'EOF' if self._eof else 'a failure'}")
        if not data:
            self._eof = True
            return
        self._buf += data
        if len(self._buf) > self._max_buffer and self.state is not State.ESTABLISHED:
            version = self.version or (self._buf[0] if self._buf[0] in (SOCKS4, SOCKS5) else None)
            code = None if version is None else _GENERAL_FAILURE[version]
            self._fail(RemoteProtocolError(f"more than {self._max_buffer} bytes before the handshake ended",
                                           code, version))

    def next_event(self) -> Event | Sentinel:
        """The peer's next message (or Data once ESTABLISHED), NEED_DATA, PAUSED or CLOSED.

        Raises RemoteProtocolError when the peer broke the protocol (again on every later call).
        """
        if self._error is not None:
            raise self._error
        state = self.state
        if state is State.ESTABLISHED:
            if self._buf:
                data = bytes(self._buf)
                self._buf.clear()
                return Data(data)
            return CLOSED if self._eof else NEED_DATA
        if state is State.REFUSED:
            return CLOSED
        if TURN[state] is self.role:
            return PAUSED
        try:
            parsed = self._parser(state)(self._buf, 0)
            if parsed is None:
                if not self._eof:
                    return NEED_DATA
                if state is State.START and not self._buf:
                    return CLOSED  # the client went away without a word
                raise RemoteProtocolError(f"the peer closed the connection in state {state.name}", None,
                                          self.version)
            message, end = parsed
            self._advance(message, received=True)
        except RemoteProtocolError as exc:
            self._fail(exc)
        del self._buf[:end]
        return message

    def send(self, event: Event) -> bytes:
        """The bytes of ``event``, which we send: moves the conversation on.

        Raises LocalProtocolError if it is not ours to send now (see TRANSITIONS), or for values
        SOCKS cannot carry; the state is then unchanged.
        """
        if self.state is State.ERROR:
            raise LocalProtocolError("send after a failure")
        if isinstance(event, Data):
            if self.state is not State.ESTABLISHED:
                raise LocalProtocolError(f"Data in state {self.state.name}: the handshake is not done")
            return event.data
        data = encode(event)
        self._advance(event, received=False)
        return data

    def data_to_send(self) -> bytes:
        """Bytes to write before closing, once: after a RemoteProtocolError on a server, the
        refusal the protocol has for that point of the conversation; else b""."""
        data, self._send = self._send, b""
        return data

    def _parser(self, state: State) -> Parser:
        if state is State.START:
            first = self._buf[0] if self._buf else None
            if first == SOCKS5:
                return parse_greeting
            if first == SOCKS4:
                return parse_socks4_request
            if first is None:
                return lambda buf, pos: None
            raise RemoteProtocolError(f"version {first} is neither SOCKS4 nor SOCKS5", None, None)
        parser = _PARSERS.get(state)
        return parser if parser is not None else _REPLY_PARSERS[self.version or SOCKS5]

    def _advance(self, message: Message, *, received: bool) -> None:
        sender = (Role.SERVER if self.role is Role.CLIENT else Role.CLIENT) if received else self.role
        error = RemoteProtocolError if received else LocalProtocolError
        version = self.version
        if isinstance(message, Greeting):
            version = SOCKS5
            if not received and not SUPPORTED_METHODS.issuperset(message.methods):
                raise LocalProtocolError(f"methods {message.methods} include one this codec cannot carry "
                                         "through (GSSAPI or private)")
        elif isinstance(message, Socks4Request):
            version = SOCKS4
        inp = _input(message, version)
        if (inp in _CLIENT_SENDS) != (sender is Role.CLIENT):
            raise LocalProtocolError(f"a {sender.value} does not send {inp.value}")
        nxt = TRANSITIONS.get((self.state, inp))
        if nxt is None:
            raise error(f"{inp.value} in state {self.state.name}", None, version)
        if isinstance(message, MethodSelection) and message.ok and message.method not in self.methods:
            # RFC 1928 3: "The server selects from one of the methods given in METHODS".
            raise error(f"method {message.method:#04x} was not offered {self.methods}", None, version)
        self.version = version
        if isinstance(message, Greeting):
            self.methods = message.methods
        elif isinstance(message, MethodSelection):
            self.method = message.method
        elif isinstance(message, (Request, Socks4Request)):
            self.request = message
        self.state = nxt

    def _fail(self, exc: RemoteProtocolError) -> NoReturn:
        if self.role is Role.SERVER and exc.reply_code is not None:
            self._send = _refusal(self.state, exc.version, exc.reply_code)
        self.state = State.ERROR
        self._error = exc
        raise exc


def _refusal(state: State, version: int | None, code: int) -> bytes:
    """The message that refuses the client at ``state``, carrying ``code`` where it fits."""
    if version == SOCKS4:
        return encode(Socks4Reply(Socks4Code.REJECTED))
    if state in (State.START, State.AWAIT_METHOD):
        return encode(MethodSelection(AuthMethod.NO_ACCEPTABLE_METHODS))
    if state in (State.AWAIT_AUTH, State.AWAIT_AUTH_REPLY):
        return encode(UserPassReply(code or 1))
    return encode(Reply(code or ReplyCode.GENERAL_FAILURE))

"""One BGP peering as a sans-IO state machine: events and octets in, commands out.

Theory of operation: a :class:`Session` holds the state of RFC 4271 section 8 for one peer and
one TCP connection. The caller feeds it three kinds of input, each with ``now``, the time on the
caller's own monotonic clock in seconds:

* :meth:`Session.handle` for administrative, timer and TCP events (``Event.MANUAL_START``,
  ``Event.TCP_CR_ACKED``, ``Event.HOLD_TIMER_EXPIRES``...); :meth:`Session.expire` fires the timers
  whose deadlines have passed, so a caller may simply call it at :meth:`Session.next_deadline`;
* :meth:`Session.receive_data` for octets from the peer (``b""`` when it closed its end), which a
  :class:`~.stream.StreamDecoder` turns into message events;
* :meth:`Session.send_update` and :meth:`Session.send_route_refresh` for what we want to say.

Each call looks ``(state, event)`` up in :data:`~.fsm.TRANSITIONS`, carries out the actions
listed there and returns the resulting commands (:mod:`~.fsm`) in order. Timer events whose deadline
the session does not hold (a timer stopped or restarted after the caller armed it) are ignored,
so a late callback cannot end a healthy session.

On a peer's error — a malformed message, a message the state does not expect, an OPEN we
refuse — the session carries out the error transition, queues its commands (the NOTIFICATION,
``CloseConnection``, ``SessionDown``) and raises :class:`~.errors.RemoteProtocolError`; the caller
takes the queued commands with :meth:`Session.commands`, carries them out and closes. Nothing is
lost: commands from messages decoded earlier in the same call are queued before them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from .codec import encode
from .errors import (
    CeaseSubcode,
    ErrorCode,
    FsmSubcode,
    OpenSubcode,
    RemoteProtocolError,
    local_error,
)
from .fsm import (
    MESSAGE_EVENTS,
    TIMER_EVENTS,
    TRANSITIONS,
    AcceptConnection,
    Action,
    CloseConnection,
    Command,
    Event,
    OpenConnection,
    RouteRefreshReceived,
    RoutesReceived,
    SendKeepalive,
    SendNotification,
    SendOpen,
    SendRouteRefresh,
    SendUpdate,
    SessionDown,
    SessionEstablished,
    StartTimer,
    State,
    StopTimer,
    Timer,
)
from .messages import Keepalive, Message, Negotiated, Notification, Open, RouteRefresh, Update, negotiate
from .stream import CLOSED, NEED_DATA, StreamDecoder

#: RFC 4271 10: "ConnectRetryTime is 120 seconds".
DEFAULT_CONNECT_RETRY_TIME: Final = 120.0
#: RFC 4271 8.2.2: after sending OPEN, "sets the HoldTimer to a large value ... A HoldTimer value
#: of 4 minutes is suggested."
DEFAULT_OPEN_HOLD_TIME: Final = 240.0

_ERROR_EVENTS: Final[dict[int, Event]] = {ErrorCode.OPEN_MESSAGE_ERROR: Event.BGP_OPEN_MSG_ERR,
                        ErrorCode.UPDATE_MESSAGE_ERROR: Event.UPDATE_MSG_ERR}
_FSM_SUBCODES: Final = {State.OPEN_SENT: FsmSubcode.UNEXPECTED_MESSAGE_IN_OPENSENT,
                        State.OPEN_CONFIRM: FsmSubcode.UNEXPECTED_MESSAGE_IN_OPENCONFIRM,
                        State.ESTABLISHED: FsmSubcode.UNEXPECTED_MESSAGE_IN_ESTABLISHED}
_CEASE_SUBCODES: Final = {Event.MANUAL_STOP: CeaseSubcode.ADMINISTRATIVE_SHUTDOWN,
                          Event.OPEN_COLLISION_DUMP: CeaseSubcode.CONNECTION_COLLISION_RESOLUTION}


class Session:
    """The FSM of one BGP peering (RFC 4271 8). ``local`` is the OPEN we send; ``peer_as`` the
    AS the peer must announce (None: any). Times are seconds on the caller's clock."""

    __slots__ = ("_connect_retry_time", "_deadlines", "_decoder", "_delete", "_error", "_event", "_message",
                 "_now", "_open_hold_time", "_out", "_proposed", "_raise", "_received", "_sent",
                 "connect_retry_counter", "local", "negotiated", "peer_as", "state")

    def __init__(self, local: Open, *, peer_as: int | None = None,
                 connect_retry_time: float = DEFAULT_CONNECT_RETRY_TIME,
                 open_hold_time: float = DEFAULT_OPEN_HOLD_TIME) -> None:
        if connect_retry_time <= 0 or open_hold_time <= 0:
            raise local_error("connect_retry_time and open_hold_time must be positive")
        encode(local)  # refuse an OPEN we could not send, now rather than at connect time
        self.local = local
        self.peer_as = peer_as
        self.state = State.IDLE
        self.negotiated: Negotiated | None = None
        self.connect_retry_counter = 0
        self._connect_retry_time = connect_retry_time
        self._open_hold_time = open_hold_time
        self._deadlines: dict[Timer, float] = {}
        self._decoder = StreamDecoder()
        self._out: list[Command] = []
        self._now = 0.0
        # The context of the transition being carried out, reset by _clear after each.
        self._event = Event.MANUAL_START
        self._message: Message | None = None
        self._error: RemoteProtocolError | None = None
        self._raise: RemoteProtocolError | None = None
        self._proposed: Negotiated | None = None
        self._sent: Notification | None = None
        self._received: Notification | None = None
        self._delete = False

    # -- inputs -------------------------------------------------------------------------------

    def handle(self, event: Event, now: float) -> list[Command]:
        """Process an administrative, timer or TCP event; returns the commands to carry out.

        Raises LocalProtocolError for a message event (those come from :meth:`receive_data`).
        A timer event for a timer that is not running, or before its deadline, is ignored.
        """
        if event in MESSAGE_EVENTS:
            raise local_error(f"{event.name} comes from the peer's octets: use receive_data")
        for timer, timer_event in TIMER_EVENTS.items():
            if timer_event is event:
                deadline = self._deadlines.get(timer)
                if deadline is None or now < deadline:
                    return self.commands()
                del self._deadlines[timer]
        self._dispatch(event, now)
        return self.commands()

    def expire(self, now: float) -> list[Command]:
        """Fire every timer whose deadline is at or before ``now``, earliest first."""
        while self._deadlines:
            timer, deadline = min(self._deadlines.items(), key=lambda item: item[1])
            if deadline > now:
                break
            del self._deadlines[timer]
            self._dispatch(TIMER_EVENTS[timer], now)
        return self.commands()

    def next_deadline(self) -> float | None:
        """When :meth:`expire` next has work: the earliest running timer's deadline, or None."""
        return min(self._deadlines.values(), default=None)

    @property
    def deadlines(self) -> dict[Timer, float]:
        """The running timers and their deadlines (a copy)."""
        return dict(self._deadlines)

    def receive_data(self, data: bytes | bytearray | memoryview, now: float) -> list[Command]:
        """Process octets from the peer (``b""``: the peer closed the connection).

        Raises RemoteProtocolError when the peer broke BGP, after queueing the commands that
        answer it (:meth:`commands` returns them). Octets arriving in Idle are dropped.
        """
        if self.state is State.IDLE:
            return self.commands()
        if not data:
            self._dispatch(Event.TCP_CONNECTION_FAILS, now)
            return self.commands()
        decoder = self._decoder
        decoder.receive_data(data)
        # The decoder is replaced when the connection is dropped: octets after that are not read.
        while decoder is self._decoder:
            try:
                message = decoder.next_event()
            except RemoteProtocolError as exc:
                self._dispatch(_ERROR_EVENTS.get(exc.code, Event.BGP_HEADER_ERR), now, error=exc)
                raise  # not reached: an error transition raises the error itself
            if message is NEED_DATA or message is CLOSED:  # CLOSED only follows b"", handled above
                break
            self._message_event(message, now)
        return self.commands()

    def receive_message(self, message: Message, now: float) -> list[Command]:
        """Process one message already decoded (as :meth:`receive_data` does for each)."""
        self._message_event(message, now)
        return self.commands()

    def _message_event(self, message: Message, now: float) -> None:
        if isinstance(message, Open):
            event = Event.BGP_OPEN
            if self.state is State.OPEN_SENT:
                try:
                    self._proposed = negotiate(self.local, message, self.peer_as)
                except RemoteProtocolError as exc:
                    self._dispatch(Event.BGP_OPEN_MSG_ERR, now, error=exc)
        elif isinstance(message, Keepalive):
            event = Event.KEEPALIVE_MSG
        elif isinstance(message, Update):
            event = Event.UPDATE_MSG
        elif isinstance(message, RouteRefresh):
            event = Event.ROUTE_REFRESH_MSG
        else:
            self._received = message
            version = (message.code, message.subcode) == (ErrorCode.OPEN_MESSAGE_ERROR,
                                                          OpenSubcode.UNSUPPORTED_VERSION_NUMBER)
            event = Event.NOTIF_MSG_VER_ERR if version else Event.NOTIF_MSG
        self._dispatch(event, now, message=message)

    def send_update(self, update: Update, now: float) -> list[Command]:
        """Commands to send ``update``; raises LocalProtocolError outside Established or for an
        UPDATE the session cannot carry. Restarts the KeepaliveTimer (RFC 4271 8.2.2)."""
        negotiated = self._established("send an UPDATE")
        data = encode(update, four_octet_as=negotiated.four_octet_as)
        self._now = now
        self._out.append(SendUpdate(update, data))
        if negotiated.hold_time:
            self._start(Timer.KEEPALIVE, negotiated.keepalive_time)
        return self.commands()

    def send_route_refresh(self, afi: int, safi: int, now: float) -> list[Command]:
        """Commands to ask the peer to re-send ``(afi, safi)``; LocalProtocolError unless both
        announced Route Refresh (RFC 2918 3) and the family."""
        negotiated = self._established("send a ROUTE-REFRESH")
        if not negotiated.route_refresh or (afi, safi) not in negotiated.families:
            raise local_error(f"ROUTE-REFRESH for {afi}/{safi} was not negotiated (RFC 2918 3)")
        message = RouteRefresh(afi, safi)
        self._out.append(SendRouteRefresh(message, encode(message)))
        return self.commands()

    def commands(self) -> list[Command]:
        """The queued commands, once; after a RemoteProtocolError, the ones that answer it."""
        out, self._out = self._out, []
        return out

    # -- the machine --------------------------------------------------------------------------

    def _established(self, what: str) -> Negotiated:
        if self.state is not State.ESTABLISHED or self.negotiated is None:
            raise local_error(f"cannot {what} in state {self.state.value}")
        return self.negotiated

    def _clear(self) -> None:
        self._message = self._error = self._raise = self._proposed = self._sent = self._received = None
        self._delete = False

    def _dispatch(self, event: Event, now: float, *, message: Message | None = None,
                  error: RemoteProtocolError | None = None) -> None:
        before = self.state
        after, actions = TRANSITIONS[before, event]
        self._now, self._event, self._message, self._error = now, event, message, error
        if error is not None:
            self._raise = error  # a peer's error raises even where the RFC sends no NOTIFICATION
        for action in actions:
            _ACTIONS[action](self)
        self.state = after
        exc = self._raise
        if after is State.IDLE and before is not State.IDLE:
            reason = str(exc) if exc is not None else event.name
            self._out.append(SessionDown(reason, self._sent, self._received, self._delete))
        self._clear()
        if exc is not None:
            raise exc

    def _start(self, timer: Timer, seconds: float) -> None:
        deadline = self._now + seconds
        self._deadlines[timer] = deadline
        self._out.append(StartTimer(timer, deadline))

    def _stop(self, timer: Timer) -> None:
        if self._deadlines.pop(timer, None) is not None:
            self._out.append(StopTimer(timer))

    def _notify(self, notification: Notification) -> None:
        self._sent = notification
        self._out.append(SendNotification(notification, encode(notification)))

    def _send_open(self) -> None:
        self._decoder = StreamDecoder()
        self._out.append(SendOpen(self.local, encode(self.local)))
        self._start(Timer.HOLD, self._open_hold_time)

    def _process_open(self) -> None:
        negotiated = self._proposed
        assert negotiated is not None  # set by receive_message before BGP_OPEN in OpenSent
        self.negotiated = negotiated
        self._decoder.four_octet_as = negotiated.four_octet_as
        self._out.append(SendKeepalive())
        if negotiated.hold_time:
            self._start(Timer.KEEPALIVE, negotiated.keepalive_time)
            self._start(Timer.HOLD, negotiated.hold_time)
        else:  # RFC 4271 4.4: with a Hold Time of zero, no KEEPALIVEs and no HoldTimer
            self._stop(Timer.HOLD)

    def _send_keepalive(self) -> None:
        negotiated = self.negotiated
        if negotiated is None or not negotiated.hold_time:
            return  # "If the negotiated Hold Time interval is zero, then periodic KEEPALIVE
            # messages MUST NOT be sent" (RFC 4271 4.4)
        self._out.append(SendKeepalive())
        self._start(Timer.KEEPALIVE, negotiated.keepalive_time)

    def _restart_hold(self) -> None:
        if self.negotiated is not None and self.negotiated.hold_time:
            self._start(Timer.HOLD, self.negotiated.hold_time)

    def _process_route_refresh(self) -> None:
        message = self._message
        assert isinstance(message, RouteRefresh)
        assert self.negotiated is not None
        # RFC 2918 4: a refresh for a family not advertised "shall" be ignored; RFC 7313 5: so is a
        # subtype other than 0, 1 or 2.
        if (message.afi, message.safi) in self.negotiated.families and message.subtype <= 2:
            self._out.append(RouteRefreshReceived(message))

    def _notify_fsm_error(self) -> None:
        subcode = _FSM_SUBCODES.get(self.state, FsmSubcode.UNSPECIFIED)
        self._notify(Notification(ErrorCode.FSM_ERROR, subcode))
        if self._event in MESSAGE_EVENTS:
            self._raise = RemoteProtocolError(f"{self._event.name} in state {self.state.value} (RFC 6608)",
                                              ErrorCode.FSM_ERROR, subcode)

    def _notify_error(self) -> None:
        assert self._error is not None
        self._notify(Notification.from_error(self._error))

    def _release(self) -> None:
        for timer in Timer:
            self._stop(timer)
        self.negotiated = None
        self._decoder = StreamDecoder()


def _counter(delta: int | None) -> Callable[[Session], None]:
    def run(s: Session) -> None:
        s.connect_retry_counter = 0 if delta is None else s.connect_retry_counter + delta
    return run


def _update(s: Session) -> None:
    assert isinstance(s._message, Update)
    s._out.append(RoutesReceived(s._message))


def _established(s: Session) -> None:
    assert s.negotiated is not None
    s._out.append(SessionEstablished(s.negotiated))


_ACTIONS: Final[dict[Action, Callable[[Session], None]]] = {
    Action.ZERO_COUNTER: _counter(None),
    Action.INCREMENT_COUNTER: _counter(1),
    Action.START_CONNECT_RETRY_TIMER: lambda s: s._start(Timer.CONNECT_RETRY, s._connect_retry_time),
    Action.STOP_CONNECT_RETRY_TIMER: lambda s: s._stop(Timer.CONNECT_RETRY),
    Action.INITIATE_TCP: lambda s: s._out.append(OpenConnection()),
    Action.LISTEN_TCP: lambda s: s._out.append(AcceptConnection()),
    Action.SEND_OPEN: Session._send_open,
    Action.PROCESS_OPEN: Session._process_open,
    Action.SEND_KEEPALIVE: Session._send_keepalive,
    Action.RESTART_HOLD_TIMER: Session._restart_hold,
    Action.ESTABLISH: _established,
    Action.PROCESS_UPDATE: _update,
    Action.PROCESS_ROUTE_REFRESH: Session._process_route_refresh,
    Action.NOTIFY_CEASE: lambda s: s._notify(Notification(ErrorCode.CEASE, _CEASE_SUBCODES.get(s._event, 0))),
    Action.NOTIFY_HOLD_TIMER_EXPIRED: lambda s: s._notify(Notification(ErrorCode.HOLD_TIMER_EXPIRED)),
    Action.NOTIFY_FSM_ERROR: Session._notify_fsm_error,
    Action.NOTIFY_ERROR: Session._notify_error,
    Action.DELETE_ROUTES: lambda s: setattr(s, "_delete", True),
    Action.RELEASE: Session._release,
    Action.DROP_TCP: lambda s: s._out.append(CloseConnection()),
}

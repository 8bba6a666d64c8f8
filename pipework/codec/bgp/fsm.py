"""The BGP session's finite state machine of RFC 4271 section 8, as a table.

Theory of operation: :data:`TRANSITIONS` maps every ``(State, Event)`` pair to the next state and
the actions RFC 4271 8.2.2 lists for it, in the RFC's order and with its words ("sends the
NOTIFICATION with a Cease", "drops the TCP connection", "increments the ConnectRetryCounter by
1"). The table is complete: every event has an entry in every state, so "ignored" is written
down rather than implied. :class:`~.session.Session` looks the pair up and turns each action into
the commands defined at the end of this module, which the caller carries out (send these octets,
start that timer, close the connection).

The optional session attributes of RFC 4271 8.1.1 are all off, which is what the RFC's
mandatory FSM does: no DelayOpen, no passive TCP tracking, no automatic restart, no damping
(events 6, 7, 12, 13, 15 and 20 never occur, and SendNOTIFICATIONwithoutOPEN is FALSE).

Deliberate departures, each a choice every deployed speaker makes:

- A NOTIFICATION received in OpenSent is not answered with an FSM Error NOTIFICATION (RFC 4271
  4.5 says the sender closes the connection right after it; there is nobody to answer).
- A Message Header Error in OpenConfirm or Established sends the Message Header Error NOTIFICATION
  of section 6.1 rather than an FSM Error; an OPEN in those states is an FSM Error with the RFC 6608
  subcode for the state, as is any message the state does not expect.
- A second TCP connection (events 14, 16, 17 in OpenSent and later) belongs to another Session: the
  caller resolves collisions (:func:`~.session.collision_keeps_local`) and sends this session
  OpenCollisionDump when it loses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Final

from .codec import KEEPALIVE_BYTES
from .messages import Negotiated, Notification, Open, RouteRefresh, Update


class State(Enum):
    """The six states of RFC 4271 8.2.2."""

    IDLE = "Idle"
    CONNECT = "Connect"
    ACTIVE = "Active"
    OPEN_SENT = "OpenSent"
    OPEN_CONFIRM = "OpenConfirm"
    ESTABLISHED = "Established"


class Event(IntEnum):
    """FSM events, numbered as in RFC 4271 8.1 (and named after it in upper case).

    Administrative, timer and TCP events come from the caller (:meth:`Session.handle`); message
    events (19 and up) come from received octets (:meth:`Session.receive_data`). ROUTE_REFRESH_MSG
    is not one of RFC 4271's: it is RFC 2918's message, handled like a KEEPALIVE plus delivery.
    """

    MANUAL_START = 1
    MANUAL_STOP = 2
    AUTOMATIC_START = 3
    MANUAL_START_WITH_PASSIVE_TCP_ESTABLISHMENT = 4
    AUTOMATIC_START_WITH_PASSIVE_TCP_ESTABLISHMENT = 5
    AUTOMATIC_STOP = 8
    CONNECT_RETRY_TIMER_EXPIRES = 9
    HOLD_TIMER_EXPIRES = 10
    KEEPALIVE_TIMER_EXPIRES = 11
    TCP_CR_ACKED = 16
    TCP_CONNECTION_CONFIRMED = 17
    TCP_CONNECTION_FAILS = 18
    BGP_OPEN = 19
    BGP_HEADER_ERR = 21
    BGP_OPEN_MSG_ERR = 22
    OPEN_COLLISION_DUMP = 23
    NOTIF_MSG_VER_ERR = 24
    NOTIF_MSG = 25
    KEEPALIVE_MSG = 26
    UPDATE_MSG = 27
    UPDATE_MSG_ERR = 28
    ROUTE_REFRESH_MSG = 101


#: Events that the peer's octets cause; the caller may not feed them to ``Session.handle``.
MESSAGE_EVENTS: Final = frozenset(
    e for e in Event if e >= Event.BGP_OPEN and e is not Event.OPEN_COLLISION_DUMP
)
_STARTS: Final = (
    Event.MANUAL_START,
    Event.AUTOMATIC_START,
    Event.MANUAL_START_WITH_PASSIVE_TCP_ESTABLISHMENT,
    Event.AUTOMATIC_START_WITH_PASSIVE_TCP_ESTABLISHMENT,
)


class Timer(Enum):
    """The session's timers (RFC 4271 10); the caller runs them on its own clock."""

    CONNECT_RETRY = "ConnectRetryTimer"
    HOLD = "HoldTimer"
    KEEPALIVE = "KeepaliveTimer"


#: The event each timer raises when it expires.
TIMER_EVENTS: Final = {
    Timer.CONNECT_RETRY: Event.CONNECT_RETRY_TIMER_EXPIRES,
    Timer.HOLD: Event.HOLD_TIMER_EXPIRES,
    Timer.KEEPALIVE: Event.KEEPALIVE_TIMER_EXPIRES,
}


class Action(Enum):
    """The steps RFC 4271 8.2.2 lists, each carried out by the Session in table order."""

    ZERO_COUNTER = "sets the ConnectRetryCounter to zero"
    INCREMENT_COUNTER = "increments the ConnectRetryCounter by 1"
    START_CONNECT_RETRY_TIMER = "starts the ConnectRetryTimer with the initial value"
    STOP_CONNECT_RETRY_TIMER = "stops the ConnectRetryTimer and sets it to zero"
    INITIATE_TCP = "initiates a TCP connection to the other BGP peer"
    LISTEN_TCP = "listens for a connection that may be initiated by the remote BGP peer"
    SEND_OPEN = "sends an OPEN message to its peer, sets the HoldTimer to a large value"
    PROCESS_OPEN = "sends a KEEPALIVE message, sets the KeepaliveTimer and the HoldTimer"
    SEND_KEEPALIVE = "sends a KEEPALIVE message, restarts the KeepaliveTimer"
    RESTART_HOLD_TIMER = "restarts its HoldTimer, if the negotiated HoldTime value is non-zero"
    ESTABLISH = "the session is up: announce the negotiated parameters"
    PROCESS_UPDATE = "processes the message"
    PROCESS_ROUTE_REFRESH = "re-advertises the Adj-RIB-Out of the AFI/SAFI (RFC 2918 4)"
    NOTIFY_CEASE = "sends the NOTIFICATION with a Cease"
    NOTIFY_HOLD_TIMER_EXPIRED = "sends the NOTIFICATION with the Error Code Hold Timer Expired"
    NOTIFY_FSM_ERROR = "sends the NOTIFICATION with the Error Code Finite State Machine Error"
    NOTIFY_ERROR = "sends a NOTIFICATION message with the appropriate error code"
    DELETE_ROUTES = "deletes all routes associated with this connection"
    RELEASE = "releases all BGP resources"
    DROP_TCP = "drops the TCP connection"


Transition = tuple[State, tuple[Action, ...]]

_S, _E, _A = State, Event, Action
_IGNORE: Final[tuple[Action, ...]] = ()
# "Any other event" in Connect and Active: "sets the ConnectRetryTimer to zero, releases all BGP
# resources, drops the TCP connection, increments the ConnectRetryCounter by 1" (with a NOTIFICATION
# first, the way OpenSent and later states end).
_ABORT: Final = (_A.STOP_CONNECT_RETRY_TIMER, _A.RELEASE, _A.DROP_TCP, _A.INCREMENT_COUNTER)
# The ways OpenSent, OpenConfirm and Established end; Established also deletes the peer's routes.
_CEASE_MANUAL: Final = (_A.NOTIFY_CEASE, *_ABORT[:3], _A.ZERO_COUNTER)
_CEASE: Final = (_A.NOTIFY_CEASE, *_ABORT)
_HOLD_EXPIRED: Final = (_A.NOTIFY_HOLD_TIMER_EXPIRED, *_ABORT)
_ERROR: Final = (_A.NOTIFY_ERROR, *_ABORT)
_FSM_ERROR: Final = (_A.NOTIFY_FSM_ERROR, *_ABORT)
_GONE: Final = _ABORT
_VERSION_GONE: Final = (_A.STOP_CONNECT_RETRY_TIMER, _A.RELEASE, _A.DROP_TCP)
_CONNECTED: Final = (_A.STOP_CONNECT_RETRY_TIMER, _A.SEND_OPEN)


def _with_route_deletion(actions: tuple[Action, ...]) -> tuple[Action, ...]:
    """Established's version of an ending: the same steps, and "deletes all routes associated with
    this connection" right after the NOTIFICATION, if one is sent."""
    head = 1 if actions and actions[0].name.startswith("NOTIFY") else 0
    return (*actions[:head], _A.DELETE_ROUTES, *actions[head:])


def _state(state: State, default: Transition,
           rows: dict[Event, Transition]) -> dict[tuple[State, Event], Transition]:
    """Every event of ``state``: ``rows``, start events ignored (RFC 4271 8.2.2: "the Events
    ManualStart, AutomaticStart ... are ignored" outside Idle), and ``default`` for the rest."""
    table = {(state, event): default for event in Event}
    table.update({(state, event): (state, _IGNORE) for event in _STARTS if state is not _S.IDLE})
    table.update({(state, event): row for event, row in rows.items()})
    return table


# The FSM of RFC 4271 8.2.2 as a diagram (RFC 4271 has none; this one is drawn from its text).
# Every error leads to Idle; ignored events loop in place and are not drawn.
#
#                                 +------+
#         +---------------------->| Idle |<-------------------------------------------+
#         |  ManualStop, errors,  +------+   ManualStart_with_PassiveTcpEstablishment  |
#         |  TcpConnectionFails     |    +---------------------------------+          |
#         |                         | ManualStart                          v          |
#         |  ConnectRetryTimer   +---------+    ConnectRetryTimer    +--------+       |
#         |  _Expires     +----->| Connect |<------_Expires----------| Active |       |
#         |               +------+---------+                         +--------+       |
#         |                         |    Tcp_CR_Acked,                 |     ^          |
#         |                         |    TcpConnectionConfirmed        |     |          |
#         |                         v                                  |     |          |
#         +--------------------+----------+<---------------------------+     |          |
#                              | OpenSent |---TcpConnectionFails-------------+          |
#                              +----------+                                             |
#                                   | BGPOpen: send KEEPALIVE                           |
#                                   v                                                   |
#                            +-------------+   Stop, errors, HoldTimer_Expires,         |
#                            | OpenConfirm |---NotifMsg, TcpConnectionFails-------------+
#                            +-------------+                                            |
#                                   | KeepAliveMsg                                      |
#                                   v                                                   |
#                            +-------------+   the same, and the peer's routes go       |
#                            | Established |--------------------------------------------+
#                            +-------------+
#         KeepaliveTimer_Expires sends a KEEPALIVE in OpenConfirm and Established;
#         KeepAliveMsg and UpdateMsg restart the HoldTimer in Established.
#
# Any (state, event) pair is in the table; the Session treats a missing one as its own bug.
TRANSITIONS: Final[dict[tuple[State, Event], Transition]] = {
    **_state(_S.IDLE, (_S.IDLE, _IGNORE), {
        _E.MANUAL_START: (_S.CONNECT, (_A.ZERO_COUNTER, _A.START_CONNECT_RETRY_TIMER, _A.INITIATE_TCP)),
        _E.AUTOMATIC_START: (_S.CONNECT, (_A.ZERO_COUNTER, _A.START_CONNECT_RETRY_TIMER, _A.INITIATE_TCP)),
        _E.MANUAL_START_WITH_PASSIVE_TCP_ESTABLISHMENT:
            (_S.ACTIVE, (_A.ZERO_COUNTER, _A.START_CONNECT_RETRY_TIMER, _A.LISTEN_TCP)),
        _E.AUTOMATIC_START_WITH_PASSIVE_TCP_ESTABLISHMENT:
            (_S.ACTIVE, (_A.ZERO_COUNTER, _A.START_CONNECT_RETRY_TIMER, _A.LISTEN_TCP)),
    }),
    **_state(_S.CONNECT, (_S.IDLE, _ABORT), {
        _E.MANUAL_STOP: (_S.IDLE, (_A.DROP_TCP, _A.RELEASE, _A.ZERO_COUNTER, _A.STOP_CONNECT_RETRY_TIMER)),
        _E.CONNECT_RETRY_TIMER_EXPIRES:
            (_S.CONNECT, (_A.DROP_TCP, _A.START_CONNECT_RETRY_TIMER, _A.INITIATE_TCP)),
        _E.TCP_CR_ACKED: (_S.OPEN_SENT, _CONNECTED),
        _E.TCP_CONNECTION_CONFIRMED: (_S.OPEN_SENT, _CONNECTED),
        _E.TCP_CONNECTION_FAILS: (_S.IDLE, (_A.STOP_CONNECT_RETRY_TIMER, _A.DROP_TCP, _A.RELEASE)),
        _E.NOTIF_MSG_VER_ERR: (_S.IDLE, _VERSION_GONE),
    }),
    **_state(_S.ACTIVE, (_S.IDLE, _ABORT), {
        _E.MANUAL_STOP: (_S.IDLE, (_A.RELEASE, _A.DROP_TCP, _A.ZERO_COUNTER, _A.STOP_CONNECT_RETRY_TIMER)),
        _E.CONNECT_RETRY_TIMER_EXPIRES: (_S.CONNECT, (_A.START_CONNECT_RETRY_TIMER, _A.INITIATE_TCP)),
        _E.TCP_CR_ACKED: (_S.OPEN_SENT, _CONNECTED),
        _E.TCP_CONNECTION_CONFIRMED: (_S.OPEN_SENT, _CONNECTED),
        _E.TCP_CONNECTION_FAILS: (_S.IDLE, (_A.RELEASE, _A.INCREMENT_COUNTER)),
        _E.NOTIF_MSG_VER_ERR: (_S.IDLE, _VERSION_GONE),
    }),
    **_state(_S.OPEN_SENT, (_S.IDLE, _FSM_ERROR), {
        _E.MANUAL_STOP: (_S.IDLE, _CEASE_MANUAL),
        _E.AUTOMATIC_STOP: (_S.IDLE, _CEASE),
        _E.HOLD_TIMER_EXPIRES: (_S.IDLE, _HOLD_EXPIRED),
        _E.TCP_CR_ACKED: (_S.OPEN_SENT, _IGNORE),
        _E.TCP_CONNECTION_CONFIRMED: (_S.OPEN_SENT, _IGNORE),
        _E.TCP_CONNECTION_FAILS:
            (_S.ACTIVE, (_A.DROP_TCP, _A.RELEASE, _A.START_CONNECT_RETRY_TIMER, _A.LISTEN_TCP)),
        _E.BGP_OPEN: (_S.OPEN_CONFIRM, (_A.STOP_CONNECT_RETRY_TIMER, _A.PROCESS_OPEN)),
        _E.BGP_HEADER_ERR: (_S.IDLE, _ERROR),
        _E.BGP_OPEN_MSG_ERR: (_S.IDLE, _ERROR),
        _E.OPEN_COLLISION_DUMP: (_S.IDLE, _CEASE),
        _E.NOTIF_MSG_VER_ERR: (_S.IDLE, _VERSION_GONE),
        _E.NOTIF_MSG: (_S.IDLE, _GONE),
    }),
    **_state(_S.OPEN_CONFIRM, (_S.IDLE, _FSM_ERROR), {
        _E.MANUAL_STOP: (_S.IDLE, _CEASE_MANUAL),
        _E.AUTOMATIC_STOP: (_S.IDLE, _CEASE),
        _E.HOLD_TIMER_EXPIRES: (_S.IDLE, _HOLD_EXPIRED),
        _E.KEEPALIVE_TIMER_EXPIRES: (_S.OPEN_CONFIRM, (_A.SEND_KEEPALIVE,)),
        _E.TCP_CR_ACKED: (_S.OPEN_CONFIRM, _IGNORE),
        _E.TCP_CONNECTION_CONFIRMED: (_S.OPEN_CONFIRM, _IGNORE),
        _E.TCP_CONNECTION_FAILS: (_S.IDLE, _GONE),
        _E.NOTIF_MSG: (_S.IDLE, _GONE),
        _E.NOTIF_MSG_VER_ERR: (_S.IDLE, _VERSION_GONE),
        _E.BGP_HEADER_ERR: (_S.IDLE, _ERROR),
        _E.BGP_OPEN_MSG_ERR: (_S.IDLE, _ERROR),
        _E.OPEN_COLLISION_DUMP: (_S.IDLE, _CEASE),
        _E.KEEPALIVE_MSG: (_S.ESTABLISHED, (_A.RESTART_HOLD_TIMER, _A.ESTABLISH)),
    }),
    **_state(_S.ESTABLISHED, (_S.IDLE, _with_route_deletion(_FSM_ERROR)), {
        _E.MANUAL_STOP: (_S.IDLE, _with_route_deletion(_CEASE_MANUAL)),
        _E.AUTOMATIC_STOP: (_S.IDLE, _with_route_deletion(_CEASE)),
        _E.HOLD_TIMER_EXPIRES: (_S.IDLE, _with_route_deletion(_HOLD_EXPIRED)),
        _E.KEEPALIVE_TIMER_EXPIRES: (_S.ESTABLISHED, (_A.SEND_KEEPALIVE,)),
        _E.TCP_CR_ACKED: (_S.ESTABLISHED, _IGNORE),
        _E.TCP_CONNECTION_CONFIRMED: (_S.ESTABLISHED, _IGNORE),
        _E.OPEN_COLLISION_DUMP: (_S.IDLE, _with_route_deletion(_CEASE)),
        _E.NOTIF_MSG_VER_ERR: (_S.IDLE, _with_route_deletion(_GONE)),
        _E.NOTIF_MSG: (_S.IDLE, _with_route_deletion(_GONE)),
        _E.TCP_CONNECTION_FAILS: (_S.IDLE, _with_route_deletion(_GONE)),
        _E.KEEPALIVE_MSG: (_S.ESTABLISHED, (_A.RESTART_HOLD_TIMER,)),
        _E.UPDATE_MSG: (_S.ESTABLISHED, (_A.PROCESS_UPDATE, _A.RESTART_HOLD_TIMER)),
        _E.ROUTE_REFRESH_MSG: (_S.ESTABLISHED, (_A.PROCESS_ROUTE_REFRESH, _A.RESTART_HOLD_TIMER)),
        _E.UPDATE_MSG_ERR: (_S.IDLE, _with_route_deletion(_ERROR)),
        _E.BGP_HEADER_ERR: (_S.IDLE, _with_route_deletion(_ERROR)),
    }),
}


# -- commands: what the Session asks its caller to do -------------------------------------------
#
# The Session does no I/O and reads no clock; every call returns a list of these, which the
# caller carries out in order. ``Send*`` commands carry the message and its encoded octets
# (``data``) to write; ``StartTimer``/``StopTimer`` ask the caller to arm or cancel one of its
# timers (a restart is a new ``StartTimer`` with a later deadline, on the same clock as the ``now``
# the caller passes in); ``OpenConnection``/``AcceptConnection``/``CloseConnection`` drive the TCP
# connection. ``SessionEstablished``, ``RoutesReceived``, ``RouteRefreshReceived`` and
# ``SessionDown`` report what happened, for the routing logic above.
#
# ``data`` does not take part in equality, so transcript tests can compare commands by meaning.


@dataclass(frozen=True, slots=True)
class OpenConnection:
    """Initiate the TCP connection to the peer (port 179, RFC 4271 8.2.1); report the outcome
    with ``Event.TCP_CR_ACKED`` or ``Event.TCP_CONNECTION_FAILS``."""


@dataclass(frozen=True, slots=True)
class AcceptConnection:
    """Listen for the peer's TCP connection; report it with ``Event.TCP_CONNECTION_CONFIRMED``."""


@dataclass(frozen=True, slots=True)
class CloseConnection:
    """Drop the TCP connection (after writing what the earlier commands asked to send)."""


@dataclass(frozen=True, slots=True)
class SendOpen:
    message: Open
    data: bytes = field(default=b"", compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SendKeepalive:
    data: bytes = field(default=KEEPALIVE_BYTES, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SendNotification:
    message: Notification
    data: bytes = field(default=b"", compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SendUpdate:
    message: Update
    data: bytes = field(default=b"", compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SendRouteRefresh:
    message: RouteRefresh
    data: bytes = field(default=b"", compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class StartTimer:
    """Arm ``timer`` to fire at ``deadline`` (replacing any earlier deadline of it); when it fires,
    call ``Session.handle`` with its event, or ``Session.expire``."""

    timer: Timer
    deadline: float


@dataclass(frozen=True, slots=True)
class StopTimer:
    timer: Timer


@dataclass(frozen=True, slots=True)
class SessionEstablished:
    """The session reached Established with these parameters; UPDATEs may flow both ways."""

    negotiated: Negotiated


@dataclass(frozen=True, slots=True)
class RoutesReceived:
    """The peer sent this UPDATE (RFC 4271 9: feed it to the Adj-RIB-In)."""

    update: Update


@dataclass(frozen=True, slots=True)
class RouteRefreshReceived:
    """The peer sent a ROUTE-REFRESH for a negotiated family: subtype 0 asks us to re-advertise
    it (RFC 2918 4), 1 and 2 bracket the peer's own refresh (RFC 7313 4)."""

    message: RouteRefresh


@dataclass(frozen=True, slots=True)
class SessionDown:
    """The session went back to Idle. ``reason`` says why; ``sent``/``received`` are the
    NOTIFICATIONs exchanged, if any; ``delete_routes`` is true when it had been Established and
    the routes learned from the peer must go (RFC 4271 8.2.2 "deletes all routes")."""

    reason: str
    sent: Notification | None = None
    received: Notification | None = None
    delete_routes: bool = False


Command = (
    OpenConnection | AcceptConnection | CloseConnection | SendOpen | SendKeepalive | SendNotification
    | SendUpdate | SendRouteRefresh | StartTimer | StopTimer | SessionEstablished | RoutesReceived
    | RouteRefreshReceived | SessionDown
)

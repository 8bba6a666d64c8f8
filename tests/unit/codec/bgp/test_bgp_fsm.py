"""The session FSM: the table's shape, and transcripts of events in and commands out (RFC 4271 8)."""

from __future__ import annotations

from ipaddress import IPv4Address, ip_network

import pytest

from pipework.codec.bgp import (
    AFI,
    IPV4_UNICAST,
    IPV6_UNICAST,
    KEEPALIVE_BYTES,
    SAFI,
    TRANSITIONS,
    AcceptConnection,
    Action,
    AsPath,
    CeaseSubcode,
    CloseConnection,
    Command,
    ErrorCode,
    Event,
    FsmSubcode,
    Keepalive,
    LocalProtocolError,
    NextHop,
    Notification,
    Open,
    OpenConnection,
    OpenSubcode,
    Origin,
    OriginValue,
    RemoteProtocolError,
    RouteRefresh,
    RouteRefreshReceived,
    RoutesReceived,
    SendKeepalive,
    SendNotification,
    SendOpen,
    SendRouteRefresh,
    SendUpdate,
    Session,
    SessionDown,
    SessionEstablished,
    StartTimer,
    State,
    StopTimer,
    Timer,
    Update,
    collision_keeps_local,
    decode,
    encode,
    make_open,
    negotiate,
)

LOCAL = make_open(65001, "10.0.0.1", 90, families=(IPV4_UNICAST, IPV6_UNICAST))
PEER = make_open(65002, "10.0.0.2", 30)
ROUTE = Update((), (Origin(OriginValue.IGP), AsPath.sequence(65002), NextHop(IPv4Address("192.0.2.2"))),
               (ip_network("203.0.113.0/24"),))
CR, HOLD, KA = Timer.CONNECT_RETRY, Timer.HOLD, Timer.KEEPALIVE


def state_of(session: Session) -> State:
    """The session's state, read through a call so that mypy does not keep an earlier narrowing."""
    return session.state


def established(peer: Open = PEER) -> Session:
    """A session driven to Established at t=3: OPEN sent at 1, the peer's OPEN at 2, KEEPALIVE at 3."""
    s = Session(LOCAL, peer_as=peer.asn)
    s.handle(Event.MANUAL_START, 0)
    s.handle(Event.TCP_CR_ACKED, 1)
    s.receive_data(encode(peer), 2)
    s.receive_data(KEEPALIVE_BYTES, 3)
    assert state_of(s) is State.ESTABLISHED
    return s


def test_table_is_complete() -> None:
    assert set(TRANSITIONS) == {(s, e) for s in State for e in Event}


@pytest.mark.parametrize("state", [s for s in State if s is not State.IDLE])
def test_start_events_are_ignored_outside_idle(state: State) -> None:
    for event in (Event.MANUAL_START, Event.AUTOMATIC_START,
                  Event.MANUAL_START_WITH_PASSIVE_TCP_ESTABLISHMENT):
        assert TRANSITIONS[state, event] == (state, ())


def test_idle_ignores_everything_but_starts() -> None:
    moving = {e for e in Event if TRANSITIONS[State.IDLE, e] != (State.IDLE, ())}
    assert moving == {Event.MANUAL_START, Event.AUTOMATIC_START,
                      Event.MANUAL_START_WITH_PASSIVE_TCP_ESTABLISHMENT,
                      Event.AUTOMATIC_START_WITH_PASSIVE_TCP_ESTABLISHMENT}


def test_every_way_to_idle_releases_and_only_established_deletes_routes() -> None:
    for (state, _event), (after, actions) in TRANSITIONS.items():
        if after is State.IDLE and state is not State.IDLE:
            assert Action.RELEASE in actions
        assert (Action.DELETE_ROUTES in actions) == (state is State.ESTABLISHED and after is State.IDLE)
        sends = [a for a in actions if a.name.startswith("NOTIFY")]
        assert len(sends) <= 1
        if sends:
            assert actions[0] is sends[0]  # the NOTIFICATION goes out before the connection is dropped


def test_normal_session_transcript() -> None:
    s = Session(LOCAL, peer_as=65002)
    assert s.handle(Event.MANUAL_START, 0) == [StartTimer(CR, 120), OpenConnection()]
    assert state_of(s) is State.CONNECT
    out = s.handle(Event.TCP_CR_ACKED, 1)
    assert out == [StopTimer(CR), SendOpen(LOCAL), StartTimer(HOLD, 241)]
    assert decode(out[1].data) == (LOCAL, len(out[1].data))  # type: ignore[union-attr]
    assert state_of(s) is State.OPEN_SENT
    # The peer's OPEN: hold time min(90, 30) = 30, keepalives every 10 s.
    assert s.receive_data(encode(PEER), 2) == [SendKeepalive(), StartTimer(KA, 12), StartTimer(HOLD, 32)]
    assert state_of(s) is State.OPEN_CONFIRM
    negotiated = s.negotiated
    assert negotiated is not None
    assert (negotiated.hold_time, negotiated.keepalive_time, negotiated.peer_as) == (30, 10, 65002)
    assert negotiated.families == {IPV4_UNICAST}  # capabilities intersected
    assert negotiated.route_refresh
    assert negotiated.four_octet_as
    assert not negotiated.internal
    assert s.receive_data(KEEPALIVE_BYTES, 3) == [StartTimer(HOLD, 33), SessionEstablished(negotiated)]
    assert state_of(s) is State.ESTABLISHED
    assert s.receive_data(encode(ROUTE), 4) == [RoutesReceived(ROUTE), StartTimer(HOLD, 34)]
    assert s.next_deadline() == 12
    assert s.expire(12) == [SendKeepalive(), StartTimer(KA, 22)]
    assert s.send_update(ROUTE, 15) == [SendUpdate(ROUTE), StartTimer(KA, 25)]  # sending restarts it
    assert s.deadlines == {KA: 25, HOLD: 34}
    assert s.handle(Event.MANUAL_STOP, 20) == [
        SendNotification(Notification(ErrorCode.CEASE, CeaseSubcode.ADMINISTRATIVE_SHUTDOWN)),
        StopTimer(HOLD), StopTimer(KA), CloseConnection(),
        SessionDown("MANUAL_STOP", sent=Notification(6, 2), delete_routes=True),
    ]
    assert state_of(s) is State.IDLE
    assert (s.negotiated, s.deadlines, s.next_deadline()) == (None, {}, None)


def test_hold_timer_expiry() -> None:
    s = established()
    assert s.handle(Event.HOLD_TIMER_EXPIRES, 32.5) == []  # before the deadline: a stale callback
    assert state_of(s) is State.ESTABLISHED
    out = s.handle(Event.HOLD_TIMER_EXPIRES, 33)
    assert out == [SendNotification(Notification(ErrorCode.HOLD_TIMER_EXPIRED)), StopTimer(KA),
                   CloseConnection(),
                   SessionDown("HOLD_TIMER_EXPIRES", sent=Notification(4), delete_routes=True)]
    assert out[0].data == bytes.fromhex("ff" * 16 + "00 15 03 04 00")  # type: ignore[union-attr]
    assert s.connect_retry_counter == 1
    assert s.handle(Event.HOLD_TIMER_EXPIRES, 99) == []  # not running any more


def test_expire_fires_timers_in_deadline_order() -> None:
    s = established()
    out = s.expire(100)  # KEEPALIVE due at 12, then the HoldTimer at 33
    assert out[:2] == [SendKeepalive(), StartTimer(KA, 110)]
    assert out[2] == SendNotification(Notification(ErrorCode.HOLD_TIMER_EXPIRED))
    assert state_of(s) is State.IDLE


def test_hold_timer_expires_in_opensent() -> None:
    s = Session(LOCAL)
    s.handle(Event.MANUAL_START, 0)
    s.handle(Event.TCP_CONNECTION_CONFIRMED, 1)
    assert s.expire(241) == [SendNotification(Notification(4)), CloseConnection(),
                             SessionDown("HOLD_TIMER_EXPIRES", sent=Notification(4))]


def test_malformed_update_queues_the_notification_then_raises() -> None:
    s = established()
    bad = encode(ROUTE).replace(b"\x40\x01\x01\x00", b"\x40\x01\x01\x03")  # ORIGIN 3: Invalid ORIGIN
    with pytest.raises(RemoteProtocolError) as info:
        s.receive_data(KEEPALIVE_BYTES + bad + KEEPALIVE_BYTES, 5)
    assert (info.value.code, info.value.subcode, info.value.data) == (3, 6, b"\x40\x01\x01\x03")
    sent = Notification(3, 6, b"\x40\x01\x01\x03")
    assert s.commands() == [StartTimer(HOLD, 35),  # from the KEEPALIVE before it
                            SendNotification(sent), StopTimer(HOLD), StopTimer(KA), CloseConnection(),
                            SessionDown(str(info.value), sent=sent, delete_routes=True)]
    assert state_of(s) is State.IDLE
    assert s.commands() == []
    assert s.receive_data(KEEPALIVE_BYTES, 6) == []  # Idle drops octets


def test_bad_header_in_established_sends_header_error() -> None:
    s = established()
    with pytest.raises(RemoteProtocolError):
        s.receive_data(b"\x00" * 19, 5)
    assert s.commands()[0] == SendNotification(Notification(1, 1))


@pytest.mark.parametrize(("state", "message", "subcode"), [
    (State.OPEN_SENT, ROUTE, FsmSubcode.UNEXPECTED_MESSAGE_IN_OPENSENT),
    (State.OPEN_SENT, Keepalive(), FsmSubcode.UNEXPECTED_MESSAGE_IN_OPENSENT),
    (State.OPEN_CONFIRM, ROUTE, FsmSubcode.UNEXPECTED_MESSAGE_IN_OPENCONFIRM),
    (State.OPEN_CONFIRM, PEER, FsmSubcode.UNEXPECTED_MESSAGE_IN_OPENCONFIRM),
    (State.ESTABLISHED, PEER, FsmSubcode.UNEXPECTED_MESSAGE_IN_ESTABLISHED),
    (State.OPEN_CONFIRM, RouteRefresh(), FsmSubcode.UNEXPECTED_MESSAGE_IN_OPENCONFIRM),
])
def test_unexpected_message_is_an_fsm_error(state: State, message: Open | Update | Keepalive | RouteRefresh,
                                            subcode: FsmSubcode) -> None:
    s = Session(LOCAL)
    s.handle(Event.MANUAL_START, 0)
    s.handle(Event.TCP_CR_ACKED, 1)
    if state is not State.OPEN_SENT:
        s.receive_data(encode(PEER), 2)
    if state is State.ESTABLISHED:
        s.receive_data(KEEPALIVE_BYTES, 3)
    assert s.state is state
    with pytest.raises(RemoteProtocolError) as info:
        s.receive_data(encode(message), 4)
    assert (info.value.code, info.value.subcode) == (ErrorCode.FSM_ERROR, subcode)
    out = s.commands()
    assert out[0] == SendNotification(Notification(ErrorCode.FSM_ERROR, subcode))
    assert out[-2:] == [CloseConnection(), SessionDown(str(info.value), sent=Notification(5, subcode),
                                                       delete_routes=state is State.ESTABLISHED)]


def test_open_from_the_wrong_as_is_refused() -> None:
    s = Session(LOCAL, peer_as=65003)
    s.handle(Event.MANUAL_START, 0)
    s.handle(Event.TCP_CR_ACKED, 1)
    with pytest.raises(RemoteProtocolError) as info:
        s.receive_data(encode(PEER), 2)
    assert (info.value.code, info.value.subcode) == (ErrorCode.OPEN_MESSAGE_ERROR, OpenSubcode.BAD_PEER_AS)
    assert s.commands() == [SendNotification(Notification(2, 2)), StopTimer(HOLD), CloseConnection(),
                            SessionDown(str(info.value), sent=Notification(2, 2))]


def test_internal_peer_with_our_identifier_is_refused() -> None:
    s = Session(LOCAL)
    s.handle(Event.MANUAL_START, 0)
    s.handle(Event.TCP_CR_ACKED, 1)
    with pytest.raises(RemoteProtocolError) as info:
        s.receive_data(encode(make_open(65001, "10.0.0.1")), 2)
    assert info.value.subcode is OpenSubcode.BAD_BGP_IDENTIFIER


def test_unacceptable_hold_time_from_the_peer() -> None:
    s = Session(LOCAL)
    s.handle(Event.MANUAL_START, 0)
    s.handle(Event.TCP_CR_ACKED, 1)
    wire = bytearray(encode(PEER))
    wire[22:24] = b"\x00\x02"  # Hold Time 2 (RFC 4271 4.2: "MUST reject Hold Time values of one or two")
    with pytest.raises(RemoteProtocolError):
        s.receive_data(bytes(wire), 2)
    assert s.commands()[0] == SendNotification(Notification(2, 6))


def test_zero_hold_time_means_no_timers() -> None:
    s = Session(LOCAL)
    s.handle(Event.MANUAL_START, 0)
    s.handle(Event.TCP_CR_ACKED, 1)
    assert s.receive_data(encode(make_open(65002, "10.0.0.2", 0)), 2) == [SendKeepalive(), StopTimer(HOLD)]
    out = s.receive_data(KEEPALIVE_BYTES, 3)
    assert [type(c) for c in out] == [SessionEstablished]
    assert s.next_deadline() is None
    assert s.handle(Event.KEEPALIVE_TIMER_EXPIRES, 1e9) == []


def test_peer_notification_ends_the_session() -> None:
    s = established()
    cease = Notification(ErrorCode.CEASE, CeaseSubcode.PEER_DECONFIGURED)
    assert s.receive_data(encode(cease), 5) == [StopTimer(HOLD), StopTimer(KA), CloseConnection(),
                                                SessionDown("NOTIF_MSG", received=cease, delete_routes=True)]
    assert s.connect_retry_counter == 1


def test_version_notification_in_opensent() -> None:
    s = Session(LOCAL)
    s.handle(Event.MANUAL_START, 0)
    s.handle(Event.TCP_CR_ACKED, 1)
    version = Notification(ErrorCode.OPEN_MESSAGE_ERROR, OpenSubcode.UNSUPPORTED_VERSION_NUMBER, b"\x00\x04")
    assert s.receive_data(encode(version), 2)[-1] == SessionDown("NOTIF_MSG_VER_ERR", received=version)
    assert s.connect_retry_counter == 0  # RFC 4271 8.2.2: event 24 does not count as a retry


def test_peer_closing_the_connection() -> None:
    s = established()
    assert s.receive_data(b"", 5)[-1] == SessionDown("TCP_CONNECTION_FAILS", delete_routes=True)


def test_connect_retry_and_tcp_failures() -> None:
    s = Session(LOCAL, connect_retry_time=5)
    s.handle(Event.MANUAL_START, 0)
    assert s.expire(5) == [CloseConnection(), StartTimer(CR, 10), OpenConnection()]
    assert state_of(s) is State.CONNECT
    assert s.handle(Event.TCP_CONNECTION_FAILS, 6) == [StopTimer(CR), CloseConnection(),
                                                        SessionDown("TCP_CONNECTION_FAILS")]
    assert state_of(s) is State.IDLE


def test_passive_start_and_fallback_to_active() -> None:
    s = Session(LOCAL)
    assert s.handle(Event.MANUAL_START_WITH_PASSIVE_TCP_ESTABLISHMENT, 0) == [StartTimer(CR, 120),
                                                                               AcceptConnection()]
    assert state_of(s) is State.ACTIVE
    assert s.handle(Event.TCP_CONNECTION_CONFIRMED, 1)[1] == SendOpen(LOCAL)
    # OpenSent, TcpConnectionFails: "closes the BGP connection, restarts the ConnectRetryTimer,
    # continues to listen ... and changes its state to Active".
    assert s.handle(Event.TCP_CONNECTION_FAILS, 2) == [CloseConnection(), StopTimer(HOLD),
                                                        StartTimer(CR, 122), AcceptConnection()]
    assert state_of(s) is State.ACTIVE
    assert s.expire(122) == [StartTimer(CR, 242), OpenConnection()]
    assert state_of(s) is State.CONNECT


def test_collision_dump_sends_cease_7() -> None:
    s = Session(LOCAL)
    s.handle(Event.MANUAL_START, 0)
    s.handle(Event.TCP_CR_ACKED, 1)
    s.receive_data(encode(PEER), 2)
    assert collision_keeps_local(IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")) is False
    assert collision_keeps_local(IPv4Address("10.0.0.3"), IPv4Address("10.0.0.2")) is True
    out = s.handle(Event.OPEN_COLLISION_DUMP, 3)
    collision = Notification(ErrorCode.CEASE, CeaseSubcode.CONNECTION_COLLISION_RESOLUTION)
    assert out[0] == SendNotification(collision)
    assert state_of(s) is State.IDLE


def test_route_refresh() -> None:
    s = established()
    assert s.send_route_refresh(AFI.IPV4, SAFI.UNICAST, 4) == [SendRouteRefresh(RouteRefresh(1, 1))]
    with pytest.raises(LocalProtocolError):
        s.send_route_refresh(AFI.IPV6, SAFI.UNICAST, 4)  # the peer did not announce IPv6
    assert s.receive_data(encode(RouteRefresh(1, 1)), 5) == [RouteRefreshReceived(RouteRefresh(1, 1)),
                                                             StartTimer(HOLD, 35)]
    assert s.receive_data(encode(RouteRefresh(2, 1)), 6) == [StartTimer(HOLD, 36)]  # RFC 2918 4: ignored
    assert s.receive_data(encode(RouteRefresh(1, 1, 9)), 7) == [StartTimer(HOLD, 37)]  # RFC 7313 5: ignored
    no_refresh = established(make_open(65002, "10.0.0.2", 30, route_refresh=False))
    with pytest.raises(LocalProtocolError):
        no_refresh.send_route_refresh(AFI.IPV4, SAFI.UNICAST, 4)


def test_misuse_is_a_local_error() -> None:
    s = Session(LOCAL)
    with pytest.raises(LocalProtocolError):
        s.handle(Event.UPDATE_MSG, 0)
    with pytest.raises(LocalProtocolError):
        s.send_update(ROUTE, 0)
    with pytest.raises(LocalProtocolError):
        Session(Open(65001, IPv4Address("10.0.0.1"), hold_time=1))
    with pytest.raises(LocalProtocolError):
        Session(LOCAL, connect_retry_time=0)
    assert s.receive_data(KEEPALIVE_BYTES, 0) == []  # Idle: no connection, octets dropped
    assert state_of(s) is State.IDLE


def test_commands_carry_their_octets() -> None:
    s = established()
    out: list[Command] = s.send_update(ROUTE, 4) + s.handle(Event.MANUAL_STOP, 5)
    wire = b"".join(getattr(c, "data", b"") for c in out)
    decoded = []
    while wire:
        got = decode(wire)
        assert got is not None
        decoded.append(got[0])
        wire = wire[got[1]:]
    assert decoded == [ROUTE, Notification(6, 2)]


def test_negotiate() -> None:
    ours = make_open(65001, "10.0.0.1", 90, families=(IPV4_UNICAST, IPV6_UNICAST), graceful_restart=120)
    old = Open(65002, IPv4Address("10.0.0.2"), 180)  # no capabilities: IPv4 unicast, 2-octet AS
    n = negotiate(ours, old)
    assert (n.hold_time, n.keepalive_time, n.four_octet_as, n.route_refresh) == (90, 30, False, False)
    assert n.families == {IPV4_UNICAST}
    assert n.graceful_restart is None
    assert n.peer_id == IPv4Address("10.0.0.2")
    internal = negotiate(ours, make_open(65001, "10.0.0.9", 3, graceful_restart=60))
    assert internal.internal
    assert (internal.hold_time, internal.keepalive_time) == (3, 1)
    assert internal.graceful_restart is not None
    assert internal.graceful_restart.restart_time == 60
    with pytest.raises(RemoteProtocolError):
        negotiate(ours, old, peer_as=65003)

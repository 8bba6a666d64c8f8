"""The five BGP messages as values: OPEN, UPDATE, NOTIFICATION, KEEPALIVE, ROUTE-REFRESH.

Theory of operation: one frozen, slotted dataclass per message type holds the message's meaning,
not its layout: no lengths, no marker. The same value encodes for a 2-octet or a 4-octet AS
session; only UPDATE's AS_PATH and AGGREGATOR depend on that, and :func:`~.codec.encode` takes
it as an argument. Messages are immutable and hashable; a filter that changes one builds a new
one (``dataclasses.replace``).

:class:`Open` carries the speaker's true AS in ``asn``; on the wire "My Autonomous System" is
that AS when it fits two octets and AS_TRANS otherwise, with the real one in the 4-octet AS
capability (RFC 6793 3). :func:`make_open` builds an OPEN with the usual capabilities.

:func:`negotiate` takes the OPEN we sent and the one we received and returns a
:class:`Negotiated`: the hold time both must honour is the smaller of the two, keepalives go every
third of it, and each capability is in force only if both sides announced it. The received OPEN is
checked against what we expect of the peer first, raising the OPEN Message Error of RFC 4271 6.2
that the session then sends: Bad Peer AS for the wrong AS, Bad BGP Identifier for an internal peer
using our own identifier (RFC 6286 2.2). :func:`collision_keeps_local` settles who wins a
connection collision (RFC 4271 6.8).
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import ClassVar, TypeVar

from .attributes import (
    Communities,
    MpReachNlri,
    MpUnreachNlri,
    NextHop,
    PathAttribute,
    UnknownAttribute,
)
from .capabilities import (
    Capability,
    FourOctetAS,
    GracefulRestart,
    GracefulRestartFamily,
    Multiprotocol,
    RouteRefreshCapability,
)
from .errors import BGPError, OpenSubcode, code_names, open_error
from .wire import AFI, AS_TRANS, BGP_VERSION, IPV4_UNICAST, MAX_AS2, MessageType, Network

_C = TypeVar("_C", bound=Capability)
_A = TypeVar("_A", bound=PathAttribute)

#: RFC 4271 10: "suggested value for the HoldTime is 90 seconds"; 4.2: 0 or at least 3.
DEFAULT_HOLD_TIME = 90


@dataclass(frozen=True, slots=True)
class Open:
    """OPEN (RFC 4271 4.2). ``hold_time`` is 0 (no keepalives) or at least 3 seconds;
    ``bgp_id`` is the speaker's nonzero BGP Identifier (RFC 6286 2.1)."""

    TYPE: ClassVar[MessageType] = MessageType.OPEN
    asn: int
    bgp_id: IPv4Address
    hold_time: int = DEFAULT_HOLD_TIME
    capabilities: tuple[Capability, ...] = ()
    version: int = BGP_VERSION

    @property
    def my_as(self) -> int:
        """The 2-octet "My Autonomous System" field: ``asn``, or AS_TRANS when it needs 4 octets."""
        return self.asn if self.asn <= MAX_AS2 else AS_TRANS

    def capability(self, kind: type[_C]) -> _C | None:
        """The first capability of class ``kind``, or None."""
        for cap in self.capabilities:
            if isinstance(cap, kind):
                return cap
        return None

    @property
    def families(self) -> frozenset[tuple[int, int]]:
        """The ``(afi, safi)`` pairs announced; IPv4 unicast alone when no Multiprotocol
        capability is present, as RFC 4760 8 implies for speakers without it."""
        found = frozenset(c.family for c in self.capabilities if isinstance(c, Multiprotocol))
        return found or frozenset({IPV4_UNICAST})

    @property
    def four_octet_as(self) -> bool:
        """Whether the speaker supports 4-octet AS numbers (RFC 6793 3)."""
        return self.capability(FourOctetAS) is not None


def make_open(asn: int, bgp_id: IPv4Address | str, hold_time: int = DEFAULT_HOLD_TIME, *,
              families: tuple[tuple[int, int], ...] = (IPV4_UNICAST,), route_refresh: bool = True,
              graceful_restart: int | None = None, extra: tuple[Capability, ...] = ()) -> Open:
    """An OPEN announcing Multiprotocol for each of ``families``, Route Refresh, the 4-octet AS
    capability (always: every current speaker has it, RFC 6793), and Graceful Restart with
    ``graceful_restart`` seconds of restart time for every family when given."""
    caps: list[Capability] = [Multiprotocol(afi, safi) for afi, safi in families]
    if route_refresh:
        caps.append(RouteRefreshCapability())
    caps.append(FourOctetAS(asn))
    if graceful_restart is not None:
        caps.append(GracefulRestart(graceful_restart,
                                    families=tuple(GracefulRestartFamily(a, s) for a, s in families)))
    return Open(asn, IPv4Address(bgp_id), hold_time, (*caps, *extra))


@dataclass(frozen=True, slots=True)
class Update:
    """UPDATE (RFC 4271 4.3): IPv4 ``withdrawn`` routes, path ``attributes`` in wire order, and
    IPv4 ``nlri``; other families travel in the MP_REACH_NLRI and MP_UNREACH_NLRI attributes."""

    TYPE: ClassVar[MessageType] = MessageType.UPDATE
    withdrawn: tuple[Network, ...] = ()
    attributes: tuple[PathAttribute, ...] = ()
    nlri: tuple[Network, ...] = ()

    def attribute(self, kind: type[_A]) -> _A | None:
        """The attribute of class ``kind``, or None (an attribute appears at most once)."""
        for attr in self.attributes:
            if isinstance(attr, kind):
                return attr
        return None

    @property
    def next_hop(self) -> IPv4Address | None:
        hop = self.attribute(NextHop)
        return hop.address if hop else None

    @property
    def communities(self) -> tuple[int, ...]:
        found = self.attribute(Communities)
        return found.values if found else ()

    @property
    def end_of_rib(self) -> tuple[int, int] | None:
        """The family this UPDATE marks the End-of-RIB of (RFC 4724 2), or None: an empty UPDATE
        for IPv4 unicast, an UPDATE holding only an empty MP_UNREACH_NLRI for the others."""
        if self.withdrawn or self.nlri:
            return None
        if not self.attributes:
            return IPV4_UNICAST
        if len(self.attributes) == 1:
            attr = self.attributes[0]
            if isinstance(attr, MpUnreachNlri) and not attr.withdrawn:
                return attr.afi, attr.safi
        return None

    @property
    def reachable(self) -> tuple[Network, ...]:
        """Every prefix announced: the IPv4 NLRI, then the MP_REACH_NLRI prefixes."""
        mp = self.attribute(MpReachNlri)
        return self.nlri + mp.nlri if mp else self.nlri

    @property
    def unreachable(self) -> tuple[Network, ...]:
        """Every prefix withdrawn: the IPv4 withdrawn routes, then MP_UNREACH_NLRI's."""
        mp = self.attribute(MpUnreachNlri)
        return self.withdrawn + mp.withdrawn if mp else self.withdrawn

    @property
    def unknown_attributes(self) -> tuple[UnknownAttribute, ...]:
        return tuple(a for a in self.attributes if isinstance(a, UnknownAttribute))


def end_of_rib(afi: int, safi: int) -> Update:
    """The End-of-RIB marker for ``(afi, safi)`` (RFC 4724 2)."""
    if (afi, safi) == IPV4_UNICAST:
        return Update()
    return Update(attributes=(MpUnreachNlri(afi, safi),))


@dataclass(frozen=True, slots=True)
class Notification:
    """NOTIFICATION (RFC 4271 4.5): an error code, a subcode and data; the sender then closes."""

    TYPE: ClassVar[MessageType] = MessageType.NOTIFICATION
    code: int
    subcode: int = 0
    data: bytes = b""

    def __post_init__(self) -> None:
        code, subcode = code_names(self.code, self.subcode)
        object.__setattr__(self, "code", code)
        object.__setattr__(self, "subcode", subcode)

    @classmethod
    def from_error(cls, error: BGPError) -> Notification:
        """The NOTIFICATION that tells the peer about ``error``."""
        return cls(error.code, error.subcode, error.data)


@dataclass(frozen=True, slots=True)
class Keepalive:
    """KEEPALIVE (RFC 4271 4.4): a header alone."""

    TYPE: ClassVar[MessageType] = MessageType.KEEPALIVE


@dataclass(frozen=True, slots=True)
class RouteRefresh:
    """ROUTE-REFRESH (RFC 2918 3): ask the peer to re-advertise ``(afi, safi)``. ``subtype`` is
    the reserved octet, which RFC 7313 uses for its Beginning/End-of-RIB-Refresh markers."""

    TYPE: ClassVar[MessageType] = MessageType.ROUTE_REFRESH
    afi: int = AFI.IPV4
    safi: int = 1
    subtype: int = 0


Message = Open | Update | Notification | Keepalive | RouteRefresh


# -- what two OPENs agree on ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Negotiated:
    """The parameters of an established session.

    ``hold_time`` is the smaller of both OPENs' (RFC 4271 4.2: "MUST calculate the value of the
    Hold Timer by using the smaller of its configured Hold Time and the Hold Time received in the
    OPEN message"), 0 meaning no HoldTimer and no KEEPALIVEs (4.4). ``keepalive_time`` is a third
    of it in whole seconds (4.4: "A reasonable maximum time between KEEPALIVE messages would be
    one third of the Hold Time interval"). ``families``, ``four_octet_as`` and ``route_refresh``
    hold what both sides announced; ``graceful_restart`` is the peer's capability, which describes
    the peer alone (RFC 4724 3).
    """

    local: Open
    remote: Open
    hold_time: int
    keepalive_time: int
    four_octet_as: bool
    families: frozenset[tuple[int, int]]
    route_refresh: bool
    graceful_restart: GracefulRestart | None

    @property
    def peer_as(self) -> int:
        return self.remote.asn

    @property
    def peer_id(self) -> IPv4Address:
        return self.remote.bgp_id

    @property
    def internal(self) -> bool:
        """An internal (iBGP) session: both speakers in one AS (RFC 4271 8.2.2, OpenSent)."""
        return self.remote.asn == self.local.asn


def negotiate(local: Open, remote: Open, peer_as: int | None = None) -> Negotiated:
    """The session parameters of ``local`` (sent) and ``remote`` (received).

    ``peer_as``: the AS the peer must have, or None to accept any. Raises RemoteProtocolError
    (OPEN Message Error): Bad Peer AS when the peer's AS differs (RFC 4271 6.2: "If the
    Autonomous System field of the OPEN message is unacceptable"), Bad BGP Identifier when an
    internal peer uses our identifier (RFC 6286 2.2).
    """
    if peer_as is not None and remote.asn != peer_as:
        raise open_error(f"peer AS {remote.asn}, expected {peer_as} (RFC 4271 6.2)", OpenSubcode.BAD_PEER_AS)
    if remote.asn == local.asn and remote.bgp_id == local.bgp_id:
        raise open_error(f"internal peer uses our BGP identifier {local.bgp_id} (RFC 6286 2.2)",
                         OpenSubcode.BAD_BGP_IDENTIFIER)
    hold = min(local.hold_time, remote.hold_time)
    both_refresh = (local.capability(RouteRefreshCapability) is not None
                    and remote.capability(RouteRefreshCapability) is not None)
    return Negotiated(
        local=local,
        remote=remote,
        hold_time=hold,
        keepalive_time=hold // 3,
        four_octet_as=local.four_octet_as and remote.four_octet_as,
        families=local.families & remote.families,
        route_refresh=both_refresh,
        graceful_restart=remote.capability(GracefulRestart),
    )


def collision_keeps_local(local_id: IPv4Address, remote_id: IPv4Address) -> bool:
    """Whether the connection *we* initiated survives a collision (RFC 4271 6.8): "If the value of
    the local BGP Identifier is less than the remote one, the local system closes the BGP
    connection that already exists ... Otherwise, the local system closes the newly created BGP
    connection", i.e. the connection opened by the speaker with the higher identifier is kept.
    The loser's Session gets ``Event.OPEN_COLLISION_DUMP``."""
    return int(local_id) > int(remote_id)

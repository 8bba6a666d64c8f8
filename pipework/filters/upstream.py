"""Upstreams: the servers a proxy sends requests to, with their pools, limits, balancing and health.

Theory of operation: an :class:`Upstream` holds one :class:`Endpoint` per target. An endpoint is
the balancer's :class:`~pipework.lb.Target` (name, weight, requests in flight) plus its own pool of
kept-alive connections (:class:`Conn`), its limits (connections, waiting requests, requests per
connection) and its health: down after failed active checks, ejected for a while after repeated
failures seen by the proxy (outlier detection), ramping up its weight after coming back (slow
start). The balancer only ever sees the endpoints that may take requests; when that set changes
it is told (``update``). ``proxy()`` asks :meth:`Upstream.pick` for an endpoint per try, takes a
connection from it, and reports back how the try went.

An upstream made while a script loads is tied to that script's program: its active checks and
DNS updates run from the moment the program starts serving until a reload replaces it (requests
in flight on the old one finish).
"""

from __future__ import annotations

import hashlib
import logging
import ssl
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from time import monotonic
from typing import TYPE_CHECKING, Any

from ..codec.http1 import RemoteProtocolError, ResponseDecoder
from ..core.checks import seconds, whole
from ..core.script import service
from ..lb import make_balancer
from ..lb.health import OutlierDetection, OutlierDetector, slow_start_weight
from ..lb.route import cookie_value
from ..lb.target import Target
from ..net import Outbound, join_address, split_address
from ..net.loop import running_loop
from ..net.tls import client_context
from .discovery import DnsDiscovery
from .keys import key_function

if TYPE_CHECKING:
    from .health_check import HealthCheck, Prober
    from .proxy import Exchange

log = logging.getLogger("pipework")

#: idle connections kept per target; more are closed when returned
DEFAULT_MAX_IDLE = 1024
#: requests a connection carries before it is closed (nginx's keepalive_requests)
DEFAULT_MAX_REQUESTS_PER_CONNECTION = 1000
#: requests that may wait for a connection to a target at its max_connections (Envoy's default)
DEFAULT_MAX_PENDING = 1024
#: the upstreams alive in this process (for the metrics endpoint)
LIVE: weakref.WeakSet[Upstream] = weakref.WeakSet()
#: distinct target strings a target function may name before the oldest upstreams are dropped
MAX_IMPLICIT = 1024


class Conn:
    """One connection to an endpoint: the Outbound's handler, lent to one exchange at a time."""

    __slots__ = ("conn", "dec", "endpoint", "exchange", "idle_since", "received", "used")

    def __init__(self, endpoint: Endpoint, connect_timeout: float) -> None:
        self.endpoint = endpoint
        self.dec = ResponseDecoder(one_at_a_time=True)
        self.exchange: Exchange | None = None
        self.idle_since = 0.0
        self.used = 0
        self.received = 0  # bytes of the current exchange's response so far
        endpoint.conns += 1
        tls = endpoint.upstream.tls_context() if endpoint.tls else None
        self.conn = Outbound(
            self,
            endpoint.host,
            endpoint.port,
            connect_timeout=connect_timeout,
            tls=tls,
            server_name=endpoint.upstream.server_name,
        )

    def on_connect(self) -> None:
        if self.exchange is not None:
            self.exchange.connected()  # the connect time, for the access log

    def on_data(self, data: bytes) -> None:
        ex = self.exchange
        if ex is None:  # data on an idle connection: nobody asked; drop the connection
            self.conn.abort()
            return
        self.received += len(data)
        try:
            self.dec.receive_data(data)
        except RemoteProtocolError as exc:
            ex.upstream_failed("BadGateway", str(exc))
            return
        ex.upstream_events()

    def on_eof(self) -> None:
        ex = self.exchange
        if ex is not None and not self.received:
            self.conn.abort()  # closed with no answer: as a reset (a retry may be safe)
            return
        try:
            self.dec.receive_data(b"")
        except RemoteProtocolError as exc:
            if ex is not None:
                ex.upstream_failed("BadGateway", str(exc))
            self.conn.abort()
            return
        if ex is not None:
            ex.upstream_events()
        self.conn.close()

    def on_close(self, error: str | None) -> None:
        self.endpoint.forget(self)
        ex = self.exchange
        if ex is not None:
            ex.upstream_closed(error)

    def on_write_paused(self, paused: bool) -> None:
        if self.exchange is not None:
            self.exchange.upstream_write_paused(paused)


class Endpoint(Target):
    """One target of an upstream: its pool, limits and health (see the module docstring)."""

    __slots__ = (
        "check",
        "configured_weight",
        "conns",
        "down",
        "ejected",
        "host",
        "host_field",
        "id",
        "idle",
        "pending",
        "port",
        "removed",
        "since",
        "tls",
        "upstream",
    )

    def __init__(self, upstream: Upstream, host: str, port: int, weight: float, tls: bool = False) -> None:
        name = join_address(host, port)
        super().__init__(name, weight)
        self.upstream = upstream
        self.host = host
        self.port = port
        self.configured_weight = weight
        #: the Host field for a request that has none (mux_http)
        self.host_field = (
            name if port != (443 if tls else 80) else (f"[{host}]" if ":" in host else host)
        ).encode("idna")
        self.tls = tls  # connections to it are TLS (an https:// target)
        #: a short, stable token naming this target in an affinity cookie
        self.id = hashlib.blake2b(name.encode(), digest_size=6).hexdigest()
        self.idle: deque[Conn] = deque()
        self.conns = 0  # open connections, idle or lent
        self.pending: deque[Exchange] = deque()  # exchanges waiting for a connection
        self.down = False  # failed its active checks
        self.ejected = False  # ejected by outlier detection
        self.removed = False  # no longer one of the upstream's targets
        self.since = 0.0  # when it last became available (slow start)
        self.check: Prober | None = None

    @property
    def available(self) -> bool:
        return not (self.down or self.ejected or self.removed)

    def take(self) -> Conn | None:
        q = self.idle
        while q:
            c = q.pop()  # the most recently used: the least likely to have been closed
            if not c.conn.closed:
                return c
        return None

    def full(self) -> bool:
        """At max_connections with no idle connection to lend."""
        limit = self.upstream.max_connections
        return limit > 0 and self.conns >= limit and not self.idle

    def give_back(self, c: Conn, now: float) -> None:
        """``c`` finished an exchange in good order: lend it to a waiting one, or keep it idle."""
        c.exchange = None
        up = self.upstream
        if (
            c.conn.closed
            or self.removed
            or (up.max_requests_per_connection and c.used >= up.max_requests_per_connection)
        ):
            c.conn.close()
            self._serve_pending()
            return
        while self.pending:
            ex = self.pending.popleft()
            if not ex.done:
                ex.attach(c)
                return
        if len(self.idle) >= up.max_idle:
            c.conn.close()
            return
        c.idle_since = now
        self.idle.append(c)
        if up.sweeper is None:
            up.sweep_later()

    def forget(self, c: Conn) -> None:
        """``c`` closed: out of the pool, and its place may go to a waiting exchange."""
        self.conns -= 1
        if self.idle:
            try:
                self.idle.remove(c)
            except ValueError:
                pass
        self._serve_pending()

    def _serve_pending(self) -> None:
        while self.pending and not self.full():
            ex = self.pending.popleft()
            if not ex.done:
                ex.attach(self.take() or Conn(self, ex.cfg.connect_timeout))

    def close_idle(self) -> None:
        while self.idle:
            self.idle.pop().conn.close()

    def state(self) -> dict[str, Any]:
        """What the script API and logs show of this target."""
        return {
            "name": self.name,
            "weight": self.configured_weight,
            "effective_weight": self.weight,
            "healthy": self.available,
            "down": self.down,
            "ejected": self.ejected,
            "active": self.active,
            "connections": self.conns,
            "idle": len(self.idle),
            "pending": len(self.pending),
        }


def parse_target(value: Any, what: str = "proxy()") -> tuple[str, int]:
    """``"http://host:port"``, ``"https://host:port"`` (443 by default), ``"host:port"`` or
    ``(host, port)`` → (host, port)."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], int):
        return str(value[0]), int(value[1])
    if not isinstance(value, str):
        raise TypeError(f"{what}: a target is 'http://host:port', not {type(value).__name__}")
    s = value
    default = ":80"
    if s.startswith("http://"):
        s = s[7:].rstrip("/")
    elif s.startswith("https://"):
        s, default = s[8:].rstrip("/"), ":443"
    elif "://" in s:
        raise ValueError(f"{what}: {value!r}: only http:// and https:// upstreams")
    if ":" not in s.rpartition("]")[2]:
        s += default
    host, port = split_address(s, default_host="")
    if not host:
        raise ValueError(f"{what}: {value!r} needs a host")
    return host, port


def _weighted(targets: Any) -> list[tuple[str, int, float, bool]]:
    """Targets as the user wrote them → [(host, port, weight, over TLS)]."""
    if isinstance(targets, str | tuple):
        targets = [targets]
    pairs: Iterable[tuple[Any, Any]]
    if isinstance(targets, Mapping):
        pairs = targets.items()
    else:
        # ("host:port", weight) is a weighted target; ("host", port) an address
        pairs = [
            item
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and ":" in item[0]
            else (item, 1)
            for item in targets
        ]
    out: list[tuple[str, int, float, bool]] = []
    for item, weight in pairs:
        host, port = parse_target(item, "Upstream()")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight > 0:
            raise ValueError(f"Upstream(): {host}:{port}: the weight must be a number > 0, not {weight!r}")
        out.append((host, port, weight, isinstance(item, str) and item.startswith("https://")))
    return out


class Upstream:
    """A set of servers to proxy to: ``pw.Upstream(targets, balancer=..., ...)``.

    ``targets``: ``"host:port"`` or ``"http://host:port"`` strings, ``(address, weight)`` pairs,
    or a ``{address: weight}`` dict. ``balancer``: one of ``pipework.lb.BALANCERS``
    (``round_robin`` by default), with ``balancer_options`` for it. ``hash_key``: for the hashing
    balancers, what a request is hashed by — a function of the request head (and the context)
    returning bytes or str, or an expression: ``"header:NAME"``, ``"cookie:NAME"``,
    ``"query:NAME"``, ``"path"``, ``"uri"``, ``"host"``, ``"ip"`` (the client address).
    ``ring_hash`` and ``maglev`` hash the client's address when no ``hash_key`` is given.
    ``affinity``: ``"cookie:NAME"`` keeps a client on the target that first answered it (a cookie
    naming the target is set on the response); ``"header:NAME"`` sends requests with the same
    value of that header to the same target (consistent hashing), whatever the balancer does
    for others.

    Limits, per target: ``max_connections`` (0: none) — past it requests wait for a connection,
    up to ``max_pending`` of them, and more are answered 503 at once (circuit breaking) unless
    another target can take them; ``max_requests_per_connection`` before a connection is closed;
    ``max_idle`` kept-alive connections, closed after ``idle_timeout`` seconds unused. Per
    upstream: ``max_requests`` in flight (0: none), past which requests get 503 at once.

    TLS to ``https://`` targets: their certificates are verified against ``ca`` (a PEM bundle;
    the system's by default) and must name ``server_name`` (the target's host by default);
    ``verify=False`` turns that off (logged as a warning); ``certificate`` is a client
    certificate (``(cert, key)`` or ``{"cert": ..., "key": ..., "passphrase": ...}``).

    Health: ``health_check`` (a :class:`~pipework.filters.health_check.HealthCheck`) probes each
    target; ``outlier`` (an :class:`~pipework.lb.health.OutlierDetection`, True for its
    defaults, False/None for none) ejects a target the proxy sees failing; by default it is on
    when there is more than one target. ``slow_start`` (seconds) ramps the weight of a target
    that just came back or was added (Envoy's curve; not for ring_hash and maglev). When no
    target may take requests, the answer is 503.
    """

    def __init__(
        self,
        targets: Any = (),
        *,
        balancer: str = "round_robin",
        balancer_options: Mapping[str, Any] | None = None,
        hash_key: str | Callable[..., Any] | None = None,
        affinity: str | None = None,
        max_connections: int = 0,
        max_pending: int = DEFAULT_MAX_PENDING,
        max_requests: int = 0,
        max_requests_per_connection: int = DEFAULT_MAX_REQUESTS_PER_CONNECTION,
        max_idle: int = DEFAULT_MAX_IDLE,
        idle_timeout: float = 60.0,
        health_check: HealthCheck | None = None,
        outlier: OutlierDetection | bool | None = None,
        slow_start: float = 0.0,
        ca: str | None = None,
        verify: bool = True,
        server_name: str | None = None,
        certificate: Any = None,
        name: str | None = None,
    ) -> None:
        for what, value in (
            ("max_connections", max_connections),
            ("max_pending", max_pending),
            ("max_requests", max_requests),
            ("max_requests_per_connection", max_requests_per_connection),
            ("max_idle", max_idle),
        ):
            whole(value, f"Upstream(): {what}")
        seconds(idle_timeout, "Upstream(): idle_timeout")
        seconds(slow_start, "Upstream(): slow_start")
        self._tls_options = {"ca": ca, "verify": verify, "certificate": certificate}
        self._tls: ssl.SSLContext | None = None
        self.server_name = server_name
        self.max_connections = max_connections
        self.max_pending = max_pending
        self.max_requests = max_requests
        self.max_requests_per_connection = max_requests_per_connection
        self.max_idle = max_idle
        self.idle_timeout = float(idle_timeout)
        self.slow_start = float(slow_start)
        self.balancer_name = balancer
        self.balancer = make_balancer(balancer, [], **dict(balancer_options or {}))
        #: slow start changes weights every second: not for the hashing balancers, whose tables
        #: take tens of milliseconds to build (Envoy does not slow-start them either)
        hashing = balancer in ("ring_hash", "maglev")
        self.ramps = not hashing
        if hash_key is not None and not hashing:
            raise ValueError(
                f"Upstream(): hash_key is for the ring_hash and maglev balancers, not {balancer!r}"
            )
        if hashing and hash_key is None:
            hash_key = "ip"  # nginx's ip_hash, HAProxy's balance source
        self.hash_key = key_function(hash_key, "Upstream(): hash_key") if hash_key is not None else None
        self.affinity_cookie: bytes | None = None
        self.affinity_header: bytes | None = None
        self._affinity_ring: Any = None
        if affinity is not None:
            kind, _, field = affinity.partition(":")
            if kind == "cookie" and field:
                self.affinity_cookie = field.encode()
            elif kind == "header" and field:
                self.affinity_header = field.lower().encode()
                self._affinity_ring = make_balancer("ring_hash", [])
            else:
                raise ValueError(f"Upstream(): affinity {affinity!r}: write 'cookie:NAME' or 'header:NAME'")
        self.health_check = health_check
        self._outlier_option = outlier
        self.outlier: OutlierDetector[Endpoint] | None = None
        self.endpoints: dict[str, Endpoint] = {}
        self.available: list[Endpoint] = []
        self.only: Endpoint | None = None
        self.observes = False
        self.in_flight = 0
        self.retries = 0  # requests sent again after a failed try
        self.overflows = 0
        self.started = False
        self.stopped = False
        self.sweeper: Any = None
        self._ramp: Any = None
        self._outlier_timer: Any = None
        self._by_id: dict[str, Endpoint] = {}
        self.discovery: DnsDiscovery | None = None
        self.name = name or ""
        self.set_targets(targets)
        self.name = name or (
            ", ".join(self.endpoints) if len(self.endpoints) <= 3 else f"{len(self.endpoints)} targets"
        )
        service(self)
        LIVE.add(self)

    @classmethod
    def from_dns(
        cls,
        name: str,
        port: int | None = None,
        *,
        record: str = "A",
        interval: float | None = None,
        servers: list[str] | None = None,
        **options: Any,
    ) -> Upstream:
        """An upstream whose targets are the addresses DNS gives for ``name``: ``record`` "A" or
        "AAAA" (with ``port``), or "SRV" (``name`` such as ``_http._tcp.example.com``: ports and
        weights from the records). Re-resolved at the answer's TTL, or every ``interval``
        seconds; ``servers``: ``"host:port"`` name servers (default: /etc/resolv.conf). Other
        options as for ``Upstream``; see :mod:`pipework.filters.discovery`."""
        dns = DnsDiscovery(
            name,
            port,
            record=record,
            interval=interval,
            servers=[split_address(s if ":" in s.rpartition("]")[2] else f"{s}:53") for s in servers]
            if servers is not None
            else None,
        )
        options.setdefault("name", f"{record} {name}")
        ups = cls([], **options)
        ups.discovery = dns
        return ups

    def tls_context(self) -> ssl.SSLContext:
        """The client context for the https:// targets, made on first use."""
        if self._tls is None:
            o = self._tls_options
            cert = o["certificate"]
            if cert is not None and not isinstance(cert, tuple):
                cert = (cert["cert"], cert["key"], cert.get("passphrase"))
            self._tls = client_context(
                ca=o["ca"],
                verify=bool(o["verify"]),
                certificate=cert,
                what=f"Upstream({', '.join(self.endpoints)})",
            )
        return self._tls

    # -- targets ----------------------------------------------------------------------------------
    def set_targets(self, targets: Any) -> None:
        """Replace the targets. Those kept keep their connections, load and health; requests in
        flight to removed ones finish on their connections, which then close."""
        wanted = _weighted(targets)
        new: dict[str, Endpoint] = {}
        for host, port, weight, tls in wanted:
            ep = Endpoint(self, host, port, weight, tls)
            old = self.endpoints.get(ep.name)
            if old is not None:
                ep = old
                ep.configured_weight = ep.weight = weight
            elif self.started:
                ep.since = monotonic()  # a new target ramps up as one that came back
                if self.health_check is not None:
                    self._start_check(ep)
            new[ep.name] = ep
        removed = [ep for name, ep in self.endpoints.items() if name not in new]
        for ep in removed:
            ep.removed = True
            ep.close_idle()
            if ep.check is not None:
                ep.check.stop()
                ep.check = None
        self.endpoints = new
        self._by_id = {ep.id: ep for ep in new.values()}
        if any(ep.tls for ep in new.values()):
            self.tls_context()  # a bad ca or certificate fails now, at load, not at the first request
        option = self._outlier_option
        if option is None:
            option = len(new) > 1
        if option is True:
            option = OutlierDetection()
        if not option:
            self.outlier = None
        elif self.outlier is None:
            self.outlier = OutlierDetector(option, new.values())
        else:
            for ep in removed:
                self.outlier.discard(ep)
            for ep in new.values():
                self.outlier.add(ep)
        self.refresh()

    def refresh(self) -> None:
        """Tell the balancer which endpoints may take requests now."""
        now = monotonic()
        ramping = False
        avail = []
        for ep in self.endpoints.values():
            if not ep.available:
                continue
            if self.slow_start > 0 and ep.since and now - ep.since < self.slow_start and self.ramps:
                ep.weight = slow_start_weight(ep.configured_weight, now - ep.since, self.slow_start)
                ramping = True
            else:
                ep.weight = ep.configured_weight
            avail.append(ep)
        self.available = avail
        # the one endpoint there is to pick, when there is one: the proxy then skips ``pick``
        self.only = avail[0] if len(avail) == 1 else None
        # the proxy reports responses: for the balancer's latencies or outlier detection
        self.observes = self.outlier is not None or self.balancer.wants_latency
        self.balancer.update(avail)
        if self._affinity_ring is not None:
            self._affinity_ring.update(avail)
        if ramping and self._ramp is None:
            self._ramp = running_loop().call_later(min(1.0, self.slow_start / 10), self._ramped)

    def _ramped(self) -> None:
        self._ramp = None
        self.refresh()

    def set_health(
        self, ep: Endpoint, *, down: bool | None = None, ejected: bool | None = None, why: str = ""
    ) -> None:
        """Mark ``ep`` down/up (active checks) or ejected/returned (outlier detection)."""
        was = ep.available
        if down is not None:
            ep.down = down
        if ejected is not None:
            ep.ejected = ejected
        if ep.available != was:
            if ep.available:
                ep.since = monotonic()
                log.warning("upstream %s: %s is back%s", self.name, ep.name, f" ({why})" if why else "")
            else:
                log.warning("upstream %s: %s is out: %s", self.name, ep.name, why)
            self.refresh()

    @property
    def targets(self) -> list[dict[str, Any]]:
        """Each target's state: name, weights, health, load (see :meth:`Endpoint.state`)."""
        return [ep.state() for ep in self.endpoints.values()]

    # -- picking ----------------------------------------------------------------------------------
    def pick(self, head: Any, ctx: Any, exclude: list[Endpoint] | None = None) -> Endpoint | None:
        """The endpoint for one try of ``head``: by affinity, else by the balancer."""
        if not self.started:
            self.start()
        avail = self.available
        if not exclude:
            if len(avail) == 1 and self.affinity_cookie is None:
                return avail[0]
            exclude = []
        if self.affinity_cookie is not None:
            token = cookie_value(head.raw_headers, self.affinity_cookie)
            if token is not None:
                ep = self._by_id.get(token.decode("latin-1"))
                if ep is not None and ep.available and ep not in exclude:
                    return ep
        elif self.affinity_header is not None:
            value = head.header(self.affinity_header)
            if value is not None:
                return self._affinity_ring.pick(value, exclude)  # type: ignore[no-any-return]
        key = None
        if self.hash_key is not None:
            key = self.hash_key(head, ctx)
        return self.balancer.pick(key, exclude)  # type: ignore[return-value]

    def affinity_field(self, head: Any, ep: Endpoint) -> bytes | None:
        """The Set-Cookie line to add to a response from ``ep``, when affinity needs one."""
        name = self.affinity_cookie
        if name is None or cookie_value(head.raw_headers, name) == ep.id.encode():
            return None
        return b"set-cookie: %s=%s; Path=/; HttpOnly" % (name, ep.id.encode())

    # -- what the proxy reports -------------------------------------------------------------------
    def report(self, ep: Endpoint, status: int | None, error: str | None, seconds: float) -> None:
        """How one try went: a response ``status``, or a failure ``error``; ``seconds`` to the head."""
        if status is not None and self.balancer.wants_latency:
            self.balancer.observe(ep, seconds)
        det = self.outlier
        if det is None or ep.removed:
            return
        now = monotonic()
        if error is not None:
            ejected = det.record_failure(ep, now)
        else:
            assert status is not None
            ejected = det.record_status(ep, status, now)
        if ejected:
            st = det.state(ep)
            until = (st.ejected_until or now) - now
            why = f"{st.reason.replace('_', ' ')} (last: {error or status}), ejected for {until:g}s"
            self.set_health(ep, ejected=True, why=why)
            self._outlier_timer_later()

    def _outlier_timer_later(self) -> None:
        det = self.outlier
        if det is None or self._outlier_timer is not None or self.stopped:
            return
        deadline = det.next_deadline()
        if deadline is None:
            return
        loop = running_loop()
        self._outlier_timer = loop.call_later(max(0.0, deadline - monotonic()), self._outlier_tick)

    def _outlier_tick(self) -> None:
        self._outlier_timer = None
        det = self.outlier
        if det is None:
            return
        for ep in det.tick(monotonic()):
            if isinstance(ep, Endpoint) and not ep.removed:
                self.set_health(ep, ejected=False, why="ejection over")
        self._outlier_timer_later()

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        """Begin active checks (the runtime calls this when the script's program starts)."""
        if self.started or self.stopped:
            return
        self.started = True
        if self.discovery is not None:
            self.discovery.watch(self)
        if self.health_check is not None:
            for ep in self.endpoints.values():
                self._start_check(ep)

    def _start_check(self, ep: Endpoint) -> None:
        assert self.health_check is not None
        ep.check = self.health_check.prober(self, ep)

    def stop(self) -> None:
        """Stop checks and timers and close idle connections (a reload replaced the program)."""
        self.stopped = True
        if self.discovery is not None:
            self.discovery.stop()
        for ep in self.endpoints.values():
            if ep.check is not None:
                ep.check.stop()
                ep.check = None
            ep.close_idle()
        for timer in (self.sweeper, self._ramp, self._outlier_timer):
            if timer is not None:
                timer.cancel()
        self.sweeper = self._ramp = self._outlier_timer = None

    def sweep_later(self) -> None:
        if self.sweeper is None and self.idle_timeout > 0:
            self.sweeper = running_loop().call_later(max(0.25, self.idle_timeout / 4), self._sweep)

    def _sweep(self) -> None:
        self.sweeper = None
        now = monotonic()
        left = False
        for ep in self.endpoints.values():
            q = ep.idle
            while q and now - q[0].idle_since >= self.idle_timeout:
                q.popleft().conn.close()
            left = left or bool(q)
        if left:
            self.sweep_later()

    def __repr__(self) -> str:
        n = f"{len(self.available)}/{len(self.endpoints)}"
        return f"<Upstream {self.name} {self.balancer_name} {n} available>"

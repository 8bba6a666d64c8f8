"""``accept_tls`` and ``connect_tls``: TLS inside a pipeline, over memory buffers.

Theory of operation: each filter drives one :class:`ssl.SSLObject` between two
:class:`ssl.MemoryBIO` buffers, so TLS is a step of the event stream like any codec and can sit
anywhere (after a PROXY protocol header, after a ClientHello peek, inside a tunnel). Both
filters have a ciphertext side (the network) and a plaintext side (the application):

- ``accept_tls().to(layout)`` terminates TLS: the stream coming in is ciphertext; once the
  handshake is done a sub-pipeline of ``layout`` gets the plaintext, and what it outputs is
  encrypted and goes out.
- ``connect_tls().to(layout)`` originates TLS: the stream coming in is plaintext, encrypted into
  a sub-pipeline of ``layout`` (typically ``connect``), whose output is decrypted and goes out.

A failed handshake is logged with OpenSSL's reason, counted in :data:`HANDSHAKE_FAILURES`, and
ends only its own stream (``StreamEnd("TLSError")``); a handshake not done within
``handshake_timeout`` ends with ``"TLSHandshakeTimeout"``. After the handshake the facts of the
session (:class:`TlsInfo`) are on the context: ``ctx.tls`` for the inbound side,
``ctx.vars.upstream_tls`` for the outbound side. A clean end of the plaintext stream sends
close_notify; the peer's close_notify ends the plaintext stream cleanly.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
from collections import Counter
from time import monotonic
from typing import Any

from ..core import Builder, Data, Event, Filter, StreamEnd, register
from ..core.checks import seconds
from ..core.pipeline import Pipeline
from ..core.script import service
from ..core.subpipes import _One
from ..net.certs import CertStore, peer_cert_info
from ..net.loop import running_loop
from ..net.tls import client_context, server_context

log = logging.getLogger("pipework")

#: failed handshakes by reason (OpenSSL's), for metrics and the admin API
HANDSHAKE_FAILURES: Counter[str] = Counter()
TLS_ERROR = "TLSError"
HANDSHAKE_TIMEOUT = "TLSHandshakeTimeout"
#: the certificate stores of the accept_tls steps serving now (expiry dates for scripts, metrics)
STORES: list[CertStore] = []
#: plaintext read from the SSLObject at a time
READ_SIZE = 64 * 1024


class TlsInfo:
    """What a finished handshake agreed: ``version`` ("TLSv1.3"), ``cipher``, ``alpn`` (the
    protocol chosen, or None), ``server_name`` (the SNI the client sent, or None), ``peer_cert``
    (the peer's certificate in DER, or None), ``resumed``."""

    __slots__ = ("_facts", "alpn", "cipher", "peer_cert", "resumed", "server_name", "version")

    def __init__(self, obj: ssl.SSLObject, server_name: str | None) -> None:
        self.version = obj.version()
        c = obj.cipher()
        self.cipher = c[0] if c else None
        self.alpn = obj.selected_alpn_protocol()
        self.server_name = server_name
        self.peer_cert = obj.getpeercert(binary_form=True)
        self.resumed = obj.session_reused
        self._facts: dict[str, Any] | None = None

    @property
    def peer(self) -> dict[str, Any] | None:
        """The peer certificate's facts (``subject``, ``sans``, ``issuer``, ``serial``,
        ``fingerprint_sha256``, ``escaped_pem`` for an ``X-Client-Cert`` field, ...), read on
        first use; None without a certificate. Verified when the handshake asked for it."""
        if self.peer_cert is None:
            return None
        if self._facts is None:
            self._facts = peer_cert_info(self.peer_cert)
        return self._facts

    def __repr__(self) -> str:
        return f"<TlsInfo {self.version} {self.cipher} alpn={self.alpn} sni={self.server_name}>"


class _TlsCfg(_One):
    __slots__ = (
        "built",
        "context",
        "handshake_timeout",
        "interval",
        "pin",
        "rotation",
        "server",
        "server_name",
        "settings",
        "store",
        "timer",
        "what",
    )

    def __init__(
        self,
        context: ssl.SSLContext,
        server: bool,
        handshake_timeout: float,
        server_name: str | None,
        what: str,
    ) -> None:
        super().__init__(None)
        self.context = context
        self.server = server
        self.handshake_timeout = handshake_timeout
        self.server_name = server_name
        self.what = what
        self.store: CertStore | None = None
        self.pin: str | None = None  # connect_tls: the server certificate's SHA-256, hex
        self.rotation = 0.0  # accept_tls: seconds between new session-ticket keys
        self.built = 0.0
        self.settings: dict[str, Any] = {}
        self.interval = 0.0
        self.timer: Any = None

    def watch(self, store: CertStore, settings: dict[str, Any], interval: float) -> None:
        """Reload ``store``'s files every ``interval`` seconds while the program serves."""
        self.store, self.settings, self.interval = store, settings, interval
        STORES.append(store)
        service(self)  # stopped (and its store forgotten) when a reload replaces the program

    def start(self) -> None:
        if self.timer is None and self.interval > 0:
            self.timer = running_loop().call_later(self.interval, self._check)

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.store in STORES:
            STORES.remove(self.store)

    def _check(self) -> None:
        self.timer = None
        assert self.store is not None
        changed = self.store.check()
        now = monotonic()
        rotate = self.rotation > 0 and now - self.built >= self.rotation
        if changed or rotate:
            # a new context: new certificates, and new session-ticket keys (tickets made with the
            # old ones no longer resume: those clients make a full handshake once)
            self.built = now
            try:
                self.context = server_context(self.store, **self.settings)
            except (ValueError, ssl.SSLError) as exc:
                log.error(
                    "%s: the new certificates do not make a TLS context (%s); keeping the old", self.what, exc
                )
            else:
                if changed:
                    names = ", ".join(n for p in changed for n in p.names)
                    log.info("%s: certificates reloaded (%s); new handshakes use them", self.what, names)
        self.timer = running_loop().call_later(self.interval, self._check)


class _Tls(Filter):
    """The SSLObject pump shared by both directions (see the module docstring)."""

    __slots__ = ("early", "ended", "incoming", "obj", "outgoing", "peer_done", "ready", "sub", "timer")

    def __init__(self, cfg: Any = None) -> None:
        super().__init__(cfg)
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.obj: ssl.SSLObject | None = None
        self.sub: Pipeline | None = None
        self.ready = False  # the handshake is done
        self.ended = False  # both ways
        self.peer_done = False  # the peer's side ended cleanly; ours may go on
        self.timer: Any = None
        self.early: list[bytes] = []  # plaintext the application sent before the handshake ended

    # the two sides, wired differently by the subclasses
    def _emit_cipher(self, data: bytes) -> None:
        raise NotImplementedError

    def _emit_plain(self, data: bytes) -> None:
        raise NotImplementedError

    def _end_cipher(self, error: str | None) -> None:
        raise NotImplementedError

    def _end_plain(self, error: str | None) -> None:
        raise NotImplementedError

    def _on_ready(self, info: TlsInfo) -> None:
        pass

    # -----------------------------------------------------------------------------------------------
    def _begin(self) -> None:
        cfg: _TlsCfg = self.cfg
        ctx = cfg.context
        if cfg.server:
            self.obj = ctx.wrap_bio(self.incoming, self.outgoing, server_side=True)
        else:
            self.obj = ctx.wrap_bio(self.incoming, self.outgoing, server_hostname=cfg.server_name)
        if cfg.handshake_timeout > 0:
            self.timer = running_loop().call_later(cfg.handshake_timeout, self._timed_out)

    def _timed_out(self) -> None:
        self.timer = None
        if not self.ready and not self.ended:
            HANDSHAKE_FAILURES["timeout"] += 1
            log.warning("%r: %s: no TLS handshake within %gs", self.pipeline.context, self.cfg.what,
                        self.cfg.handshake_timeout)  # fmt: skip
            self._fail(HANDSHAKE_TIMEOUT)

    def _cipher_in(self, data: bytes) -> None:
        if self.ended or self.peer_done:
            return
        self.incoming.write(data)
        self._pump()

    def _cipher_eof(self, error: str | None) -> None:
        if self.ended:
            return
        if self.peer_done:  # the plaintext side has had its end already
            if error is not None:
                self.ended = True
            return
        if not self.ready:  # gone before the handshake ended: nothing was said, end both ways
            self.ended = True
            self._cancel_timer()
            self._end_plain(error or "ConnectionReset")
            self._end_cipher(error)
            return
        if error is not None:
            self.ended = True
            self._end_plain(error)
            return
        self.incoming.write_eof()  # a read then ends the stream (a missing close_notify is common)
        self._pump()

    def _plain_in(self, data: bytes) -> None:
        obj = self.obj
        if obj is None or self.ended or not data:
            return
        try:
            obj.write(data)
        except ssl.SSLError as exc:
            self._handshake_failed(exc)
            return
        self._flush()

    def _plain_eof(self, error: str | None) -> None:
        if self.ended:
            return
        self.ended = True
        self._cancel_timer()
        if error is None and self.obj is not None and self.ready:
            try:
                self.obj.unwrap()  # close_notify
            except (ssl.SSLWantReadError, ssl.SSLError):
                pass
            self._flush()
        self._end_cipher(error)

    def _pump(self) -> None:
        obj = self.obj
        assert obj is not None
        if not self.ready:
            try:
                obj.do_handshake()
            except ssl.SSLWantReadError:
                self._flush()
                return
            except ssl.SSLError as exc:
                self._handshake_failed(exc)
                return
            self.ready = True
            self._cancel_timer()
            self._flush()
            sni = getattr(obj, "server_name_indication", None) if self.cfg.server else self.cfg.server_name
            self._on_ready(TlsInfo(obj, sni))
            if self.ended:
                return
        while True:
            try:
                chunk = obj.read(READ_SIZE)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                chunk = b""
            except ssl.SSLEOFError:
                # the connection closed without close_notify: most HTTP clients do that, and
                # HTTP frames its own messages (RFC 9112 9.8), so it is an ordinary end
                log.debug("%r: %s: closed without close_notify", self.pipeline.context, self.cfg.what)
                chunk = b""
            except ssl.SSLError as exc:
                log.warning("%r: %s: %s", self.pipeline.context, self.cfg.what, exc.reason or exc)
                self._fail(TLS_ERROR)
                return
            if not chunk:  # the peer's close_notify (or its EOF): a clean end both ways
                self._closed_by_peer()
                return
            self._emit_plain(chunk)
            if self.ended:
                return
        self._flush()

    def _closed_by_peer(self) -> None:
        """The peer will send no more (TLS 1.3 allows a half-close): the plaintext stream ends;
        ours ends, with close_notify, when the application ends it."""
        self._flush()
        if not self.peer_done:
            self.peer_done = True
            self._end_plain(None)

    def _flush(self) -> None:
        data = self.outgoing.read()
        if data:
            self._emit_cipher(data)

    def _handshake_failed(self, exc: ssl.SSLError) -> None:
        reason = exc.reason or type(exc).__name__
        HANDSHAKE_FAILURES[reason] += 1
        log.warning("%r: %s: TLS handshake failed: %s", self.pipeline.context, self.cfg.what, reason)
        self._flush()  # the alert tells the peer why
        self._fail(TLS_ERROR)

    def _fail(self, error: str) -> None:
        if self.ended:
            return
        self.ended = True
        self._cancel_timer()
        self._end_cipher(error)
        self._end_plain(error)

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def close(self) -> None:
        self._cancel_timer()
        if self.sub is not None:
            self.sub.close()


class AcceptTLS(_Tls):
    """``accept_tls``: ciphertext in and out; the plaintext in a sub-pipeline."""

    __slots__ = ()

    needs_start = True

    def start(self) -> None:
        self._begin()  # the handshake timeout runs from the connection's start

    def process(self, evt: Event) -> None:
        t = type(evt)
        if t is Data:
            self._cipher_in(evt.data)  # type: ignore[attr-defined]
        elif t is StreamEnd:
            self._cipher_eof(evt.error)  # type: ignore[attr-defined]

    def _on_ready(self, info: TlsInfo) -> None:
        ctx = self.pipeline.context
        ctx.tls = info
        layout = self.cfg.layout
        sub = self.sub = layout.spawn(ctx, self._from_app)
        sub.start()

    def _from_app(self, evt: Event) -> None:
        t = type(evt)
        if t is Data:
            self._plain_in(evt.data)  # type: ignore[attr-defined]
        elif t is StreamEnd:
            self._plain_eof(evt.error)  # type: ignore[attr-defined]

    def _emit_cipher(self, data: bytes) -> None:
        self._out(Data(data))

    def _emit_plain(self, data: bytes) -> None:
        if self.sub is not None:
            self.sub.input(Data(data))

    def _end_cipher(self, error: str | None) -> None:
        self._out(StreamEnd(error))

    def _end_plain(self, error: str | None) -> None:
        if self.sub is not None:
            self.sub.input(StreamEnd(error))


class ConnectTLS(_Tls):
    """``connect_tls``: plaintext in and out; the ciphertext through a sub-pipeline."""

    __slots__ = ()

    needs_start = True

    def start(self) -> None:
        self._begin()
        sub = self.sub = self.cfg.layout.spawn(self.pipeline.context, self._from_net)
        sub.start()
        self._pump()  # the ClientHello goes at once

    def process(self, evt: Event) -> None:
        t = type(evt)
        if t is Data:
            if self.ready:
                self._plain_in(evt.data)  # type: ignore[attr-defined]
            else:  # SSLObject.write raises before the handshake is done: it waits here
                self.early.append(evt.data)  # type: ignore[attr-defined]
        elif t is StreamEnd:
            if self.ready or evt.error:  # type: ignore[attr-defined]
                self._plain_eof(evt.error)  # type: ignore[attr-defined]
            else:
                self.early.append(b"")  # the end, after the handshake and what came before

    def _on_ready(self, info: TlsInfo) -> None:
        pin = self.cfg.pin
        if pin is not None:
            got = hashlib.sha256(info.peer_cert or b"").hexdigest()
            if got != pin:
                HANDSHAKE_FAILURES["pin mismatch"] += 1
                log.warning("%r: %s: the server's certificate is %s, not the pinned %s",
                            self.pipeline.context, self.cfg.what, got, pin)  # fmt: skip
                self._fail(TLS_ERROR)
                return
        self.pipeline.context.vars.upstream_tls = info
        early, self.early = self.early, []
        for d in early:
            if d:
                self._plain_in(d)
            else:
                self._plain_eof(None)

    def _from_net(self, evt: Event) -> None:
        t = type(evt)
        if t is Data:
            self._cipher_in(evt.data)  # type: ignore[attr-defined]
        elif t is StreamEnd:
            self._cipher_eof(evt.error)  # type: ignore[attr-defined]

    def _emit_cipher(self, data: bytes) -> None:
        if self.sub is not None:
            self.sub.input(Data(data))

    def _emit_plain(self, data: bytes) -> None:
        self._out(Data(data))

    def _end_cipher(self, error: str | None) -> None:
        if self.sub is not None:
            self.sub.input(StreamEnd(error))

    def _end_plain(self, error: str | None) -> None:
        self._out(StreamEnd(error))


def _pair(spec: Any, what: str) -> tuple[str, str, str | None]:
    """A certificate as the user gives it → (cert, key, passphrase)."""
    if isinstance(spec, tuple | list) and len(spec) in (2, 3):
        spec = dict(zip(("cert", "key", "passphrase"), spec, strict=False))
    if not isinstance(spec, dict) or "cert" not in spec or "key" not in spec:
        raise TypeError(
            f"{what}: a certificate is {{'cert': path, 'key': path}} or (cert, key), not {spec!r}"
        )
    return str(spec["cert"]), str(spec["key"]), spec.get("passphrase")


def _timeout(value: Any, what: str) -> float:
    seconds(value, f"{what}: handshake_timeout")
    return float(value)


def accept_tls(
    self: Builder,
    certificate: Any = None,
    *,
    certificates: list[Any] | None = None,
    alpn: list[str] | None = None,
    min_version: str = "TLSv1.2",
    ciphers: str | None = None,
    group: str | None = None,
    client_ca: str | None = None,
    verify_client: str = "none",
    handshake_timeout: float = 10.0,
    reload_interval: float = 5.0,
    session_tickets: bool = True,
    ticket_rotation: float = 12 * 3600.0,
) -> Builder:
    """Terminate TLS: the stream is decrypted into a sub-pipeline (``.to(layout)``).

    ``certificate``: ``{"cert": "site.pem", "key": "site.key", "passphrase": ...}`` or
    ``(cert, key)``; ``certificates``: several, chosen by the name the client asks for (SNI:
    exact, then wildcard; the first is the default). ``alpn``: protocols offered, in order of
    preference (``["h2", "http/1.1"]``). ``min_version``: "TLSv1.2" (default) or "TLSv1.3".
    ``ciphers`` (OpenSSL syntax) and ``group`` (an ECDH curve). ``client_ca`` and
    ``verify_client`` ("optional", "required"): mutual TLS. The session's facts are in
    ``ctx.tls`` (:class:`TlsInfo`). Certificates are checked at load (a key that does not match,
    an expired certificate, a missing file: an error naming the file) and their files every
    ``reload_interval`` seconds: changed files that load cleanly serve new handshakes, open
    connections keep theirs (0: no reload). Session tickets (resumption; ``session_tickets=False``
    turns them off) are made with keys that change every ``ticket_rotation`` seconds (checked
    with the files).
    """
    what = "accept_tls()"
    given = ([certificate] if certificate is not None else []) + list(certificates or [])
    store = CertStore()
    for spec in given:
        store.load(*_pair(spec, what))  # CertError (a ValueError) says which file and why
    settings: dict[str, Any] = {
        "alpn": alpn,
        "min_version": min_version,
        "ciphers": ciphers,
        "group": group,
        "client_ca": client_ca,
        "verify_client": verify_client,
        "tickets": bool(session_tickets),
        "what": what,
    }
    cfg = _TlsCfg(server_context(store, **settings), True, _timeout(handshake_timeout, what), None, what)
    cfg.rotation = _timeout(ticket_rotation, what)
    cfg.built = monotonic()
    cfg.watch(store, settings, _timeout(reload_interval, what))
    return self.add("accept_tls", AcceptTLS, cfg, 1)


def connect_tls(
    self: Builder,
    server_name: str | None = None,
    *,
    ca: str | None = None,
    verify: bool = True,
    certificate: Any = None,
    alpn: list[str] | None = None,
    min_version: str = "TLSv1.2",
    ciphers: str | None = None,
    pin: str | None = None,
    handshake_timeout: float = 10.0,
) -> Builder:
    """Originate TLS: the stream is encrypted into a sub-pipeline (``.to(layout)``, typically
    ``connect``). ``server_name``: the SNI sent and the name the server's certificate must
    carry; ``ca``: a PEM bundle to verify it with (the system's by default); ``verify=False``
    turns verification off (a warning is logged); ``certificate``: a client certificate, as for
    ``accept_tls``; ``pin``: the SHA-256 of the server certificate (hex, colons allowed), which
    must match as well. The session's facts are in ``ctx.vars.upstream_tls``."""
    what = "connect_tls()"
    pair = _pair(certificate, what) if certificate is not None else None
    if verify and server_name is None:
        raise ValueError(f"{what}: verifying the server needs server_name (or verify=False)")
    context = client_context(
        ca=ca, verify=verify, certificate=pair, alpn=alpn, min_version=min_version, ciphers=ciphers, what=what
    )
    cfg = _TlsCfg(context, False, _timeout(handshake_timeout, what), server_name, what)
    if pin is not None:
        digest = pin.lower().removeprefix("sha256:").replace(":", "")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"{what}: pin {pin!r} is not a SHA-256 in hex")
        cfg.pin = digest
    return self.add("connect_tls", ConnectTLS, cfg, 1)


def handshake_failures() -> dict[str, int]:
    """Failed TLS handshakes since the start, by reason (OpenSSL's, or "timeout")."""
    return dict(HANDSHAKE_FAILURES)


def certificates() -> list[dict[str, Any]]:
    """The certificates the ``accept_tls`` steps serve now: ``names``, ``subject``,
    ``not_after`` (a UTC datetime), ``days_left``, ``fingerprint_sha256`` and ``source`` (the
    files), for expiry checks and metrics."""
    return [
        {
            "names": list(p.names),
            "subject": p.subject,
            "not_after": p.not_after,
            "days_left": p.days_left(),
            "fingerprint_sha256": p.fingerprint_sha256,
            "source": p.source,
        }
        for store in STORES
        for p in store.pairs
    ]


register(accept_tls=accept_tls, connect_tls=connect_tls)

"""TLS contexts for the two ends of a connection, made once from the user's settings.

Theory of operation: :func:`server_context` makes the :class:`ssl.SSLContext` that terminates
TLS: one context per certificate, the default's in front, whose SNI callback records the name the
client asked for (as ``server_name_indication`` on the SSL object) and switches to the context of
the certificate the store picks for it — exact name, then wildcard, then the default. ALPN, the
lowest version (TLS 1.2 unless told otherwise), ciphers and the ECDH group apply to all of them,
as does client-certificate verification (mutual TLS). :func:`client_context` makes the context
that originates TLS: the peer's certificate verified against a CA bundle (the system's by
default) with its name checked, an optional client certificate, or no verification at all when
asked for explicitly (logged as a warning).

Server certificates come from a :class:`~pipework.net.certs.CertStore`, which loads, checks and
reloads them; a client certificate is a (cert_path, key_path[, passphrase]) tuple.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Sequence
from typing import Any

from .certs import CertError, CertStore, load_pair

log = logging.getLogger("pipework")

VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
VERIFY = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}

Pair = tuple[str, str] | tuple[str, str, str | None]


def _version(value: str, what: str) -> ssl.TLSVersion:
    try:
        return VERSIONS[value]
    except KeyError:
        raise ValueError(f"{what}: min_version {value!r} is not one of {', '.join(VERSIONS)}") from None


def _base(
    purpose: ssl.Purpose,
    alpn: Sequence[str] | None,
    min_version: str,
    ciphers: str | None,
    group: str | None,
    what: str,
) -> ssl.SSLContext:
    ctx = ssl.create_default_context(purpose)
    ctx.minimum_version = _version(min_version, what)
    if ciphers:
        try:
            ctx.set_ciphers(ciphers)
        except ssl.SSLError:
            raise ValueError(f"{what}: no cipher matches {ciphers!r} (OpenSSL cipher list syntax)") from None
    if group:
        try:
            ctx.set_ecdh_curve(group)
        except (ValueError, ssl.SSLError):
            raise ValueError(f"{what}: unknown group {group!r} (e.g. prime256v1, secp384r1)") from None
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def server_context(
    store: CertStore,
    *,
    alpn: Sequence[str] | None = None,
    min_version: str = "TLSv1.2",
    ciphers: str | None = None,
    group: str | None = None,
    client_ca: str | None = None,
    verify_client: str = "none",
    tickets: bool = True,
    what: str = "accept_tls()",
) -> ssl.SSLContext:
    """The context terminating TLS with the certificates of ``store`` (chosen by SNI as
    :meth:`CertStore.select` says). ``verify_client``: "none", "optional" or "required" (with
    ``client_ca``). ``tickets=False``: no session tickets (every handshake a full one). Raises
    ValueError for a bad setting. ``ciphers`` apply to TLS 1.2; TLS 1.3's suites are
    OpenSSL's."""
    if not store.pairs:
        raise ValueError(f"{what}: needs at least one certificate")
    if verify_client not in VERIFY:
        raise ValueError(f"{what}: verify_client {verify_client!r} is not one of {', '.join(VERIFY)}")
    if verify_client != "none" and not client_ca:
        raise ValueError(f"{what}: verify_client={verify_client!r} needs client_ca, the CAs to trust")
    contexts: dict[int, ssl.SSLContext] = {}
    for pair in store.pairs:
        ctx = _base(ssl.Purpose.CLIENT_AUTH, alpn, min_version, ciphers, group, what)
        pair.load_into(ctx)
        if client_ca:
            try:
                ctx.load_verify_locations(client_ca)
            except (FileNotFoundError, ssl.SSLError) as exc:
                raise ValueError(f"{what}: client_ca {client_ca}: {exc}") from None
        ctx.verify_mode = VERIFY[verify_client]
        if not tickets:
            ctx.options |= ssl.OP_NO_TICKET
            ctx.num_tickets = 0
        contexts[id(pair)] = ctx
    front = contexts[id(store.select(None))]

    def choose(obj: Any, name: str | None, current: ssl.SSLContext) -> None:
        obj.server_name_indication = name
        if name is not None:
            ctx = contexts.get(id(store.select(name)))
            if ctx is not None and ctx is not current:
                obj.context = ctx

    front.sni_callback = choose
    return front


def client_context(
    *,
    ca: str | None = None,
    verify: bool = True,
    certificate: Pair | None = None,
    alpn: Sequence[str] | None = None,
    min_version: str = "TLSv1.2",
    ciphers: str | None = None,
    what: str = "connect_tls()",
) -> ssl.SSLContext:
    """The context originating TLS: the server verified against ``ca`` (a PEM bundle; the
    system's by default) unless ``verify`` is False, with ``certificate`` presented if given."""
    ctx = _base(ssl.Purpose.SERVER_AUTH, alpn, min_version, ciphers, None, what)
    if ca:
        try:
            ctx.load_verify_locations(ca)
        except (FileNotFoundError, ssl.SSLError) as exc:
            raise ValueError(f"{what}: ca {ca}: {exc}") from None
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        log.warning("%s: the server's certificate will not be verified (verify=False)", what)
    if certificate is not None:
        try:  # checked as a server's are: the key matches, the dates hold, the files exist
            load_pair(*certificate).load_into(ctx)
        except CertError as exc:
            raise CertError(f"{what}: {exc}") from None
    return ctx

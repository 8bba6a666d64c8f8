"""Certificates and keys for TLS: load and check PEM files, pick one by SNI, reload on change, make a dev CA.

Theory of operation: a :class:`CertPair` is a certificate chain (leaf first, then intermediates)
and its private key, parsed once with ``cryptography``. :func:`load_pair` reads PEM files and
refuses, with one :class:`CertError` whose message names the file and says what to do, anything
the server could not use or a client would reject later: a missing file, no certificate, an
encrypted key without its passphrase or with a wrong one, a key that is not the certificate's, a
certificate outside its validity dates, a chain whose certificates do not each sign the one
before. The last is an error, not a warning: a misordered or foreign intermediate makes only
some clients fail (those without the right intermediate cached), which is far harder to trace
than a refusal at load.

A :class:`CertStore` holds the pairs a listener serves and picks one per handshake by server
name (SNI): an exact name, then a single-label wildcard, then the default. Pairs loaded from
files are watched, without threads: the owner calls :meth:`CertStore.check` from its own timer;
a pair whose files changed (inode, size or mtime) is loaded again and swapped in only if the new
files pass every check, and the ``on_change`` callbacks get the new pair so that the TLS side
builds a new ``ssl.SSLContext`` (open connections keep the one they have). A bad new file keeps
the old pair and is logged once per state of the files, so a rotation caught half-way (the
certificate written, the key not yet) resolves itself at the next check.

:meth:`CertPair.load_into` hands a pair to OpenSSL; :func:`peer_cert_info` turns a client's
certificate into facts for scripts (mutual TLS). :func:`make_ca`, :func:`issue` and :func:`save`
make a development CA and certificates (``pipework cert``, and the tests: no key is committed).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import re
import secrets
import ssl
import tempfile
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PrivateKeyTypes,
    PublicKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger("pipework.certs")

StrPath = str | os.PathLike[str]
Passphrase = str | bytes | None
#: a file's identity and state: (device, inode, size, mtime in ns), or the reason it cannot be read
_Stat = tuple[int, int, int, int] | str

#: development certificates: 10 years for a CA, 825 days for a leaf (the longest Apple's clients accept)
CA_DAYS = 3650
LEAF_DAYS = 825
RSA_SIZES = (2048, 3072, 4096)
#: issued certificates start this long before now, so that a peer whose clock is a little behind accepts them
BACKDATE = dt.timedelta(minutes=5)

_ISSUER_KEYS = (
    rsa.RSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
)
_KEY_BLOCK = re.compile(rb"-----BEGIN ((?:ENCRYPTED |RSA |EC |)PRIVATE KEY)-----.+?-----END \1-----", re.S)
_DNS = re.compile(r"(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")


class CertError(ValueError):
    """A certificate or key that cannot be used; the message names the file and says what to do."""


def _when(t: dt.datetime) -> str:
    return f"{t:%Y-%m-%d %H:%M:%S} UTC"


def _now(now: dt.datetime | None) -> dt.datetime:
    return now if now is not None else dt.datetime.now(dt.UTC)


def _spki(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _normal(name: str) -> str:
    return name.strip().strip("[]").rstrip(".").lower()


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def _san(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


def _common_names(cert: x509.Certificate) -> list[str]:
    return [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]


class CertPair:
    """A certificate chain and its private key, ready for an ``ssl.SSLContext``.

    ``names`` are the DNS names (wildcards included, lower-cased) and IP addresses of the leaf's
    subjectAltName, or its common name when it has none. ``not_before``/``not_after`` are aware
    UTC datetimes, ``subject``/``issuer`` RFC 4514 strings, ``fingerprint_sha256`` lower-case hex
    of the leaf's DER. Made by :func:`load_pair` (checked) or :func:`make_ca`/:func:`issue`.
    """

    __slots__ = (
        "_dns",
        "_ips",
        "_source",
        "_wild",
        "cert",
        "chain",
        "fingerprint_sha256",
        "issuer",
        "key",
        "names",
        "not_after",
        "not_before",
        "subject",
    )

    def __init__(
        self, chain: Sequence[x509.Certificate], key: PrivateKeyTypes, source: _Source | None = None
    ) -> None:
        if not chain:
            raise ValueError("a CertPair needs at least one certificate")
        self.chain = tuple(chain)
        self.key = key
        self.cert = leaf = self.chain[0]
        self._source = source
        self.subject = leaf.subject.rfc4514_string()
        self.issuer = leaf.issuer.rfc4514_string()
        self.not_before = leaf.not_valid_before_utc
        self.not_after = leaf.not_valid_after_utc
        self.fingerprint_sha256 = leaf.fingerprint(hashes.SHA256()).hex()
        san = _san(leaf)
        if san is None:
            dns = [n.lower() for n in _common_names(leaf)]
            ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
        else:
            dns = [n.lower() for n in san.get_values_for_type(x509.DNSName)]
            ips = [
                ip
                for ip in san.get_values_for_type(x509.IPAddress)
                if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address)
            ]
        self.names: tuple[str, ...] = (*dns, *map(str, ips))
        self._dns = frozenset(n for n in dns if not n.startswith("*."))
        # RFC 6125 §6.4.3: only a whole left-most label may be "*", and (as browsers do) never right
        # above a top-level label: "*.com" matches nothing
        self._wild = frozenset(n[2:] for n in dns if n.startswith("*.") and "." in n[2:] and "*" not in n[2:])
        self._ips = frozenset(ips)

    @property
    def chain_pem(self) -> bytes:
        """The chain as PEM, leaf first."""
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)

    @property
    def key_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM (keep it in memory; :func:`save` writes it safely)."""
        return self.key_bytes()

    def key_bytes(self, passphrase: Passphrase = None) -> bytes:
        """The private key as PKCS#8 PEM, encrypted with ``passphrase`` when given."""
        pw = passphrase.encode() if isinstance(passphrase, str) else passphrase
        enc: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(pw) if pw else serialization.NoEncryption()
        )
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)

    def load_into(self, ctx: ssl.SSLContext) -> None:
        """Install the chain and key into ``ctx`` (``load_cert_chain``); ssl.SSLError if OpenSSL refuses."""
        # load_cert_chain reads only from paths. Passing the original files would read them again,
        # maybe half-rotated since they were checked (and pairs made in memory have none); so write
        # what was checked to a private file (mkstemp: mode 0600, O_EXCL) and delete it at once. The
        # key in it is encrypted with a one-time random passphrase that lives only in memory: no
        # plaintext key touches the disk, even if the process dies before the unlink.
        once = secrets.token_urlsafe(32)
        fd, path = tempfile.mkstemp(prefix="pipework-cert-", suffix=".pem")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(self.chain_pem + self.key_bytes(once))
            ctx.load_cert_chain(path, password=once)
        finally:
            os.unlink(path)

    def matches(self, server_name: str) -> bool:
        """Whether the certificate is valid for ``server_name`` (a DNS name or an IP address).

        Exact names match case-insensitively; ``*.example.com`` matches one more label
        (``a.example.com``), never ``example.com`` nor ``a.b.example.com`` (RFC 6125 §6.4.3).
        """
        name = _normal(server_name)
        ip = _ip(name)
        if ip is not None:
            return ip in self._ips
        if name in self._dns:
            return True
        label, dot, parent = name.partition(".")
        return bool(label and dot) and parent in self._wild

    def days_left(self, now: dt.datetime | None = None) -> float:
        """Days until ``not_after`` (negative once expired); ``now`` defaults to the current time."""
        return (self.not_after - _now(now)).total_seconds() / 86400

    @property
    def source(self) -> tuple[str, str] | None:
        """The (certificate, key) paths this pair was loaded from, or None if made in memory."""
        return None if self._source is None else (self._source.cert_path, self._source.key_path)

    def __repr__(self) -> str:
        return f"<CertPair {', '.join(self.names) or self.subject} until {_when(self.not_after)}>"


class _Source:
    """Where a pair was loaded from, how, and the state of its files before they were read."""

    __slots__ = ("cert_path", "key_path", "passphrase", "stat")

    def __init__(self, cert_path: str, key_path: str, passphrase: Passphrase) -> None:
        self.cert_path = cert_path
        self.key_path = key_path
        self.passphrase = passphrase
        self.stat = self.current()

    def current(self) -> tuple[_Stat, _Stat]:
        return _stat(self.cert_path), _stat(self.key_path)


def _stat(path: str) -> _Stat:
    try:
        st = os.stat(path)
    except OSError as exc:
        return exc.strerror or str(exc)
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise CertError(
            f"{path}: cannot read the {what} file ({exc.strerror or exc}); check the path and its permissions"
        ) from None


def _parse_chain(data: bytes, path: str) -> list[x509.Certificate]:
    if b"-----BEGIN CERTIFICATE-----" not in data:
        hint = (
            " (it holds a private key: are the certificate and key paths swapped?)"
            if _KEY_BLOCK.search(data)
            else ""
        )
        raise CertError(
            f"{path}: no PEM certificate in the file{hint}; give the certificate chain, "
            "leaf first, in blocks starting with -----BEGIN CERTIFICATE-----"
        )
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise CertError(
            f"{path}: a certificate cannot be parsed ({exc}); write the file again from its source"
        ) from None


def _parse_key(data: bytes, path: str, passphrase: Passphrase) -> PrivateKeyTypes:
    m = _KEY_BLOCK.search(data)
    if m is None:
        raise CertError(
            f"{path}: no PEM private key in the file; give the key file "
            "(a block starting with -----BEGIN PRIVATE KEY----- or -----BEGIN RSA/EC PRIVATE KEY-----)"
        )
    block = m.group(0)
    # PKCS#8 says BEGIN ENCRYPTED PRIVATE KEY; the older PKCS#1 and SEC 1 forms a Proc-Type header
    encrypted = m.group(1) == b"ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in block
    if encrypted and not passphrase:
        raise CertError(f"{path}: the private key is encrypted; give its passphrase")
    pw = passphrase.encode() if isinstance(passphrase, str) else passphrase
    try:
        return serialization.load_pem_private_key(block, pw if encrypted else None)
    except ValueError as exc:
        if encrypted:
            raise CertError(
                f"{path}: wrong passphrase for the private key; give the one it was encrypted with"
            ) from None
        raise CertError(
            f"{path}: the private key cannot be parsed ({exc}); write the file again from its source"
        ) from None
    except UnsupportedAlgorithm as exc:
        raise CertError(f"{path}: unsupported private key ({exc}); use an RSA or ECDSA key") from None


def _check(
    chain: Sequence[x509.Certificate], key: PrivateKeyTypes, cert_path: str, key_path: str, now: dt.datetime
) -> None:
    leaf = chain[0]
    if _spki(leaf.public_key()) != _spki(key.public_key()):
        raise CertError(
            f"{key_path}: this private key does not match the certificate in {cert_path} "
            f"({leaf.subject.rfc4514_string()}); give the key the certificate was issued for"
        )
    for i, c in enumerate(chain):
        which = (
            "the certificate" if i == 0 else f"intermediate certificate {i} ({c.subject.rfc4514_string()})"
        )
        nb, na = c.not_valid_before_utc, c.not_valid_after_utc
        if now < nb:
            raise CertError(
                f"{cert_path}: {which} is not valid yet: valid from {_when(nb)} to {_when(na)}, "
                f"and now is {_when(now)}; check the clock, or wait"
            )
        if now > na:
            raise CertError(f"{cert_path}: {which} expired on {_when(na)} (valid from {_when(nb)}); renew it")
    for i in range(1, len(chain)):
        child, parent = chain[i - 1], chain[i]
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature):
            raise CertError(
                f"{cert_path}: certificate {i + 1} in the file ({parent.subject.rfc4514_string()}) did not "
                f"issue certificate {i} ({child.subject.rfc4514_string()}, issued by "
                f"{child.issuer.rfc4514_string()}); put the leaf first, then each issuer in order"
            ) from None


def load_pair(
    cert_path: StrPath,
    key_path: StrPath | None = None,
    passphrase: Passphrase = None,
    *,
    now: dt.datetime | None = None,
) -> CertPair:
    """Load and check a PEM chain (leaf first) and its PEM private key.

    ``key_path`` None takes the key from the certificate file. The key may be PKCS#1, PKCS#8 or
    SEC 1 (EC), encrypted with ``passphrase`` or not. ``now`` (aware, UTC) is for tests.
    Raises :class:`CertError` for every reason the pair cannot be served; see the module docstring.
    """
    cpath = os.fspath(cert_path)
    kpath = cpath if key_path is None else os.fspath(key_path)
    source = _Source(cpath, kpath, passphrase)
    chain = _parse_chain(_read(cpath, "certificate"), cpath)
    key = _parse_key(
        _read(kpath, "key") if kpath != cpath else _read(cpath, "certificate"), kpath, passphrase
    )
    _check(chain, key, cpath, kpath, _now(now))
    try:
        return CertPair(chain, key, source)
    except ValueError as exc:  # a malformed extension shows up only when it is read
        raise CertError(
            f"{cpath}: the certificate cannot be read ({exc}); write the file again from its source"
        ) from None


class _Entry:
    __slots__ = ("default", "pair", "stat")

    def __init__(self, pair: CertPair, default: bool) -> None:
        self.pair = pair
        self.default = default
        # the state of the files last tried: the loaded pair's, or that of a rotation that failed
        self.stat = pair._source.stat if pair._source is not None else None


class CertStore:
    """The certificates of one listener, chosen by SNI, reloaded when their files change.

    ``on_change(pair)`` (and each callback given to :meth:`watch`) is called with every pair
    :meth:`check` swaps in. Nothing here runs by itself: the owner calls :meth:`check` from a
    timer of its event loop (every few seconds), so callbacks run on that loop.
    """

    __slots__ = ("_callbacks", "_entries", "_exact", "_wild")

    def __init__(self, on_change: Callable[[CertPair], None] | None = None) -> None:
        self._entries: list[_Entry] = []
        self._exact: dict[str, CertPair] = {}
        self._wild: dict[str, CertPair] = {}
        self._callbacks: list[Callable[[CertPair], None]] = [] if on_change is None else [on_change]

    def add(self, pair: CertPair, default: bool = False) -> None:
        """Serve ``pair``; the first pair added is the default unless a later one says ``default``.

        Where two pairs have the same name, the first added wins. Pairs from :func:`load_pair`
        are watched by :meth:`check`.
        """
        if default:
            for e in self._entries:
                e.default = False
        self._entries.append(_Entry(pair, default or not self._entries))
        self._index()

    def load(
        self,
        cert_path: StrPath,
        key_path: StrPath | None = None,
        passphrase: Passphrase = None,
        default: bool = False,
    ) -> CertPair:
        """:func:`load_pair` then :meth:`add`; raises :class:`CertError`."""
        pair = load_pair(cert_path, key_path, passphrase)
        self.add(pair, default)
        return pair

    def watch(self, callback: Callable[[CertPair], None]) -> None:
        """Call ``callback(new_pair)`` whenever :meth:`check` swaps a pair in."""
        self._callbacks.append(callback)

    @property
    def pairs(self) -> list[CertPair]:
        return [e.pair for e in self._entries]

    @property
    def default(self) -> CertPair | None:
        return next((e.pair for e in self._entries if e.default), None)

    def select(self, server_name: str | None) -> CertPair:
        """The pair for ``server_name``: an exact name, else a wildcard one, else the default.

        Raises :class:`CertError` when the store is empty.
        """
        if server_name:
            name = _normal(server_name)
            pair = self._exact.get(name)
            if pair is not None:
                return pair
            label, dot, parent = name.partition(".")
            if label and dot:
                pair = self._wild.get(parent)
                if pair is not None:
                    return pair
        pair = self.default
        if pair is None:
            raise CertError("no certificate to serve: add one (a certificate and key) before accepting TLS")
        return pair

    def check(self, now: dt.datetime | None = None) -> list[CertPair]:
        """Reload the pairs whose files changed; return the pairs swapped in (often none).

        A pair is swapped only if its new files pass every check of :func:`load_pair`; otherwise
        the old one keeps serving and the reason is logged once for that state of the files.
        """
        swapped: list[CertPair] = []
        for e in self._entries:
            src = e.pair._source
            if src is None:
                continue
            current = src.current()
            if current == e.stat:
                continue
            try:
                new = load_pair(src.cert_path, src.key_path, src.passphrase, now=now)
            except CertError as exc:
                e.stat = current
                log.error(
                    "certificate reload failed, still serving the one valid until %s: %s",
                    _when(e.pair.not_after),
                    exc,
                )
                continue
            assert new._source is not None
            e.pair, e.stat = new, new._source.stat
            log.info("%s: certificate reloaded: %s", src.cert_path, new)
            swapped.append(new)
        if swapped:
            self._index()
            for pair in swapped:
                for cb in self._callbacks:
                    cb(pair)
        return swapped

    def _index(self) -> None:
        self._exact.clear()
        self._wild.clear()
        for e in self._entries:
            for name in e.pair.names:
                if name.startswith("*."):
                    self._wild.setdefault(name[2:], e.pair)
                else:
                    self._exact.setdefault(name, e.pair)


def peer_cert_info(der: bytes) -> dict[str, Any]:
    """Facts about a peer's (client's) certificate, for scripts doing mutual TLS.

    Keys: ``subject``, ``issuer`` (RFC 4514 strings), ``common_name`` ("" if none), ``sans``
    (DNS names, IP addresses, e-mails and URIs as strings), ``serial`` (upper-case hex, as
    nginx's ``$ssl_client_serial``), ``not_before``/``not_after`` (aware UTC datetimes),
    ``fingerprint_sha256`` (lower-case hex), ``pem``, and ``escaped_pem``: the PEM URL-encoded,
    as nginx's ``$ssl_client_escaped_cert``, fit for an ``X-Client-Cert`` header.
    Raises :class:`CertError` if ``der`` is not a certificate.
    """
    try:
        cert = x509.load_der_x509_certificate(der)
        san = _san(cert)
    except ValueError as exc:
        raise CertError(f"the peer's certificate cannot be parsed ({exc})") from None
    sans: list[str] = []
    if san is not None:
        for gn in san:
            v = gn.value
            sans.append(v if isinstance(v, str) else str(v))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
    cns = _common_names(cert)
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "common_name": cns[0] if cns else "",
        "sans": sans,
        "serial": format(cert.serial_number, "X"),
        "not_before": cert.not_valid_before_utc,
        "not_after": cert.not_valid_after_utc,
        "fingerprint_sha256": cert.fingerprint(hashes.SHA256()).hex(),
        "pem": pem,
        "escaped_pem": urllib.parse.quote(pem, safe=""),
    }


# --- making certificates (pipework cert) -------------------------------------------------------


def new_key(kind: str = "ecdsa", rsa_bits: int = 2048) -> CertificateIssuerPrivateKeyTypes:
    """A new private key: ``"ecdsa"`` (P-256) or ``"rsa"`` of ``rsa_bits`` (2048, 3072 or 4096)."""
    if kind == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "rsa":
        if rsa_bits not in RSA_SIZES:
            raise ValueError(f"RSA keys are {', '.join(map(str, RSA_SIZES))} bits, not {rsa_bits}")
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    raise ValueError(f"key type is 'ecdsa' or 'rsa', not {kind!r}")


def _general_name(name: str) -> x509.GeneralName:
    """The subjectAltName entry for ``name``: an IP address, an e-mail (@), a URI (://) or a DNS name."""
    ip = _ip(name.strip("[]"))
    if ip is not None:
        return x509.IPAddress(ip)
    if "://" in name:
        return x509.UniformResourceIdentifier(name)
    if "@" in name:
        return x509.RFC822Name(name)
    try:
        dns = name.rstrip(".").encode("idna").decode("ascii").lower() if not name.isascii() else name.lower()
    except UnicodeError:
        dns = ""
    if not _DNS.fullmatch(dns) or dns == "*":
        raise ValueError(
            f"{name!r} is not a DNS name (a wildcard only as the whole first label: *.example.test), "
            "an IP address, an e-mail or a URI"
        )
    return x509.DNSName(dns)


def _constraint(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_network(name, strict=False))
    except ValueError:
        pass
    gn = _general_name(name.lstrip("."))
    if not isinstance(gn, x509.DNSName) or gn.value.startswith("*"):
        raise ValueError(
            f"a name constraint is a DNS domain (example.test) or a network (10.0.0.0/8), not {name!r}"
        )
    return gn


def make_ca(
    name: str | None = None,
    *,
    key_type: str = "ecdsa",
    rsa_bits: int = 2048,
    days: int = CA_DAYS,
    permitted: Sequence[str] = (),
    now: dt.datetime | None = None,
) -> CertPair:
    """A new self-signed development CA.

    ``name`` is its common name (default: "pipework development CA" and a random tag, so that two
    CAs never share a subject). ``permitted`` are name constraints (DNS domains, IP networks):
    the CA can then issue only for those. Raises ValueError for a bad argument.
    """
    if days < 1:
        raise ValueError(f"days must be >= 1, not {days}")
    key = new_key(key_type, rsa_bits)
    start = _now(now) - BACKDATE
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pipework development CA"),
            x509.NameAttribute(
                NameOID.COMMON_NAME, name or f"pipework development CA {secrets.token_hex(4)}"
            ),
        ]
    )
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True, rsa_key=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if permitted:
        b = b.add_extension(
            x509.NameConstraints(
                permitted_subtrees=[_constraint(n) for n in permitted], excluded_subtrees=None
            ),
            critical=True,
        )
    return CertPair([b.sign(key, hashes.SHA256())], key)


def _key_usage(ca: bool, rsa_key: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=rsa_key and not ca,  # RSA key exchange (TLS 1.2's RSA suites)
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def issue(
    ca: CertPair,
    names: Sequence[str],
    *,
    key_type: str = "ecdsa",
    rsa_bits: int = 2048,
    days: int = LEAF_DAYS,
    client: bool = False,
    now: dt.datetime | None = None,
) -> CertPair:
    """A new certificate signed by ``ca`` for ``names`` (DNS names, wildcards, IPs; e-mails and URIs too).

    A server certificate (serverAuth) by default, a client one (clientAuth, for mutual TLS) with
    ``client``. The first name is the common name; all are subjectAltNames. The validity ends
    with the CA's at the latest. ``now`` shifts the dates (tests make expired certificates with
    it). Raises ValueError for a bad name or a ``ca`` that is not a CA.
    """
    if not names:
        raise ValueError("give at least one name (a DNS name or an IP address)")
    if days < 1:
        raise ValueError(f"days must be >= 1, not {days}")
    try:
        is_ca = ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca or not isinstance(ca.key, _ISSUER_KEYS):
        raise ValueError(f"{ca.subject} is not a CA certificate; make one with make_ca (pipework cert ca)")
    sans = [_general_name(n) for n in names]
    _within_constraints(ca, sans)
    key = new_key(key_type, rsa_bits)
    start = _now(now) - BACKDATE
    end = min(start + dt.timedelta(days=days), ca.not_after)
    try:
        ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    except x509.ExtensionNotFound:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key())
    cn = names[0][:64]  # RFC 5280's upper bound for a common name
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pipework development certificate"),
                    x509.NameAttribute(NameOID.COMMON_NAME, cn),
                ]
            )
        )
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False, rsa_key=isinstance(key, rsa.RSAPrivateKey)), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(aki, critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    chain = [cert, *ca.chain]
    if chain[-1].subject == chain[-1].issuer:  # clients have the root already: serve only up to it
        chain.pop()
    return CertPair(chain, key)


def _within_constraints(ca: CertPair, sans: Sequence[x509.GeneralName]) -> None:
    """Refuse names outside the CA's permitted subtrees, which clients reject (RFC 5280 §4.2.1.10)."""
    try:
        permitted = ca.cert.extensions.get_extension_for_class(x509.NameConstraints).value.permitted_subtrees
    except x509.ExtensionNotFound:
        return
    domains = [g.value.lower() for g in permitted or () if isinstance(g, x509.DNSName)]
    nets = [g.value for g in permitted or () if isinstance(g, x509.IPAddress)]
    for gn in sans:
        if isinstance(gn, x509.DNSName) and domains:
            name = gn.value.removeprefix("*.")
            ok = any(name == d or name.endswith("." + d) for d in domains)
        elif isinstance(gn, x509.IPAddress) and nets:
            ok = any(
                gn.value in n for n in nets if isinstance(n, ipaddress.IPv4Network | ipaddress.IPv6Network)
            )
        else:
            continue
        if not ok:
            allowed = ", ".join(map(str, (*domains, *nets)))
            raise ValueError(f"{ca.subject} may sign only for {allowed}, not {gn.value}")


def save(pair: CertPair, cert_path: StrPath, key_path: StrPath, passphrase: Passphrase = None) -> None:
    """Write the chain (mode 0644) and the key (mode 0600, encrypted with ``passphrase`` if given).

    Each file is written beside its target and renamed over it, so a :class:`CertStore` watching
    them never reads half a file. Raises OSError.
    """
    _write(Path(cert_path), pair.chain_pem, 0o644)
    _write(Path(key_path), pair.key_bytes(passphrase), 0o600)


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)  # the umask may have taken bits off
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

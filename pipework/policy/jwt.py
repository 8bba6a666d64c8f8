"""JSON Web Token verification (RFC 7519) of compact JWS tokens (RFC 7515), keys from PEM and JWKS.

Theory of operation: a token is ``BASE64URL(header) "." BASE64URL(payload) "." BASE64URL(sig)``.
:meth:`JwtVerifier.verify` decodes the header, refuses ``alg: none`` and every algorithm the
verifier was not built for, picks the keys that may verify that algorithm (by ``kid`` when the
token names one), checks the signature over the first two parts as they are, and only then
decodes the payload and checks its claims against ``now``, which the caller passes in. Every
refusal raises :class:`JwtError`, whose ``reason`` is short and safe to put in a 401 response's
``WWW-Authenticate`` and in a log line.

Key confusion cannot happen: a key has a type (``oct``, ``RSA``, ``EC`` with its curve, ``OKP``
with its curve) and verifies only the algorithms of that type (RFC 7518 §3.1); an HMAC secret is
made only by :meth:`JwtKey.hmac` (or a JWK of type ``oct``), never from a PEM file, so an RSA
public key can never be used as an HMAC secret for an ``HS256`` token.

Why not PyJWT (the tests use it as the independent peer): verification is ~100 lines over
``cryptography``, which is a dependency already; this module is shaped for a proxy (the clock
passed in, keys indexed once per algorithm, one error type with a reason for the 401), and pulls
no second JOSE stack into the data path.

Pure code: no I/O except :meth:`JwtKey.from_pem_file`, which reads the file it is given, once.
Refreshing a JWKS is the caller's job: build a :class:`Jwks` from the new document and
:meth:`JwtVerifier.with_keys`.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hmac
import json
import math
import re
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ..core.checks import whole

#: The longest token accepted, in bytes. Identity providers' tokens with many group claims reach
#: ~5 KiB; the limit bounds the base64 and JSON work an unauthenticated client can ask for.
MAX_TOKEN_BYTES = 16 * 1024

#: RFC 7518 §3.3: "A key of size 2048 bits or larger MUST be used with these algorithms."
MIN_RSA_BITS = 2048


class JwtReason(enum.StrEnum):
    """Why a token was refused: short, fixed texts that a 401 response may show."""

    MALFORMED = "malformed token"
    ALG_NONE = "unsigned token (alg none)"
    ALG_NOT_ALLOWED = "algorithm not allowed"
    UNKNOWN_KID = "unknown key id"
    NO_KEY = "no key for algorithm"
    BAD_SIGNATURE = "bad signature"
    EXPIRED = "expired"
    NOT_YET_VALID = "not yet valid"
    ISSUED_IN_FUTURE = "issued in the future"
    MISSING_CLAIM = "missing claim"
    INVALID_CLAIM = "invalid claim"
    WRONG_AUDIENCE = "wrong audience"
    WRONG_ISSUER = "wrong issuer"


class JwtError(Exception):
    """A refused token. ``reason`` (a :class:`JwtReason`) is for the client: the 401 response's
    ``WWW-Authenticate: Bearer error="invalid_token", error_description="<reason>"`` (RFC 6750
    §3.1). ``detail`` is for the log: which claim, which values (token values are truncated)."""

    def __init__(self, reason: JwtReason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else str(reason))
        self.reason = reason
        self.detail = detail


def _show(value: object) -> str:
    """A token's value for a log line: repr, cut short (the token is the client's to write)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- algorithms (RFC 7518 §3.1) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Alg:
    kty: str  # the JWK key type that verifies it
    hash: hashes.HashAlgorithm | None
    crv: str | None = None  # EC: the curve the key must be on (RFC 7518 §3.4)
    pss: bool = False


_SHA = {256: hashes.SHA256(), 384: hashes.SHA384(), 512: hashes.SHA512()}
ALGORITHMS: dict[str, _Alg] = {
    **{f"HS{n}": _Alg("oct", h) for n, h in _SHA.items()},
    **{f"RS{n}": _Alg("RSA", h) for n, h in _SHA.items()},
    **{f"PS{n}": _Alg("RSA", h, pss=True) for n, h in _SHA.items()},
    "ES256": _Alg("EC", _SHA[256], "P-256"),
    "ES384": _Alg("EC", _SHA[384], "P-384"),
    "ES512": _Alg("EC", _SHA[512], "P-521"),
    "EdDSA": _Alg("OKP", None),  # RFC 8037 §3.1: Ed25519 or Ed448, by the key's curve
}
# RFC 7518 §3.5: PSS with MGF1 over the same hash and a salt as long as the hash output.
_PSS = {h.name: padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size) for h in _SHA.values()}
_PKCS1 = padding.PKCS1v15()
# curve: (JWK name, coordinate bytes)
_EC_CURVES: dict[str, tuple[str, int]] = {
    "secp256r1": ("P-256", 32),
    "secp384r1": ("P-384", 48),
    "secp521r1": ("P-521", 66),
}
_JWK_CURVES: dict[str, ec.EllipticCurve] = {
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
}

_PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey


# -- keys -------------------------------------------------------------------------------------


class JwtKey:
    """One verification key: an HMAC secret or a public key, with an optional ``kid`` and ``alg``.

    Made by :meth:`hmac`, :meth:`from_pem`, :meth:`from_pem_file`, :meth:`from_public_key` or
    :meth:`from_jwk`; all raise ValueError with the reason for an unusable key. ``alg``, when
    given (or present in the JWK), restricts the key to that one algorithm.
    """

    __slots__ = ("_key", "_secret", "alg", "crv", "kid", "kty")

    def __init__(
        self,
        kty: str,
        crv: str | None,
        secret: bytes,
        key: _PublicKey | None,
        kid: str | None,
        alg: str | None,
    ) -> None:
        spec = ALGORITHMS.get(alg) if alg is not None else None
        if alg is not None and (spec is None or spec.kty != kty or spec.crv not in (None, crv)):
            raise ValueError(f"a {kty} {crv or ''} key cannot be for algorithm {alg!r}")
        self.kty, self.crv, self.kid, self.alg = kty, crv, kid, alg
        self._secret = secret
        self._key = key

    @classmethod
    def hmac(cls, secret: bytes | str, kid: str | None = None, alg: str | None = None) -> JwtKey:
        """A shared secret for HS256/384/512 (a str is UTF-8 encoded).

        RFC 7518 §3.2: the key must be at least as long as the hash output, so at least 32 bytes
        (48 for HS384, 64 for HS512: a shorter secret does not verify those). A secret that looks
        like a PEM or SSH key is refused: that is the key-confusion mistake.
        """
        raw = secret.encode() if isinstance(secret, str) else bytes(secret)
        if len(raw) < 32:
            raise ValueError(f"an HMAC secret must be at least 32 bytes (RFC 7518 §3.2), not {len(raw)}")
        if raw.lstrip().startswith((b"-----BEGIN", b"ssh-", b"ecdsa-sha2-")):
            raise ValueError("this secret is a PEM or SSH key: load public keys with JwtKey.from_pem")
        return cls("oct", None, raw, None, kid, alg)

    @classmethod
    def from_public_key(cls, key: object, kid: str | None = None, alg: str | None = None) -> JwtKey:
        """A ``cryptography`` public key (or private key, whose public half is kept)."""
        if isinstance(
            key,
            rsa.RSAPrivateKey
            | ec.EllipticCurvePrivateKey
            | ed25519.Ed25519PrivateKey
            | ed448.Ed448PrivateKey,
        ):
            key = key.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            if key.key_size < MIN_RSA_BITS:
                raise ValueError(
                    f"an RSA key must have at least {MIN_RSA_BITS} bits (RFC 7518 §3.3), not {key.key_size}"
                )
            return cls("RSA", None, b"", key, kid, alg)
        if isinstance(key, ec.EllipticCurvePublicKey):
            if key.curve.name not in _EC_CURVES:
                raise ValueError(f"unsupported elliptic curve {key.curve.name} (P-256, P-384 and P-521 are)")
            return cls("EC", _EC_CURVES[key.curve.name][0], b"", key, kid, alg)
        if isinstance(key, ed25519.Ed25519PublicKey):
            return cls("OKP", "Ed25519", b"", key, kid, alg)
        if isinstance(key, ed448.Ed448PublicKey):
            return cls("OKP", "Ed448", b"", key, kid, alg)
        raise ValueError(f"unsupported key type {type(key).__name__} (RSA, EC, Ed25519 and Ed448 are)")

    @classmethod
    def from_pem(cls, data: bytes | str, kid: str | None = None, alg: str | None = None) -> JwtKey:
        """A PEM public key, certificate (its public key) or unencrypted private key (its public half)."""
        raw = data.encode() if isinstance(data, str) else data
        try:
            key: object
            if b"-----BEGIN CERTIFICATE-----" in raw:
                key = x509.load_pem_x509_certificate(raw).public_key()
            elif b"PRIVATE KEY-----" in raw:
                key = serialization.load_pem_private_key(raw, password=None)
            else:
                key = serialization.load_pem_public_key(raw)
        except (ValueError, TypeError) as e:
            raise ValueError(f"not a usable PEM public key, certificate or private key: {e}") from None
        return cls.from_public_key(key, kid, alg)

    @classmethod
    def from_pem_file(cls, path: str | Path, kid: str | None = None, alg: str | None = None) -> JwtKey:
        """:meth:`from_pem` of a file; OSError if unreadable, ValueError ``"path: reason"``."""
        with open(path, "rb") as f:
            data = f.read()
        try:
            return cls.from_pem(data, kid, alg)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> JwtKey:
        """A JSON Web Key (RFC 7517 §4, RFC 7518 §6, RFC 8037 §2): ``kty`` RSA, EC, OKP or oct.

        Only the public members are read. ValueError names a missing or malformed member.
        """
        kty = jwk.get("kty")
        kid = _opt_str(jwk, "kid")
        alg = _opt_str(jwk, "alg")
        if kty == "oct":
            return cls.hmac(_b64_member(jwk, "k"), kid, alg)
        if kty == "RSA":
            n = int.from_bytes(_b64_member(jwk, "n"))
            e = int.from_bytes(_b64_member(jwk, "e"))
            return cls.from_public_key(rsa.RSAPublicNumbers(e, n).public_key(), kid, alg)
        crv = jwk.get("crv")
        if kty == "EC":
            if crv not in _JWK_CURVES:
                raise ValueError(f"unsupported EC curve {_show(crv)}")
            size = _EC_CURVES[_JWK_CURVES[crv].name][1]
            x, y = _b64_member(jwk, "x"), _b64_member(jwk, "y")
            if len(x) != size or len(y) != size:  # RFC 7518 §6.2.1.2: the full coordinate length
                raise ValueError(f"EC {crv} coordinates must be {size} bytes long")
            numbers = ec.EllipticCurvePublicNumbers(int.from_bytes(x), int.from_bytes(y), _JWK_CURVES[crv])
            return cls.from_public_key(numbers.public_key(), kid, alg)  # ValueError if off the curve
        if kty == "OKP":
            if crv == "Ed25519":
                return cls.from_public_key(
                    ed25519.Ed25519PublicKey.from_public_bytes(_b64_member(jwk, "x")), kid, alg
                )
            if crv == "Ed448":
                return cls.from_public_key(
                    ed448.Ed448PublicKey.from_public_bytes(_b64_member(jwk, "x")), kid, alg
                )
            raise ValueError(f"unsupported OKP curve {_show(crv)} (Ed25519 and Ed448 are)")
        raise ValueError(f"unsupported key type {_show(kty)}")

    def can_verify(self, alg: str) -> bool:
        """True if this key may verify tokens signed with ``alg`` (type, curve, length, ``alg``)."""
        spec = ALGORITHMS.get(alg)
        if spec is None or spec.kty != self.kty or (self.alg is not None and self.alg != alg):
            return False
        if spec.crv is not None and spec.crv != self.crv:
            return False
        return not (spec.kty == "oct" and spec.hash is not None and len(self._secret) < spec.hash.digest_size)

    def verify(self, alg: str, signing_input: bytes, signature: bytes) -> bool:
        """True if ``signature`` is this key's over ``signing_input`` (call only if can_verify)."""
        spec = ALGORITHMS[alg]
        key = self._key
        try:
            if spec.kty == "oct":
                assert spec.hash is not None
                mac = hmac.digest(self._secret, signing_input, spec.hash.name)
                return hmac.compare_digest(mac, signature)
            if isinstance(key, rsa.RSAPublicKey):
                assert spec.hash is not None
                pad = _PSS[spec.hash.name] if spec.pss else _PKCS1
                key.verify(signature, signing_input, pad, spec.hash)
            elif isinstance(key, ec.EllipticCurvePublicKey):
                assert spec.hash is not None
                # RFC 7518 §3.4: the signature is R || S, each the curve's coordinate length
                size = _EC_CURVES[key.curve.name][1]
                if len(signature) != 2 * size:
                    return False
                r, s = int.from_bytes(signature[:size]), int.from_bytes(signature[size:])
                key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(spec.hash))
            elif key is not None:
                key.verify(signature, signing_input)
            else:
                return False
        except InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        crv = f" {self.crv}" if self.crv else ""
        return f"<JwtKey {self.kty}{crv} kid={self.kid!r} alg={self.alg!r}>"


def _opt_str(jwk: Mapping[str, Any], name: str) -> str | None:
    value = jwk.get(name)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"JWK member {name!r} must be a string")
    return value


_B64URL = re.compile(rb"[A-Za-z0-9_-]*")
_URL_TO_STD = bytes.maketrans(b"-_", b"+/")


def _b64url(part: bytes) -> bytes | None:
    """Base64url without padding (RFC 7515 §2), strictly: None for anything else."""
    if len(part) % 4 == 1 or not _B64URL.fullmatch(part):
        return None
    return binascii.a2b_base64(part.translate(_URL_TO_STD) + b"=" * (-len(part) % 4))


def _b64_member(jwk: Mapping[str, Any], name: str) -> bytes:
    value = jwk.get(name)
    raw = _b64url(value.encode("ascii", "replace")) if isinstance(value, str) else None
    if not raw:
        raise ValueError(f"JWK member {name!r} is missing or not base64url")
    return raw


class Jwks:
    """A JSON Web Key Set (RFC 7517 §5): the keys usable for verifying signatures.

    Keys of a type or curve this module does not support, and keys whose ``use`` is not ``sig``
    or whose ``key_ops`` lack ``verify``, are skipped and listed in ``skipped`` (a provider's set
    may carry encryption keys). A supported key that is malformed raises ValueError naming it.
    """

    __slots__ = ("keys", "skipped")

    def __init__(self, keys: Iterable[JwtKey], skipped: Iterable[str] = ()) -> None:
        self.keys = tuple(keys)
        self.skipped = tuple(skipped)

    @classmethod
    def from_json(cls, text: str | bytes) -> Jwks:
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError) as e:
            raise ValueError(f"a JWKS is a JSON document: {e}") from None
        return cls.from_dict(doc)

    @classmethod
    def from_dict(cls, doc: object) -> Jwks:
        if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
            raise ValueError('a JWKS is a JSON object with a "keys" array (RFC 7517 §5)')
        keys: list[JwtKey] = []
        skipped: list[str] = []
        for i, jwk in enumerate(doc["keys"]):
            if not isinstance(jwk, dict):
                raise ValueError(f"JWKS key {i} is not a JSON object")
            name = f"JWKS key {i} (kid {_show(jwk.get('kid'))})"
            ops = jwk.get("key_ops")
            if jwk.get("use", "sig") != "sig" or (isinstance(ops, list) and "verify" not in ops):
                skipped.append(f"{name}: not for verifying signatures")
                continue
            kty, crv, alg = jwk.get("kty"), jwk.get("crv"), jwk.get("alg")
            if not all(isinstance(v, str | None) for v in (kty, crv, alg)):
                raise ValueError(f"{name}: kty, crv and alg must be strings")
            if (kty, crv) not in _SUPPORTED or (alg is not None and alg not in ALGORITHMS):
                skipped.append(f"{name}: unsupported kty {kty!r}, crv {crv!r} or alg {alg!r}")
                continue
            try:
                keys.append(JwtKey.from_jwk(jwk))
            except ValueError as e:
                raise ValueError(f"{name}: {e}") from None
        return cls(keys, skipped)

    def find(self, kid: str) -> list[JwtKey]:
        return [k for k in self.keys if k.kid == kid]

    def __iter__(self) -> Iterator[JwtKey]:
        return iter(self.keys)

    def __len__(self) -> int:
        return len(self.keys)

    def __repr__(self) -> str:
        return f"<Jwks {len(self.keys)} keys, kids {[k.kid for k in self.keys]}>"


_SUPPORTED = {("oct", None), ("RSA", None), ("EC", "P-256"), ("EC", "P-384"), ("EC", "P-521")}
_SUPPORTED |= {("OKP", "Ed25519"), ("OKP", "Ed448")}


# -- verification -------------------------------------------------------------------------------


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON (RFC 8259)")


# One decoder made once: json.loads with any keyword argument builds a new decoder per call (~8 µs).
# NaN and Infinity are not JSON; a NaN or infinite "exp" must not pass for "never expires".
_JSON = json.JSONDecoder(parse_constant=_reject_constant)


def _json_object(part: bytes, what: str) -> dict[str, Any]:
    raw = _b64url(part)
    if raw is None:
        raise JwtError(JwtReason.MALFORMED, f"the {what} is not base64url")
    try:
        value = _JSON.decode(raw.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise JwtError(JwtReason.MALFORMED, f"the {what} is not UTF-8 JSON") from None
    if not isinstance(value, dict):
        raise JwtError(JwtReason.MALFORMED, f"the {what} is not a JSON object")
    return value


#: verified tokens a verifier remembers: at most MAX_TOKEN_BYTES each plus their claims
DEFAULT_CACHE_SIZE = 4096


def _as_set(value: str | Iterable[str] | None) -> frozenset[str]:
    return frozenset() if value is None else frozenset((value,) if isinstance(value, str) else value)


class JwtVerifier:
    """Verifies compact JWS tokens and their claims; immutable, so one may serve all requests.

    - ``keys``: a :class:`JwtKey`, a :class:`Jwks` or an iterable of keys.
    - ``algorithms``: those accepted (e.g. ``["RS256"]``); ``none`` is refused here with a
      ValueError, and in tokens always. A key verifies only the algorithms of its type.
    - ``audience``: if given (one or several), the token's ``aud`` (a string or an array) must
      contain one of them (RFC 7519 §4.1.3). If not given, ``aud`` is not checked, as with nginx
      Plus ``auth_jwt`` and Envoy's ``jwt_authn``; give it whenever tokens are shared by services.
    - ``issuer``: if given (one or several), ``iss`` must be one of them (§4.1.1).
    - ``leeway``: seconds of clock skew allowed on ``exp``, ``nbf`` and ``iat`` (default 60).
    - ``required``: claims that must be present; ``exp`` by default, because a token without it
      never expires (pass ``()`` to accept them).
    - ``max_age``: if given, tokens issued (``iat``) longer ago than this are expired.
    - ``cache_size``: tokens whose signature verified are remembered (at most this many, least
      recently used out; 0: none), so a client sending the same token again costs a dictionary
      lookup and the time checks, not a signature check (Envoy's ``jwt_cache_config``). The
      cache is keyed by the whole token, signature included, and belongs to this verifier: new
      keys (:meth:`with_keys`) start an empty one.

    Key choice: if the token names a ``kid``, the keys with that ``kid`` are tried, or if there
    are none, the keys without a ``kid`` (a single PEM key configured for an issuer that sets
    kids); no key → ``unknown key id``. Without a ``kid``, every key for the algorithm is tried.
    """

    __slots__ = (
        "_algorithms", "_audiences", "_by_alg", "_issuers", "_keys", "_verified", "cache_size", "leeway",
        "max_age", "required",
    )  # fmt: skip

    def __init__(
        self,
        keys: JwtKey | Jwks | Iterable[JwtKey],
        algorithms: Iterable[str],
        *,
        audience: str | Iterable[str] | None = None,
        issuer: str | Iterable[str] | None = None,
        leeway: float = 60.0,
        required: Iterable[str] = ("exp",),
        max_age: float | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        self._algorithms = tuple(algorithms)
        if not self._algorithms:
            raise ValueError("at least one algorithm must be allowed")
        for alg in self._algorithms:
            if alg not in ALGORITHMS:
                raise ValueError(
                    f"unsupported or refused algorithm {alg!r} (supported: {', '.join(ALGORITHMS)})"
                )
        if leeway < 0:
            raise ValueError(f"leeway must be >= 0, not {leeway!r}")
        self._audiences = _as_set(audience)
        self._issuers = _as_set(issuer)
        self.leeway = float(leeway)
        self.required = tuple(required)
        self.max_age = max_age
        whole(cache_size, "cache_size")
        self.cache_size = cache_size
        #: token -> (claims, valid from, valid until)
        self._verified: OrderedDict[str | bytes, tuple[dict[str, Any], float, float]] = OrderedDict()
        self._keys: tuple[JwtKey, ...] = (keys,) if isinstance(keys, JwtKey) else tuple(keys)
        self._by_alg = {alg: tuple(k for k in self._keys if k.can_verify(alg)) for alg in self._algorithms}

    def with_keys(self, keys: JwtKey | Jwks | Iterable[JwtKey]) -> JwtVerifier:
        """The same checks with other keys (a refreshed JWKS)."""
        return JwtVerifier(
            keys,
            self._algorithms,
            audience=self._audiences or None,
            issuer=self._issuers or None,
            leeway=self.leeway,
            required=self.required,
            max_age=self.max_age,
            cache_size=self.cache_size,
        )

    def verify(self, token: str | bytes, now: float) -> dict[str, Any]:
        """The token's claims if it is valid at ``now`` (Unix seconds); JwtError if not."""
        cache = self._verified
        hit = cache.get(token)
        if hit is not None:
            claims, valid_from, valid_until = hit
            cache.move_to_end(token)
            if not valid_from <= now < valid_until:
                self._check_claims(claims, now)  # raises, naming the claim that ends it
            return dict(claims)
        claims = self._verify(token, now)
        if self.cache_size:
            cache[token] = (claims, *self._window(claims))
            if len(cache) > self.cache_size:
                cache.popitem(last=False)
            return dict(claims)
        return claims

    def _window(self, claims: dict[str, Any]) -> tuple[float, float]:
        """When verified ``claims`` surely pass the time checks: from, until (the checks that do
        not depend on the time passed already). Outside it ``_check_claims`` decides, so the
        window may be narrower than the truth, never wider."""
        leeway = self.leeway
        start, end = -math.inf, math.inf
        exp, nbf, iat = (_time_claim(claims, n) for n in ("exp", "nbf", "iat"))
        if exp is not None:
            end = exp + leeway
        if nbf is not None:
            start = nbf - leeway
        if iat is not None:
            start = max(start, iat - leeway)
            if self.max_age is not None:
                end = min(end, iat + self.max_age + leeway)  # at the edge itself: the full check
        return start, end

    def _verify(self, token: str | bytes, now: float) -> dict[str, Any]:
        if isinstance(token, str):
            if not token.isascii():
                raise JwtError(JwtReason.MALFORMED, "not ASCII")
            token = token.encode("ascii")
        if len(token) > MAX_TOKEN_BYTES:
            raise JwtError(JwtReason.MALFORMED, f"longer than {MAX_TOKEN_BYTES} bytes")
        parts = token.split(b".")
        if len(parts) != 3:
            jwe = " (encrypted JWE tokens are not supported)" if len(parts) == 5 else ""
            raise JwtError(JwtReason.MALFORMED, f"{len(parts)} parts, not 3{jwe}")
        header = _json_object(parts[0], "header")
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise JwtError(JwtReason.MALFORMED, "the header has no alg")
        if alg.lower() == "none":
            raise JwtError(JwtReason.ALG_NONE)
        keys = self._by_alg.get(alg)
        if keys is None:
            raise JwtError(JwtReason.ALG_NOT_ALLOWED, _show(alg))
        if "crit" in header:  # RFC 7515 §4.1.11: we understand no extension, so we must refuse
            raise JwtError(JwtReason.MALFORMED, f"unsupported critical header {_show(header['crit'])}")
        if not keys:
            raise JwtError(JwtReason.NO_KEY, alg)
        kid = header.get("kid")
        if kid is not None:
            if not isinstance(kid, str):
                raise JwtError(JwtReason.MALFORMED, "kid is not a string")
            keys = tuple(k for k in keys if k.kid == kid) or tuple(k for k in keys if k.kid is None)
            if not keys:
                raise JwtError(JwtReason.UNKNOWN_KID, f"{_show(kid)} for {alg}")
        signature = _b64url(parts[2])
        # the canonical encoding only: a signature must not have two spellings (RFC 4648 §3.5)
        if signature is None or base64.urlsafe_b64encode(signature).rstrip(b"=") != parts[2]:
            raise JwtError(JwtReason.MALFORMED, "the signature is not base64url")
        signing_input = token[: len(parts[0]) + 1 + len(parts[1])]
        if not any(k.verify(alg, signing_input, signature) for k in keys):
            raise JwtError(JwtReason.BAD_SIGNATURE, alg)
        claims = _json_object(parts[1], "payload")
        self._check_claims(claims, now)
        return claims

    def _check_claims(self, claims: dict[str, Any], now: float) -> None:
        for name in self.required:
            if name not in claims:
                raise JwtError(JwtReason.MISSING_CLAIM, name)
        leeway = self.leeway
        exp = _time_claim(claims, "exp")
        if exp is not None and now >= exp + leeway:  # §4.1.4: valid only before exp
            raise JwtError(JwtReason.EXPIRED, f"exp {exp:g} is {now - exp:.0f} s ago")
        nbf = _time_claim(claims, "nbf")
        if nbf is not None and now + leeway < nbf:  # §4.1.5: valid from nbf on
            raise JwtError(JwtReason.NOT_YET_VALID, f"nbf {nbf:g} is in {nbf - now:.0f} s")
        iat = _time_claim(claims, "iat")
        if iat is not None and iat > now + leeway:
            raise JwtError(JwtReason.ISSUED_IN_FUTURE, f"iat {iat:g} is in {iat - now:.0f} s")
        if self.max_age is not None:
            if iat is None:
                raise JwtError(JwtReason.MISSING_CLAIM, "iat (max_age is set)")
            if now - iat > self.max_age + leeway:
                raise JwtError(JwtReason.EXPIRED, f"issued {now - iat:.0f} s ago, max_age {self.max_age:g}")
        if self._issuers:
            if "iss" not in claims:
                raise JwtError(JwtReason.MISSING_CLAIM, "iss")
            if not isinstance(claims["iss"], str) or claims["iss"] not in self._issuers:
                raise JwtError(JwtReason.WRONG_ISSUER, _show(claims["iss"]))
        if self._audiences:
            if "aud" not in claims:
                raise JwtError(JwtReason.MISSING_CLAIM, "aud")
            aud = claims["aud"]
            auds = [aud] if isinstance(aud, str) else aud
            if not isinstance(auds, list) or not all(isinstance(a, str) for a in auds):
                raise JwtError(JwtReason.INVALID_CLAIM, "aud is neither a string nor an array of strings")
            if self._audiences.isdisjoint(auds):
                raise JwtError(JwtReason.WRONG_AUDIENCE, _show(aud))


def _time_claim(claims: dict[str, Any], name: str) -> float | None:
    """A NumericDate (RFC 7519 §2): a finite JSON number; None if absent."""
    if name not in claims:
        return None
    value = claims[name]
    try:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise OverflowError
        return float(value)
    except OverflowError:  # also from an integer too large for a float
        raise JwtError(JwtReason.INVALID_CLAIM, f"{name} is not a NumericDate") from None

"""JWT verification against tokens and JWKs made by PyJWT, the independent peer."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import itertools
import json
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x25519
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm, HMACAlgorithm, OKPAlgorithm, RSAAlgorithm

from pipework.policy.jwt import Jwks, JwtError, JwtKey, JwtReason, JwtVerifier

NOW = 1_700_000_000.0
SECRET = b"s" * 64  # long enough for HS512 (RFC 7518 §3.2)
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
P256_KEY = ec.generate_private_key(ec.SECP256R1())
P384_KEY = ec.generate_private_key(ec.SECP384R1())
P521_KEY = ec.generate_private_key(ec.SECP521R1())
ED25519_KEY = ed25519.Ed25519PrivateKey.generate()
ED448_KEY = ed448.Ed448PrivateKey.generate()
CLAIMS = {"sub": "alice", "iss": "https://idp.example", "aud": "api", "exp": NOW + 300, "iat": NOW}

# algorithm -> the key PyJWT signs with
SIGNERS: dict[str, Any] = {
    "HS256": SECRET,
    "HS384": SECRET,
    "HS512": SECRET,
    "RS256": RSA_KEY,
    "RS384": RSA_KEY,
    "RS512": RSA_KEY,
    "PS256": RSA_KEY,
    "PS384": RSA_KEY,
    "PS512": RSA_KEY,
    "ES256": P256_KEY,
    "ES384": P384_KEY,
    "ES512": P521_KEY,
    "EdDSA": ED25519_KEY,
}


def public_pem(private: Any) -> bytes:
    return bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def verify_key(alg: str, kid: str | None = None) -> JwtKey:
    signer = SIGNERS[alg]
    if isinstance(signer, bytes):
        return JwtKey.hmac(signer, kid=kid)
    return JwtKey.from_pem(public_pem(signer), kid=kid)


def make(alg: str = "HS256", claims: dict[str, Any] | None = None, **headers: Any) -> str:
    return pyjwt.encode(
        CLAIMS if claims is None else claims, SIGNERS[alg], algorithm=alg, headers=headers or None
    )


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def hs256_token(header: Any, payload: Any, secret: bytes = SECRET, *, raw: bool = False) -> str:
    """A token signed by hand, for headers and payloads PyJWT would not write."""
    h = header if raw else b64(json.dumps(header).encode())
    p = payload if raw else b64(json.dumps(payload).encode())
    sig = hmac.new(secret, f"{h}.{p}".encode(), hashlib.sha256).digest()
    return f"{h}.{p}.{b64(sig)}"


def refused(verifier: JwtVerifier, token: str | bytes, reason: JwtReason, now: float = NOW) -> JwtError:
    with pytest.raises(JwtError) as info:
        verifier.verify(token, now)
    assert info.value.reason is reason, info.value
    return info.value


# -- every algorithm ----------------------------------------------------------------------------


@pytest.mark.parametrize("alg", sorted(SIGNERS))
def test_every_algorithm_verifies_pyjwt_tokens(alg: str) -> None:
    v = JwtVerifier(verify_key(alg), [alg], audience="api", issuer="https://idp.example")
    assert v.verify(make(alg), NOW) == CLAIMS
    assert v.verify(make(alg).encode(), NOW) == CLAIMS  # bytes as well as str


def test_eddsa_with_ed448() -> None:
    token = pyjwt.encode(CLAIMS, ED448_KEY, algorithm="EdDSA")
    assert JwtVerifier(JwtKey.from_pem(public_pem(ED448_KEY)), ["EdDSA"]).verify(token, NOW) == CLAIMS


def test_keys_from_certificate_private_key_and_file(tmp_path: Path) -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(P256_KEY.public_key())
        .serial_number(1)
        .not_valid_before(datetime.datetime(2020, 1, 1))
        .not_valid_after(datetime.datetime(2040, 1, 1))
        .sign(P256_KEY, hashes.SHA256())
    )
    token = make("ES256")
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    assert JwtVerifier(JwtKey.from_pem(cert_pem), ["ES256"]).verify(token, NOW)["sub"] == "alice"
    private_pem = P256_KEY.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert JwtVerifier(JwtKey.from_pem(private_pem), ["ES256"]).verify(token, NOW)["sub"] == "alice"
    path = tmp_path / "idp.pem"
    path.write_bytes(public_pem(P256_KEY))
    assert JwtVerifier(JwtKey.from_pem_file(path), ["ES256"]).verify(token, NOW)["sub"] == "alice"
    path.write_text("not a key")
    with pytest.raises(ValueError, match=rf"^{path}: not a usable PEM"):
        JwtKey.from_pem_file(path)
    with pytest.raises(FileNotFoundError):
        JwtKey.from_pem_file(tmp_path / "missing.pem")


def test_unusable_keys_are_refused_at_load() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        JwtKey.hmac("short")
    with pytest.raises(ValueError, match=r"is a PEM or SSH key"):
        JwtKey.hmac(public_pem(RSA_KEY))
    with pytest.raises(ValueError, match="at least 2048 bits"):
        JwtKey.from_public_key(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    with pytest.raises(ValueError, match="unsupported elliptic curve secp256k1"):
        JwtKey.from_public_key(ec.generate_private_key(ec.SECP256K1()).public_key())
    with pytest.raises(ValueError, match="unsupported key type X25519PublicKey"):
        JwtKey.from_public_key(x25519.X25519PrivateKey.generate().public_key())
    encrypted = RSA_KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    with pytest.raises(ValueError, match="not a usable PEM"):
        JwtKey.from_pem(encrypted)
    with pytest.raises(ValueError, match="cannot be for algorithm 'ES384'"):
        JwtKey.from_pem(public_pem(P256_KEY), alg="ES384")
    with pytest.raises(ValueError, match="cannot be for algorithm 'HS256'"):
        JwtKey.from_pem(public_pem(RSA_KEY), alg="HS256")


def test_verifier_configuration_errors() -> None:
    key = verify_key("HS256")
    with pytest.raises(ValueError, match="'none'"):
        JwtVerifier(key, ["none"])
    with pytest.raises(ValueError, match="'RS1'"):
        JwtVerifier(key, ["RS1"])
    with pytest.raises(ValueError, match="at least one"):
        JwtVerifier(key, [])
    with pytest.raises(ValueError, match="leeway"):
        JwtVerifier(key, ["HS256"], leeway=-1)


# -- JWKS ---------------------------------------------------------------------------------------


def jwk(sign_alg: str, kid: str, /, **extra: Any) -> dict[str, Any]:
    signer = SIGNERS[sign_alg]
    if isinstance(signer, bytes):
        d = HMACAlgorithm.to_jwk(signer, as_dict=True)
    elif isinstance(signer, rsa.RSAPrivateKey):
        d = RSAAlgorithm.to_jwk(signer.public_key(), as_dict=True)
    elif isinstance(signer, ec.EllipticCurvePrivateKey):
        d = ECAlgorithm.to_jwk(signer.public_key(), as_dict=True)
    else:
        d = OKPAlgorithm.to_jwk(signer.public_key(), as_dict=True)
    return {**d, "kid": kid, **extra}


def jwks_doc() -> str:
    algs = ["HS256", "RS256", "ES256", "ES384", "ES512", "EdDSA"]
    return json.dumps({"keys": [jwk(alg, f"k-{alg}") for alg in algs]})


@pytest.mark.parametrize("alg", sorted(SIGNERS))
def test_jwks_round_trip(alg: str) -> None:
    jwks = Jwks.from_json(jwks_doc())
    assert len(jwks) == 6
    assert not jwks.skipped
    kid = {"HS": "k-HS256", "RS": "k-RS256", "PS": "k-RS256"}.get(alg[:2], f"k-{alg}")
    v = JwtVerifier(jwks, [alg])
    assert v.verify(make(alg, kid=kid), NOW) == CLAIMS
    assert v.verify(make(alg), NOW) == CLAIMS  # no kid: every key for the algorithm is tried
    refused(v, make(alg, kid="k-gone"), JwtReason.UNKNOWN_KID)


def test_jwks_published_by_pyjwt_loads_in_pyjwt_too() -> None:
    doc = jwks_doc()
    theirs = pyjwt.PyJWKSet.from_json(doc)
    ours = Jwks.from_json(doc)
    assert [k.key_id for k in theirs.keys] == [k.kid for k in ours]
    assert ours.find("k-ES384")[0].crv == "P-384"
    assert ours.find("k-nope") == []


def test_jwks_alg_member_restricts_the_key() -> None:
    jwks = Jwks.from_dict({"keys": [jwk("RS256", "r", alg="RS256")]})
    refused(JwtVerifier(jwks, ["PS256"]), make("PS256", kid="r"), JwtReason.NO_KEY)
    assert JwtVerifier(jwks, ["RS256"]).verify(make("RS256", kid="r"), NOW) == CLAIMS


def test_jwks_skips_what_it_cannot_use_and_refuses_what_is_broken() -> None:
    xkey = x25519.X25519PrivateKey.generate().public_key()
    x = xkey.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    doc = {
        "keys": [
            jwk("RS256", "enc", use="enc"),
            jwk("RS256", "wrap", key_ops=["wrapKey"]),
            {"kty": "OKP", "crv": "X25519", "x": b64(x), "kid": "ecdh"},
            {"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"},
            jwk("RS256", "odd-alg", alg="RSA-OAEP"),
            {"kty": "PQC"},
            jwk("ES256", "good", key_ops=["verify"]),
        ]
    }
    jwks = Jwks.from_dict(doc)
    assert [k.kid for k in jwks] == ["good"]
    assert len(jwks.skipped) == 6
    assert "JWKS key 0 (kid 'enc'): not for verifying signatures" in jwks.skipped
    assert any("crv 'X25519'" in s for s in jwks.skipped)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("[1, 2]", r'a JWKS is a JSON object with a "keys" array'),
        ('{"keys": {}}', r'a JWKS is a JSON object with a "keys" array'),
        ("{nope", r"a JWKS is a JSON document"),
        ('{"keys": [1]}', r"JWKS key 0 is not a JSON object"),
        (
            '{"keys": [{"kty": "RSA", "kid": "r", "e": "AQAB"}]}',
            r"JWKS key 0 \(kid 'r'\): JWK member 'n' is missing",
        ),
        (
            '{"keys": [{"kty": "oct", "k": "c2hvcnQ"}]}',
            r"JWKS key 0 \(kid None\): an HMAC secret must be at least 32",
        ),
        ('{"keys": [{"kty": "oct", "k": "a+b/"}]}', r"JWK member 'k' is missing or not base64url"),
        ('{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}]}', r"JWKS key 0"),
        ('{"keys": [{"kty": ["RSA"]}]}', r"kty, crv and alg must be strings"),
        (
            json.dumps({"keys": [{"kty": "oct", "kid": 7, "k": b64(SECRET)}]}),
            r"JWK member 'kid' must be a string",
        ),
    ],
)
def test_jwks_errors(doc: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Jwks.from_json(doc)


def test_jwks_ec_point_must_be_on_the_curve_and_full_length() -> None:
    good = jwk("ES256", "e")
    off = {**good, "y": good["x"]}
    with pytest.raises(ValueError, match="JWKS key 0"):
        Jwks.from_dict({"keys": [off]})
    x = base64.urlsafe_b64decode(good["x"] + "==")
    short = {**good, "x": b64(x.lstrip(b"\0")[:31])}
    with pytest.raises(ValueError, match="coordinates must be 32 bytes long"):
        Jwks.from_dict({"keys": [short]})


def test_with_keys_swaps_a_refreshed_jwks() -> None:
    old = JwtVerifier(Jwks.from_dict({"keys": [jwk("ES256", "a")]}), ["ES256"], audience="api", issuer="x")
    new = old.with_keys(Jwks.from_json(jwks_doc()))
    refused(old, make("ES256", kid="k-ES256"), JwtReason.UNKNOWN_KID)
    refused(new, make("ES256", kid="k-ES256"), JwtReason.WRONG_ISSUER)  # same checks as before


# -- refusals -----------------------------------------------------------------------------------

HS = JwtVerifier(JwtKey.hmac(SECRET), ["HS256"])


@pytest.mark.parametrize(
    ("token", "detail"),
    [
        ("abc", "1 parts, not 3"),
        ("a.b", "2 parts, not 3"),
        ("a.b.c.d.e", "encrypted JWE tokens are not supported"),
        ("", "1 parts"),
        ("..", "the header is not UTF-8 JSON"),
        ("é.b.c", "not ASCII"),
        ("a" * 20000, "longer than 16384 bytes"),
        ("e30=.e30.AA", "the header is not base64url"),  # padding is not allowed (RFC 7515 §2)
        ("e+0.e30.AA", "the header is not base64url"),  # standard alphabet
        ("e30 .e30.AA", "the header is not base64url"),
        ("eyJhb.e30.AA", "the header is not base64url"),  # 5 characters: 1 mod 4 is no base64
        (b64(b"[1]") + ".e30.AA", "the header is not a JSON object"),
        (b64(b"\xff\xfe{}") + ".e30.AA", "the header is not UTF-8 JSON"),
        (b64(b'{"alg": NaN}') + ".e30.AA", "the header is not UTF-8 JSON"),
        (b64(b"{}") + ".e30.AA", "the header has no alg"),
        (b64(b'{"alg": 256}') + ".e30.AA", "the header has no alg"),
        (b64(b"[" * 5000 + b"]" * 5000) + ".e30.AA", "the header is not UTF-8 JSON"),
    ],
)
def test_malformed_tokens(token: str, detail: str) -> None:
    err = refused(HS, token, JwtReason.MALFORMED)
    assert detail in str(err)


def test_malformed_after_the_header() -> None:
    assert "critical header ['b64']" in str(
        refused(HS, hs256_token({"alg": "HS256", "crit": ["b64"], "b64": False}, CLAIMS), JwtReason.MALFORMED)
    )
    assert "kid is not a string" in str(
        refused(HS, hs256_token({"alg": "HS256", "kid": 1}, CLAIMS), JwtReason.MALFORMED)
    )
    h = b64(b'{"alg":"HS256"}')
    assert "payload is not a JSON object" in str(
        refused(HS, hs256_token(h, b64(b'"x"'), raw=True), JwtReason.MALFORMED)
    )
    assert "payload is not UTF-8 JSON" in str(
        refused(HS, hs256_token(h, b64(b"{"), raw=True), JwtReason.MALFORMED)
    )
    assert "payload is not base64url" in str(
        refused(HS, hs256_token(h, "e30=", raw=True), JwtReason.MALFORMED)
    )
    token = make("HS256")
    assert "signature is not base64url" in str(refused(HS, token + "=", JwtReason.MALFORMED))


def test_signature_has_one_spelling() -> None:
    token = make("HS256")  # 32-byte MAC: 43 characters, the last one carries 2 spare bits
    head, last = token[:-1], token[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = alphabet[alphabet.index(last) ^ 1]  # same 4 leading bits, other spare bits
    assert base64.urlsafe_b64decode(head[-42:] + twin + "=") == base64.urlsafe_b64decode(
        head[-42:] + last + "="
    )
    refused(HS, head + twin, JwtReason.MALFORMED)


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_always_refused(alg: str) -> None:
    token = b64(json.dumps({"alg": alg}).encode()) + "." + b64(json.dumps(CLAIMS).encode()) + "."
    refused(HS, token, JwtReason.ALG_NONE)
    refused(HS, pyjwt.encode(CLAIMS, "", algorithm="none"), JwtReason.ALG_NONE)


def test_algorithm_not_allowed() -> None:
    rs = JwtVerifier(verify_key("RS256"), ["RS256"])
    refused(rs, make("PS256"), JwtReason.ALG_NOT_ALLOWED)  # same key, other algorithm: not allowed
    refused(rs, make("HS256"), JwtReason.ALG_NOT_ALLOWED)
    refused(rs, hs256_token({"alg": "XS999"}, CLAIMS), JwtReason.ALG_NOT_ALLOWED)


def test_no_key_for_the_algorithm() -> None:
    refused(JwtVerifier(verify_key("ES256"), ["ES256", "ES384"]), make("ES384"), JwtReason.NO_KEY)
    # a 32-byte secret is too short for HS512 (RFC 7518 §3.2)
    refused(JwtVerifier(JwtKey.hmac(SECRET[:32]), ["HS512"]), make("HS512"), JwtReason.NO_KEY)


def test_kid_selection() -> None:
    keys = [
        verify_key("ES256", kid="a"),
        JwtKey.from_pem(public_pem(ec.generate_private_key(ec.SECP256R1())), kid="b"),
    ]
    v = JwtVerifier(keys, ["ES256"])
    assert v.verify(make("ES256", kid="a"), NOW) == CLAIMS
    refused(v, make("ES256", kid="b"), JwtReason.BAD_SIGNATURE)  # the named key only
    refused(v, make("ES256", kid="c"), JwtReason.UNKNOWN_KID)
    # a key configured without kid verifies tokens that carry one
    assert JwtVerifier(verify_key("ES256"), ["ES256"]).verify(make("ES256", kid="any"), NOW) == CLAIMS


def test_tampered_tokens() -> None:
    v = JwtVerifier(verify_key("RS256"), ["RS256"])
    h, p, s = make("RS256").split(".")
    forged = b64(json.dumps({**CLAIMS, "sub": "root"}).encode())
    refused(v, f"{h}.{forged}.{s}", JwtReason.BAD_SIGNATURE)
    sig = bytearray(base64.urlsafe_b64decode(s + "=="))
    sig[10] ^= 1
    refused(v, f"{h}.{p}.{b64(bytes(sig))}", JwtReason.BAD_SIGNATURE)
    refused(v, f"{h}.{p}.{b64(bytes(sig[:-1]))}", JwtReason.BAD_SIGNATURE)
    refused(v, f"{h}.{p}.", JwtReason.BAD_SIGNATURE)
    other = make("RS256", kid="x").split(".")[0]
    refused(v, f"{other}.{p}.{s}", JwtReason.BAD_SIGNATURE)  # the header is signed too
    es = JwtVerifier(verify_key("ES256"), ["ES256"])
    h, p, s = make("ES256").split(".")
    raw = base64.urlsafe_b64decode(s + "==")
    refused(es, f"{h}.{p}.{b64(raw + bytes(1))}", JwtReason.BAD_SIGNATURE)  # R || S is exactly 64 bytes
    refused(es, f"{h}.{p}.{b64(bytes(64))}", JwtReason.BAD_SIGNATURE)  # r = s = 0
    refused(es, f"{h}.{p}.{b64(raw[32:] + raw[:32])}", JwtReason.BAD_SIGNATURE)


@given(pos=st.integers(0, 10_000), char=st.sampled_from("A0_-.x=/+é"))
def test_any_one_character_change_is_refused(pos: int, char: str) -> None:
    token = make("ES256")
    pos %= len(token)
    mutated = token[:pos] + char + token[pos + 1 :]
    v = JwtVerifier(verify_key("ES256"), ["ES256"])
    if mutated == token:
        return
    with pytest.raises(JwtError):
        v.verify(mutated, NOW)


@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_garbage_raises_jwt_error_only(token: str | bytes) -> None:
    with pytest.raises(JwtError):
        HS.verify(token, NOW)


# -- key confusion ------------------------------------------------------------------------------


def test_rsa_public_key_as_hmac_secret_is_refused() -> None:
    # The classic attack: sign HS256 with the server's public key PEM, hoping it is used as a secret.
    pem = public_pem(RSA_KEY)
    forged = hs256_token({"alg": "HS256"}, CLAIMS, secret=pem)
    v = JwtVerifier(JwtKey.from_pem(pem), ["RS256", "HS256"])  # even with HS256 allowed by mistake
    refused(v, forged, JwtReason.NO_KEY)
    with pytest.raises(ValueError, match="PEM or SSH key"):
        JwtKey.hmac(pem.decode())


def test_jwks_rsa_key_never_verifies_hs_tokens() -> None:
    rsa_jwk = jwk("RS256", "r")
    n_bytes = base64.urlsafe_b64decode(rsa_jwk["n"] + "==")
    forged = hs256_token({"alg": "HS256", "kid": "r"}, CLAIMS, secret=n_bytes)
    v = JwtVerifier(Jwks.from_dict({"keys": [rsa_jwk]}), ["RS256", "HS256"])
    refused(v, forged, JwtReason.NO_KEY)


def test_curves_and_key_types_do_not_mix() -> None:
    refused(JwtVerifier(verify_key("ES384"), ["ES256"]), make("ES256"), JwtReason.NO_KEY)  # P-384 key
    refused(JwtVerifier(verify_key("EdDSA"), ["ES256"]), make("ES256"), JwtReason.NO_KEY)
    refused(JwtVerifier(verify_key("RS256"), ["EdDSA"]), make("EdDSA"), JwtReason.NO_KEY)
    both = JwtVerifier([verify_key("RS256"), verify_key("HS256")], ["RS256", "HS256"])
    assert both.verify(make("RS256"), NOW) == CLAIMS
    assert both.verify(make("HS256"), NOW) == CLAIMS


# -- claims -------------------------------------------------------------------------------------


def claims_token(**claims: Any) -> str:
    return make("HS256", claims)


@pytest.mark.parametrize(
    ("claims", "reason", "detail"),
    [
        ({"exp": NOW - 60}, JwtReason.EXPIRED, "exp 1.7e+09 is 60 s ago"),
        ({"exp": NOW + 10, "nbf": NOW + 61}, JwtReason.NOT_YET_VALID, "is in 61 s"),
        ({"exp": NOW + 10, "iat": NOW + 61}, JwtReason.ISSUED_IN_FUTURE, "is in 61 s"),
        ({}, JwtReason.MISSING_CLAIM, "exp"),
        ({"exp": "tomorrow"}, JwtReason.INVALID_CLAIM, "exp is not a NumericDate"),
        ({"exp": True}, JwtReason.INVALID_CLAIM, "exp"),
        ({"exp": None}, JwtReason.INVALID_CLAIM, "exp"),
        ({"exp": 10**400}, JwtReason.INVALID_CLAIM, "exp"),
        ({"exp": NOW + 10, "nbf": [1]}, JwtReason.INVALID_CLAIM, "nbf"),
    ],
)
def test_time_claims(claims: dict[str, Any], reason: JwtReason, detail: str) -> None:
    assert detail in str(refused(HS, claims_token(**claims), reason))


def test_time_claims_with_huge_float_are_invalid() -> None:
    h = b64(b'{"alg":"HS256"}')
    refused(HS, hs256_token(h, b64(b'{"exp": 1e400}'), raw=True), JwtReason.INVALID_CLAIM)


def test_leeway_boundaries() -> None:
    assert HS.verify(claims_token(exp=NOW - 59), NOW)
    assert HS.verify(claims_token(exp=NOW + 10, nbf=NOW + 60, iat=NOW + 60), NOW)
    strict = JwtVerifier(JwtKey.hmac(SECRET), ["HS256"], leeway=0)
    refused(strict, claims_token(exp=NOW), JwtReason.EXPIRED)  # valid only before exp
    assert strict.verify(claims_token(exp=NOW + 0.5, nbf=NOW), NOW)  # valid from nbf on
    refused(strict, claims_token(exp=NOW + 10, nbf=NOW + 1), JwtReason.NOT_YET_VALID)


def test_required_and_max_age() -> None:
    v = JwtVerifier(JwtKey.hmac(SECRET), ["HS256"], required=("sub",), max_age=3600)
    assert v.verify(claims_token(sub="a", iat=NOW - 3600), NOW)  # no exp needed now
    refused(v, claims_token(iat=NOW), JwtReason.MISSING_CLAIM)
    refused(v, claims_token(sub="a"), JwtReason.MISSING_CLAIM)  # max_age needs iat
    assert "issued 3661 s ago" in str(refused(v, claims_token(sub="a", iat=NOW - 3661), JwtReason.EXPIRED))


def test_audience() -> None:
    v = JwtVerifier(JwtKey.hmac(SECRET), ["HS256"], audience=["api", "admin"])
    assert v.verify(claims_token(exp=NOW + 1, aud="admin"), NOW)
    assert v.verify(claims_token(exp=NOW + 1, aud=["other", "api"]), NOW)
    assert "'web'" in str(refused(v, claims_token(exp=NOW + 1, aud="web"), JwtReason.WRONG_AUDIENCE))
    refused(v, claims_token(exp=NOW + 1, aud=[]), JwtReason.WRONG_AUDIENCE)
    refused(v, claims_token(exp=NOW + 1), JwtReason.MISSING_CLAIM)
    refused(v, claims_token(exp=NOW + 1, aud=7), JwtReason.INVALID_CLAIM)
    refused(v, claims_token(exp=NOW + 1, aud=["api", 7]), JwtReason.INVALID_CLAIM)
    assert HS.verify(claims_token(exp=NOW + 1, aud="anyone"), NOW)  # not configured: not checked


def test_issuer() -> None:
    v = JwtVerifier(JwtKey.hmac(SECRET), ["HS256"], issuer="https://idp.example")
    assert v.verify(claims_token(exp=NOW + 1, iss="https://idp.example"), NOW)
    refused(v, claims_token(exp=NOW + 1, iss="https://evil.example"), JwtReason.WRONG_ISSUER)
    listed = hs256_token({"alg": "HS256"}, {"exp": NOW + 1, "iss": ["https://idp.example"]})
    refused(v, listed, JwtReason.WRONG_ISSUER)
    refused(v, claims_token(exp=NOW + 1), JwtReason.MISSING_CLAIM)


def test_error_texts_are_bounded_and_reasons_are_stable() -> None:
    err = refused(
        JwtVerifier(JwtKey.hmac(SECRET), ["HS256"], issuer="x"),
        claims_token(exp=NOW + 1, iss="y" * 500),
        JwtReason.WRONG_ISSUER,
    )
    assert len(str(err)) < 100
    assert err.reason == "wrong issuer"
    assert err.detail.endswith("...")
    assert {r.value for r in JwtReason} >= {
        "expired",
        "not yet valid",
        "bad signature",
        "unknown key id",
        "wrong audience",
    }


# -- the cache of verified tokens ---------------------------------------------------------------


class CountingKey(JwtKey):
    """A key that counts its signature checks."""

    __slots__ = ()
    checks = 0

    def verify(self, alg: str, signing_input: bytes, signature: bytes) -> bool:
        CountingKey.checks += 1
        return super().verify(alg, signing_input, signature)


def counting_key() -> JwtKey:
    key = verify_key("ES256")
    key.__class__ = CountingKey
    CountingKey.checks = 0
    return key


def test_a_verified_token_is_not_checked_again_but_its_times_are() -> None:
    v = JwtVerifier(counting_key(), ["ES256"], audience="api", leeway=0)
    token = make("ES256")
    first = v.verify(token, NOW)
    first["sub"] = "mallory"  # a caller changing its copy changes nothing for the next
    assert v.verify(token, NOW + 1) == CLAIMS
    assert CountingKey.checks == 1
    refused(v, token, JwtReason.EXPIRED, now=NOW + 301)  # expiry is checked on every use
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    refused(v, forged, JwtReason.BAD_SIGNATURE)  # another string: verified on its own
    assert CountingKey.checks == 2


def test_the_cache_is_bounded_and_can_be_off() -> None:
    v = JwtVerifier(counting_key(), ["ES256"], cache_size=2)
    tokens = [make("ES256", {**CLAIMS, "n": n}) for n in range(3)]
    for t in tokens:
        v.verify(t, NOW)
    v.verify(tokens[0], NOW)  # the oldest went out: checked again
    assert CountingKey.checks == 4
    off = JwtVerifier(counting_key(), ["ES256"], cache_size=0)
    off.verify(tokens[0], NOW)
    off.verify(tokens[0], NOW)
    assert CountingKey.checks == 2
    with pytest.raises(ValueError, match="cache_size"):
        JwtVerifier(verify_key("ES256"), ["ES256"], cache_size=-1)


def test_remembered_tokens_pass_the_time_checks_exactly_as_new_ones() -> None:
    """Every combination of exp, nbf, iat, leeway and max_age, at each boundary they make and
    beside it: a remembered token is accepted or refused (for the same reason) as a new one."""
    offsets = (None, -10, 0, 10)
    for exp, nbf, iat in itertools.product(offsets, offsets, offsets):
        claims = {k: NOW + v for k, v in (("exp", exp), ("nbf", nbf), ("iat", iat)) if v is not None}
        token = make("HS256", claims)
        for leeway, max_age in itertools.product((0, 0.5, 30), (None, 0, 10)):
            kwargs: dict[str, Any] = {"leeway": leeway, "max_age": max_age, "required": ()}
            cached = JwtVerifier(verify_key("HS256"), ["HS256"], **kwargs)
            fresh = JwtVerifier(verify_key("HS256"), ["HS256"], cache_size=0, **kwargs)
            edges = [-100.0, 100.0]
            for v, sign in ((exp, leeway), (nbf, -leeway), (iat, -leeway)):
                if v is not None:
                    edges.append(v + sign)
            if iat is not None and max_age is not None:
                edges.append(iat + max_age + leeway)
            times = sorted({e + d for e in edges for d in (-0.5, 0.0, 0.5)})

            for t in (*times, *reversed(times)):  # remembered from the first time it passed
                got = outcome(cached, token, NOW + t)
                assert got == outcome(fresh, token, NOW + t), (claims, leeway, max_age, t)


def outcome(v: JwtVerifier, token: str, now: float) -> object:
    """The claims, or the reason the token is refused."""
    try:
        return v.verify(token, now)
    except JwtError as e:
        return e.reason

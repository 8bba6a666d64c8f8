"""pipework.net.certs: loading and checking, name matching, SNI selection, reload, peer facts, making certs.

Every certificate here is made by the module itself (make_ca/issue) or by ``cryptography`` for the
shapes the module does not make (an intermediate CA); no key is committed.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import ssl
import tempfile
import urllib.parse
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pipework.net import certs
from pipework.net.certs import CertError, CertPair, CertStore, load_pair

UTC = dt.UTC
KINDS = ["ecdsa", "rsa"]


@pytest.fixture(scope="module")
def ca() -> CertPair:
    return certs.make_ca("Test CA")


@pytest.fixture(scope="module")
def server(ca: CertPair) -> CertPair:
    return certs.issue(ca, ["localhost", "*.example.test", "127.0.0.1", "::1"])


def write(pair: CertPair, d: Path, base: str, passphrase: str | None = None) -> tuple[Path, Path]:
    cert, key = d / f"{base}.pem", d / f"{base}-key.pem"
    certs.save(pair, cert, key, passphrase)
    return cert, key


def raw_ca(name: str, path_length: int, parent: CertPair | None = None) -> CertPair:
    """A CA made directly with ``cryptography``: make_ca's roots (path length 0) cannot have intermediates."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(parent.cert.subject if parent else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(parent.key if parent else key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return CertPair([cert, *(parent.chain if parent else ())], key)


# --- loading ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_load_a_pair(tmp_path: Path, ca: CertPair, kind: str) -> None:
    made = certs.issue(ca, ["a.test", "10.0.0.1"], key_type=kind)
    cert, key = write(made, tmp_path, "a")
    pair = load_pair(cert, key)
    assert pair.names == ("a.test", "10.0.0.1")
    assert pair.subject == "CN=a.test,O=pipework development certificate"
    assert pair.issuer == ca.subject
    assert pair.fingerprint_sha256 == made.cert.fingerprint(hashes.SHA256()).hex()
    assert pair.not_after == made.not_after
    assert pair.not_before < dt.datetime.now(UTC) < pair.not_after
    assert 824 < pair.days_left() <= 825
    assert pair.days_left(pair.not_after + dt.timedelta(days=2)) == pytest.approx(-2)
    assert pair.chain_pem == cert.read_bytes()
    assert load_pair(cert, key).source == (str(cert), str(key))
    assert made.source is None
    assert b"BEGIN PRIVATE KEY" in pair.key_pem
    assert "a.test" in repr(pair)


@pytest.mark.parametrize(
    "fmt", [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL]
)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("passphrase", [None, "s3cret"])
def test_key_formats(
    tmp_path: Path, ca: CertPair, kind: str, fmt: serialization.PrivateFormat, passphrase: str | None
) -> None:
    """PKCS#8, PKCS#1 (RSA) and SEC 1 (EC), plain or encrypted (PKCS#8's form or the Proc-Type header)."""
    made = certs.issue(ca, ["k.test"], key_type=kind)
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    (tmp_path / "k.pem").write_bytes(made.chain_pem)
    (tmp_path / "k-key.pem").write_bytes(made.key.private_bytes(serialization.Encoding.PEM, fmt, enc))
    pair = load_pair(tmp_path / "k.pem", tmp_path / "k-key.pem", passphrase)
    assert pair.fingerprint_sha256 == made.fingerprint_sha256
    if passphrase:
        with pytest.raises(CertError, match="the private key is encrypted; give its passphrase"):
            load_pair(tmp_path / "k.pem", tmp_path / "k-key.pem")


def test_key_and_chain_in_one_file(tmp_path: Path, server: CertPair) -> None:
    both = tmp_path / "both.pem"
    both.write_bytes(server.key_pem + server.chain_pem)
    assert load_pair(both).names == server.names
    assert load_pair(both, both).names == server.names


def test_a_passphrase_for_a_plain_key_is_ignored(tmp_path: Path, server: CertPair) -> None:
    cert, key = write(server, tmp_path, "s")
    assert load_pair(cert, key, "unused").names == server.names


def test_missing_files(tmp_path: Path, server: CertPair) -> None:
    cert, key = write(server, tmp_path, "s")
    with pytest.raises(CertError) as e:
        load_pair(tmp_path / "nope.pem", key)
    assert str(e.value) == (
        f"{tmp_path}/nope.pem: cannot read the certificate file (No such file or directory); "
        "check the path and its permissions"
    )
    with pytest.raises(CertError, match=r"nope-key\.pem: cannot read the key file \(No such file"):
        load_pair(cert, tmp_path / "nope-key.pem")
    with pytest.raises(CertError, match="cannot read the certificate file"):
        load_pair(tmp_path, key)


def test_no_certificate_in_the_file(tmp_path: Path, server: CertPair) -> None:
    cert, key = write(server, tmp_path, "s")
    (tmp_path / "empty.pem").write_bytes(b"")
    with pytest.raises(
        CertError, match=r"empty\.pem: no PEM certificate in the file; give the certificate chain"
    ):
        load_pair(tmp_path / "empty.pem", key)
    with pytest.raises(CertError, match="it holds a private key: are the certificate and key paths swapped"):
        load_pair(key, cert)
    (tmp_path / "bad.pem").write_bytes(
        b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"
    )
    with pytest.raises(CertError, match=r"bad\.pem: a certificate cannot be parsed"):
        load_pair(tmp_path / "bad.pem", key)


def test_no_key_in_the_file(tmp_path: Path, server: CertPair) -> None:
    cert, _ = write(server, tmp_path, "s")
    with pytest.raises(CertError, match=r"s\.pem: no PEM private key in the file; give the key file"):
        load_pair(cert, cert)
    (tmp_path / "junk-key.pem").write_bytes(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(CertError, match=r"junk-key\.pem: the private key cannot be parsed"):
        load_pair(cert, tmp_path / "junk-key.pem")


def test_passphrases(tmp_path: Path, server: CertPair) -> None:
    cert, key = write(server, tmp_path, "s", passphrase="right")
    assert load_pair(cert, key, "right").names == server.names
    assert load_pair(cert, key, b"right").names == server.names
    with pytest.raises(CertError) as e:
        load_pair(cert, key)
    assert str(e.value) == f"{key}: the private key is encrypted; give its passphrase"
    with pytest.raises(CertError) as e:
        load_pair(cert, key, "wrong")
    assert str(e.value) == f"{key}: wrong passphrase for the private key; give the one it was encrypted with"


def test_key_that_does_not_match(tmp_path: Path, ca: CertPair, server: CertPair) -> None:
    cert, _ = write(server, tmp_path, "s")
    _, other_key = write(certs.issue(ca, ["localhost"]), tmp_path, "o")
    with pytest.raises(CertError) as e:
        load_pair(cert, other_key)
    assert str(e.value) == (
        f"{other_key}: this private key does not match the certificate in {cert} "
        "(CN=localhost,O=pipework development certificate); give the key the certificate was issued for"
    )


def test_expired_and_not_yet_valid(tmp_path: Path, ca: CertPair) -> None:
    past = certs.issue(ca, ["old.test"], days=10, now=dt.datetime(2020, 1, 1, 12, tzinfo=UTC))
    cert, key = write(past, tmp_path, "old")
    with pytest.raises(CertError) as e:
        load_pair(cert, key)
    assert str(e.value) == (
        f"{cert}: the certificate expired on 2020-01-11 11:55:00 UTC "
        "(valid from 2020-01-01 11:55:00 UTC); renew it"
    )
    assert load_pair(cert, key, now=dt.datetime(2020, 1, 5, tzinfo=UTC)).names == ("old.test",)

    soon = dt.datetime.now(UTC) + dt.timedelta(days=2)
    future = certs.issue(ca, ["new.test"], now=soon)
    cert, key = write(future, tmp_path, "new")
    with pytest.raises(
        CertError, match=r"the certificate is not valid yet: valid from \d{4}-\d\d-\d\d .* to .*"
    ):
        load_pair(cert, key)
    with pytest.raises(CertError, match="and now is 2021-01-01 00:00:00 UTC; check the clock, or wait"):
        load_pair(cert, key, now=dt.datetime(2021, 1, 1, tzinfo=UTC))


def test_chain_in_order(tmp_path: Path) -> None:
    mid = raw_ca("Test Intermediate", 0, parent=raw_ca("Test Deep Root", 1))
    leaf = certs.issue(mid, ["chained.test"])
    assert len(leaf.chain) == 2
    cert, key = write(leaf, tmp_path, "leaf")
    assert load_pair(cert, key).chain[1].subject == mid.cert.subject

    (tmp_path / "swapped.pem").write_bytes(
        b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf.chain[1], leaf.chain[0]))
    )
    with pytest.raises(CertError, match="this private key does not match"):
        load_pair(tmp_path / "swapped.pem", key)


def test_chain_out_of_order_is_an_error(tmp_path: Path, ca: CertPair, server: CertPair) -> None:
    """An intermediate that did not sign the certificate before it is refused (not just warned about)."""
    other = certs.make_ca("Other CA")
    cert, key = write(server, tmp_path, "s")
    cert.write_bytes(server.chain_pem + other.chain_pem)
    with pytest.raises(CertError) as e:
        load_pair(cert, key)
    assert str(e.value) == (
        f"{cert}: certificate 2 in the file (CN=Other CA,O=pipework development CA) did not issue "
        "certificate 1 (CN=localhost,O=pipework development certificate, issued by "
        "CN=Test CA,O=pipework development CA); put the leaf first, then each issuer in order"
    )
    cert.write_bytes(server.chain_pem + ca.chain_pem)  # the root itself may follow
    assert len(load_pair(cert, key).chain) == 2


def test_an_expired_intermediate(tmp_path: Path, ca: CertPair, server: CertPair) -> None:
    old_ca = certs.make_ca("Old CA", days=5, now=dt.datetime(2020, 1, 1, tzinfo=UTC))
    cert, key = write(server, tmp_path, "s")
    cert.write_bytes(server.chain_pem + old_ca.chain_pem)
    with pytest.raises(CertError, match=r"intermediate certificate 1 \(CN=Old CA,.*\) expired on 2020-01-05"):
        load_pair(cert, key)


# --- names ------------------------------------------------------------------------------------

MATCHES = [
    ("localhost", True),
    ("LocalHost.", True),
    ("a.example.test", True),
    ("A.Example.Test", True),
    ("example.test", False),
    ("a.b.example.test", False),
    (".example.test", False),
    ("aexample.test", False),
    ("127.0.0.1", True),
    ("::1", True),
    ("[::1]", True),
    ("0:0:0:0:0:0:0:1", True),
    ("127.0.0.2", False),
    ("other.test", False),
    ("", False),
]


@pytest.mark.parametrize(("name", "expected"), MATCHES)
def test_matches(server: CertPair, name: str, expected: bool) -> None:
    assert server.matches(name) is expected


def test_wildcards_only_as_a_whole_label(ca: CertPair) -> None:
    pair = certs.issue(ca, ["*.test", "x.y.test"])
    assert not pair.matches("a.test")  # "*.com"-like: right above a top-level label
    assert pair.matches("x.y.test")
    for bad in ("a.*.test", "f*.test", "*", "*.*.test", "a b.test", "-a.test", ""):
        with pytest.raises(ValueError, match="is not a DNS name"):
            certs.issue(ca, [bad])


def test_common_name_when_there_is_no_san(ca: CertPair) -> None:
    assert ca.names == ("test ca",)
    assert ca.matches("Test CA")


# --- the store --------------------------------------------------------------------------------


def test_select_exact_then_wildcard_then_default(ca: CertPair) -> None:
    default = certs.issue(ca, ["default.test"])
    exact = certs.issue(ca, ["a.example.test"])
    wild = certs.issue(ca, ["*.example.test", "www.other.test"])
    store = CertStore()
    for p in (default, wild, exact):
        store.add(p)
    assert store.default is default
    assert store.select("a.example.test") is exact
    assert store.select("A.EXAMPLE.TEST.") is exact
    assert store.select("b.example.test") is wild
    assert store.select("www.other.test") is wild
    assert store.select("x.b.example.test") is default
    assert store.select("example.test") is default
    assert store.select(None) is default
    assert store.select("") is default
    assert store.pairs == [default, wild, exact]


def test_default_and_duplicates(ca: CertPair) -> None:
    first = certs.issue(ca, ["same.test"])
    second = certs.issue(ca, ["same.test", "other.test"])
    store = CertStore()
    store.add(first)
    store.add(second, default=True)
    assert store.default is second
    assert store.select("same.test") is first  # the first added wins a shared name
    assert store.select("nothing.test") is second


def test_empty_store() -> None:
    with pytest.raises(CertError, match="no certificate to serve"):
        CertStore().select("a.test")


def test_reload_on_rotation(tmp_path: Path, ca: CertPair) -> None:
    changed: list[CertPair] = []
    watched: list[CertPair] = []
    store = CertStore(on_change=changed.append)
    store.watch(watched.append)
    cert, key = write(certs.issue(ca, ["r.test"]), tmp_path, "r")
    old = store.load(cert, key)
    assert store.check() == []

    new = certs.issue(ca, ["r.test", "r2.test"], key_type="rsa")
    write(new, tmp_path, "r")  # save renames new files over the old: new inodes
    (swapped,) = store.check()
    assert swapped.fingerprint_sha256 == new.fingerprint_sha256
    assert changed == watched == [swapped]
    assert store.select("r2.test") is swapped
    assert store.default is swapped
    assert store.check() == []
    assert old.fingerprint_sha256 != swapped.fingerprint_sha256


def test_reload_rewritten_in_place(tmp_path: Path, ca: CertPair) -> None:
    store = CertStore()
    cert, key = write(certs.issue(ca, ["p.test"]), tmp_path, "p")
    store.load(cert, key)
    inode = cert.stat().st_ino
    new = certs.issue(ca, ["p.test"])
    cert.write_bytes(new.chain_pem)
    key.write_bytes(new.key_pem)
    assert cert.stat().st_ino == inode
    (swapped,) = store.check()
    assert swapped.fingerprint_sha256 == new.fingerprint_sha256


def test_a_broken_rotation_keeps_the_old_pair(
    tmp_path: Path, ca: CertPair, caplog: pytest.LogCaptureFixture
) -> None:
    changed: list[CertPair] = []
    store = CertStore(on_change=changed.append)
    cert, key = write(certs.issue(ca, ["b.test"]), tmp_path, "b")
    old = store.load(cert, key)

    new = certs.issue(ca, ["b.test"])
    cert.write_bytes(new.chain_pem)  # half-way: the new certificate, the old key
    with caplog.at_level(logging.ERROR, logger="pipework.certs"):
        assert store.check() == []
        assert store.check() == []
    assert store.select("b.test") is old
    errors = [r.getMessage() for r in caplog.records]
    assert len(errors) == 1, errors  # once per state of the files
    assert errors[0].startswith("certificate reload failed, still serving the one valid until ")
    assert "this private key does not match the certificate" in errors[0]

    key.write_bytes(new.key_pem)  # the rotation completes
    (swapped,) = store.check()
    assert swapped.fingerprint_sha256 == new.fingerprint_sha256
    assert changed == [swapped]

    caplog.clear()
    cert.unlink()
    with caplog.at_level(logging.ERROR, logger="pipework.certs"):
        assert store.check() == []
    assert "cannot read the certificate file (No such file or directory)" in caplog.text
    assert store.select("b.test") is swapped
    cert.write_bytes(b"garbage")
    with caplog.at_level(logging.ERROR, logger="pipework.certs"):
        assert store.check() == []
    assert "no PEM certificate in the file" in caplog.text


def test_pairs_made_in_memory_are_not_watched(server: CertPair) -> None:
    store = CertStore()
    store.add(server)
    assert store.check() == []


# --- OpenSSL --------------------------------------------------------------------------------


def handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, name: str) -> tuple[ssl.SSLObject, ...]:
    """A TLS handshake in memory, without sockets; returns (server, client) SSL objects."""
    s_in, s_out, c_in, c_out = (ssl.MemoryBIO() for _ in range(4))
    srv = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    cli = client_ctx.wrap_bio(c_in, c_out, server_hostname=name)
    done = {srv: False, cli: False}
    for _ in range(20):
        for obj in (cli, srv):
            if not done[obj]:
                try:
                    obj.do_handshake()
                    done[obj] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            return srv, cli
    raise AssertionError("the handshake did not finish")


@pytest.mark.parametrize("kind", KINDS)
def test_load_into_a_context_and_shake_hands(
    tmp_path: Path, ca: CertPair, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    pair = certs.issue(ca, ["hs.test"], key_type=kind)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    pair.load_into(server_ctx)
    assert os.listdir(tmp_path) == []  # the private file is gone
    client_ctx = ssl.create_default_context(cadata=ca.chain_pem.decode())
    _, cli = handshake(server_ctx, client_ctx, "hs.test")
    assert cli.getpeercert(binary_form=True) == pair.cert.public_bytes(serialization.Encoding.DER)


def test_mutual_tls_and_peer_facts(ca: CertPair, server: CertPair) -> None:
    client = certs.issue(ca, ["alice", "alice@example.test"], client=True, key_type="rsa")
    eku = client.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_into(server_ctx)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    server_ctx.load_verify_locations(cadata=ca.chain_pem.decode())
    client_ctx = ssl.create_default_context(cadata=ca.chain_pem.decode())
    client.load_into(client_ctx)
    srv, _ = handshake(server_ctx, client_ctx, "localhost")
    der = srv.getpeercert(binary_form=True)
    assert der is not None
    info = certs.peer_cert_info(der)
    assert info["subject"] == "CN=alice,O=pipework development certificate"
    assert info["issuer"] == ca.subject
    assert info["common_name"] == "alice"
    assert info["sans"] == ["alice", "alice@example.test"]
    assert info["serial"] == format(client.cert.serial_number, "X")
    assert info["not_before"] == client.not_before
    assert info["not_after"] == client.not_after
    assert info["fingerprint_sha256"] == client.fingerprint_sha256
    assert info["pem"].encode() == client.chain_pem
    assert urllib.parse.unquote(info["escaped_pem"]) == info["pem"]
    assert info["escaped_pem"].startswith("-----BEGIN%20CERTIFICATE-----%0A")
    assert not set(info["escaped_pem"]) & set(" \n+/=")


def test_peer_cert_info_of_garbage() -> None:
    with pytest.raises(CertError, match="the peer's certificate cannot be parsed"):
        certs.peer_cert_info(b"\x30\x03abc")


# --- making certificates -------------------------------------------------------------------


def test_make_ca_and_issue_arguments(ca: CertPair, server: CertPair) -> None:
    bc = ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert bc.ca
    assert 3649 < ca.days_left() <= 3650
    assert certs.make_ca().subject != certs.make_ca().subject  # unique default names
    rsa_ca = certs.make_ca(key_type="rsa", rsa_bits=3072)
    assert isinstance(rsa_ca.key, rsa.RSAPrivateKey)
    assert rsa_ca.key.key_size == 3072
    with pytest.raises(ValueError, match="is not a CA certificate"):
        certs.issue(server, ["x.test"])
    with pytest.raises(ValueError, match="give at least one name"):
        certs.issue(ca, [])
    with pytest.raises(ValueError, match="days must be >= 1"):
        certs.issue(ca, ["x.test"], days=0)
    with pytest.raises(ValueError, match="RSA keys are 2048, 3072, 4096 bits, not 1024"):
        certs.issue(ca, ["x.test"], key_type="rsa", rsa_bits=1024)
    with pytest.raises(ValueError, match="key type is 'ecdsa' or 'rsa'"):
        certs.issue(ca, ["x.test"], key_type="dsa")
    short = certs.make_ca("Short CA", days=2)
    assert certs.issue(short, ["x.test"]).not_after == short.not_after  # never outlives its CA


def test_name_constraints() -> None:
    ca = certs.make_ca("Constrained CA", permitted=["test", "10.0.0.0/8"])
    assert certs.issue(ca, ["a.test", "*.b.test", "test", "10.1.2.3"]).names
    with pytest.raises(ValueError, match=r"may sign only for test, 10\.0\.0\.0/8, not other\.example"):
        certs.issue(ca, ["a.test", "other.example"])
    with pytest.raises(ValueError, match=r"not 192\.168\.0\.1"):
        certs.issue(ca, ["192.168.0.1"])
    with pytest.raises(ValueError, match="a name constraint is a DNS domain"):
        certs.make_ca(permitted=["*.test"])


def test_save_modes(tmp_path: Path, server: CertPair) -> None:
    cert, key = write(server, tmp_path, "m", passphrase="pw")
    assert cert.stat().st_mode & 0o777 == 0o644
    assert key.stat().st_mode & 0o777 == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in key.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m-key.pem", "m.pem"]

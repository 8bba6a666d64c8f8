"""authorize end to end: JWTs made by PyJWT with roles and scopes, client certificates made by
`pipework cert` and openssl presented by curl, client addresses (curl --interface from 127.0.0.2),
methods and paths; refusals answered 403 (401 for a missing identity) with the reason in
pipework's log and not in the answer; a bad ``when`` stops `pipework check` with the column."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from helpers import ROOT, free_ports, require, run_script

RULES = """[
    {"allow": True, "methods": ["GET", "HEAD"], "paths": ["/public/*"]},
    {"deny": True, "clients": ["127.0.0.2"], "name": "blocked-host"},
    {"allow": True, "paths": ["/admin/*"], "when": "'admin' in claims.roles", "name": "admins"},
    {"allow": True, "methods": ["GET"], "paths": ["/orders/{id}"], "when": "'orders:read' in scopes"},
    {"deny": True, "paths": ["/me"], "when": "claims.sub == 'mallory'", "name": "no-mallory"},
    {"allow": True, "paths": ["/me"], "when": "has(claims.sub)"},
]"""


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    require("curl")
    return subprocess.run(
        ["curl", "-sS", "--max-time", "10", *args], capture_output=True, text=True, timeout=30, check=False
    )


def status(*args: str) -> str:
    return curl("-o", "/dev/null", "-w", "%{http_code}", *args).stdout


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    d = tmp_path_factory.mktemp("jwt")
    key = ec.generate_private_key(ec.SECP256R1())
    pem = d / "pub.pem"
    pem.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return SimpleNamespace(key=key, pem=str(pem))


def token(keys: SimpleNamespace, **claims: object) -> str:
    claims.setdefault("exp", int(time.time()) + 300)
    return jwt.encode(claims, keys.key, algorithm="ES256")


def test_rules_over_claims_methods_paths_and_addresses(pipework, tmp_path: Path, backends, keys) -> None:
    (b,) = backends(1)
    open_port, jwt_port, fn_port = free_ports(3)
    proc = run_script(
        pipework,
        tmp_path / "authz.py",
        textwrap.dedent(f"""\
        import pipework as pw
        rules = {textwrap.indent(RULES, "        ").strip()}
        def serve(port, front):
            pw.listen(f'127.0.0.1:{{port}}', pw.pipeline(lambda p: p.demux_http().to(
                lambda p: front(p).proxy({b.address!r}))))
        # no authentication in front: claims are always absent
        serve({open_port}, lambda p: p.authorize(rules))
        serve({jwt_port}, lambda p: p.jwt_auth({keys.pem!r}, algorithms=['ES256']).authorize(rules))
        def readers(req):
            if req.method == 'GET':
                return True
            return f'{{req.method}} is for nobody (from {{req.client}})'
        serve({fn_port}, lambda p: p.authorize(readers))
        """),
    )
    open_url, jwt_url = f"http://127.0.0.1:{open_port}", f"http://127.0.0.1:{jwt_port}"
    assert status(f"{open_url}/public/a") == "200"
    assert status(f"{open_url}/public/../admin/x") == "401"  # normalized: /admin/x, not /public/
    assert status("-X", "POST", f"{open_url}/public/a") == "403"  # no rule allows POST there
    r = curl("-i", f"{open_url}/admin/x")
    assert r.stdout.startswith("HTTP/1.1 401"), r.stdout
    assert 'www-authenticate: Bearer realm="pipework"\n' in r.stdout
    assert r.stdout.endswith("\n\nauthentication required\n")  # no reason for the client
    proc.wait_log(
        r"authorize: GET /admin/x from 127\.0\.0\.1 refused \(401\): no rule allows "
        r"\(admins cannot be decided: claims is absent\); the default denies"
    )
    # the address rule: curl from 127.0.0.2
    assert status("--interface", "127.0.0.2", f"{open_url}/public/a") == "200"  # allowed before it
    r = curl("-i", "--interface", "127.0.0.2", f"{open_url}/me")
    assert r.stdout.startswith("HTTP/1.1 403")
    assert r.stdout.endswith("\n\nforbidden\n")
    proc.wait_log(r"GET /me from 127\.0\.0\.2 refused \(403\): blocked-host denies")

    def bearer(**claims: object) -> str:
        return f"Authorization: Bearer {token(keys, **claims)}"

    admin, dev = bearer(sub="ann", roles=["admin"]), bearer(sub="bob", roles=["dev"])
    assert curl("-H", admin, f"{jwt_url}/admin/users").stdout == b.name
    assert status("-H", dev, f"{jwt_url}/admin/users") == "403"
    proc.wait_log(r"GET /admin/users from 127\.0\.0\.1 refused \(403\): no rule allows; the default denies")
    assert status("-H", bearer(sub="eve"), f"{jwt_url}/admin/users") == "403"  # no roles claim
    proc.wait_log(r"refused \(403\): no rule allows \(admins cannot be decided: claims\.roles is missing\)")
    reader = bearer(sub="ann", scope="profile orders:read")
    assert status("-H", reader, f"{jwt_url}/orders/17") == "200"
    assert status("-X", "DELETE", "-H", reader, f"{jwt_url}/orders/17") == "403"
    assert status("-H", reader, f"{jwt_url}/orders/17/items") == "403"  # {id} is one segment
    assert status("-H", bearer(scope="profile"), f"{jwt_url}/orders/17") == "403"
    assert status("-H", bearer(sub="alice"), f"{jwt_url}/me") == "200"
    assert status("-H", bearer(sub="mallory"), f"{jwt_url}/me") == "403"
    proc.wait_log(r"GET /me from 127\.0\.0\.1 refused \(403\): no-mallory denies")
    assert status(f"{jwt_url}/public/a") == "401"  # jwt_auth itself, before the rules
    # the function form
    fn_url = f"http://127.0.0.1:{fn_port}/x"
    assert status(fn_url) == "200"
    assert status("-X", "PUT", fn_url) == "403"
    proc.wait_log(r"PUT /x from 127\.0\.0\.1 refused \(403\): PUT is for nobody \(from 127\.0\.0\.1\)")


def _pipework_cert(*args: str, cwd: Path) -> None:
    subprocess.run([sys.executable, "-m", "pipework", "cert", *args], cwd=cwd, check=True,
                   capture_output=True, timeout=60)  # fmt: skip


def test_rules_over_client_certificates(pipework, tmp_path: Path, backends) -> None:
    require("openssl")
    (b,) = backends(1)
    pki = tmp_path / "pki"
    _pipework_cert("ca", "--out", str(pki), cwd=tmp_path)
    _pipework_cert("issue", "localhost", "127.0.0.1", "--ca", str(pki), "--out", str(pki), cwd=tmp_path)
    _pipework_cert("issue", "alice", "--client", "--ca", str(pki), "--out", str(pki), cwd=tmp_path)
    _pipework_cert("issue", "spiffe://example.org/ns/web", "--client", "--ca", str(pki), "--out", str(pki),
                   cwd=tmp_path)  # fmt: skip
    spiffe = next(pki.glob("spiffe*-client.pem"))
    spiffe_key = next(pki.glob("spiffe*-client-key.pem"))
    # carol's certificate made by openssl, with an e-mail address
    ext = tmp_path / "carol.ext"
    ext.write_text("subjectAltName=email:carol@example.org\nextendedKeyUsage=clientAuth\n")
    for cmd in (
        ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "carol.key",
         "-out", "carol.csr", "-subj", "/CN=carol"],
        ["x509", "-req", "-in", "carol.csr", "-CA", str(pki / "ca.pem"), "-CAkey", str(pki / "ca-key.pem"),
         "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", "carol.pem"],
    ):  # fmt: skip
        subprocess.run(["openssl", *cmd], cwd=tmp_path, check=True, capture_output=True, timeout=30)
    carol = x509.load_pem_x509_certificate((tmp_path / "carol.pem").read_bytes())
    carol_sha = carol.fingerprint(hashes.SHA256()).hex()
    rules = [
        {"allow": True, "paths": ["/alice/*"], "certs": ["cn:alice"]},
        {"allow": True, "paths": ["/web/*"], "certs": ["uri:spiffe://example.org/ns/web"]},
        {"allow": True, "paths": ["/mail/*"], "certs": ["email:carol@example.org"]},
        {"allow": True, "paths": ["/pinned/*"], "certs": [f"sha256:{carol_sha}"]},
        {"allow": True, "paths": ["/expr/*"], "when": "cert.cn == 'alice' and 'alice' in cert.dns"},
        {"allow": True, "paths": ["/open/*"]},
    ]
    (port,) = free_ports(1)
    proc = run_script(
        pipework,
        tmp_path / "mtls.py",
        textwrap.dedent(f"""\
        import pipework as pw
        pw.listen('127.0.0.1:{port}', pw.pipeline(lambda p: p.accept_tls(
            ({str(pki / "localhost.pem")!r}, {str(pki / "localhost-key.pem")!r}),
            client_ca={str(pki / "ca.pem")!r}, verify_client='optional',
        ).to(lambda p: p.demux_http().to(lambda p: p.authorize({rules!r}).proxy({b.address!r})))))
        """),
    )
    base = ("--cacert", str(pki / "ca.pem"))
    url = f"https://127.0.0.1:{port}"
    alice = ("--cert", str(pki / "alice-client.pem"), "--key", str(pki / "alice-client-key.pem"))
    web = ("--cert", str(spiffe), "--key", str(spiffe_key))
    carol_args = ("--cert", str(tmp_path / "carol.pem"), "--key", str(tmp_path / "carol.key"))
    assert status(*base, f"{url}/open/x") == "200"  # no certificate needed there
    assert status(*base, f"{url}/alice/x") == "403"  # none presented: 403, no HTTP challenge helps
    proc.wait_log(r"refused \(403\): no rule allows \(rule 1 cannot be decided: cert is absent\)")
    assert status(*base, *alice, f"{url}/alice/x") == "200"
    assert status(*base, *alice, f"{url}/expr/x") == "200"
    assert status(*base, *web, f"{url}/alice/x") == "403"
    assert status(*base, *web, f"{url}/web/x") == "200"
    assert status(*base, *carol_args, f"{url}/mail/x") == "200"
    assert status(*base, *carol_args, f"{url}/pinned/x") == "200"
    assert status(*base, *alice, f"{url}/pinned/x") == "403"
    assert status(*base, *carol_args, f"{url}/expr/x") == "403"
    assert b.count() == 6  # the refused requests never reached it


def test_a_bad_when_fails_the_script_at_load(tmp_path: Path) -> None:
    script = tmp_path / "bad.py"
    script.write_text(
        "import pipework as pw\n"
        "rules = [{'allow': True, 'paths': ['/a/*']},\n"
        "         {'allow': True, 'when': \"'admin' in claims.roles or clams.sub == 'x'\"}]\n"
        "pw.listen(8080, pw.pipeline(lambda p: p.demux_http().to(\n"
        "    lambda p: p.authorize(rules).proxy('127.0.0.1:1'))))\n"
    )
    r = subprocess.run([sys.executable, "-m", "pipework", "check", str(script)], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 1
    out = r.stdout + r.stderr
    assert (
        f"{script}:5: ExprError: authorize(): rule 2: when: column 28: unknown name 'clams' "
        "(did you mean claims?)" in out
    ), out

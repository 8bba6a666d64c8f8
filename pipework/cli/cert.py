"""``pipework cert``: a local development CA and certificates, as mkcert makes them.

``ca`` writes a CA (``ca.pem``, ``ca-key.pem``) into a directory; ``issue`` signs server or client
certificates with it; ``check`` loads a certificate and key as pipework would and reports what it
finds. All the work is in :mod:`pipework.net.certs`; this module turns arguments into calls and
results into lines saying what was written where. That module (and ``cryptography``) is imported
only when a ``cert`` command runs, so that the other commands start no slower.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from pathlib import Path
from typing import Any

CA_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"

EPILOG = """\
examples:
  pipework cert ca --out ./pki
  pipework cert issue localhost 127.0.0.1 ::1 --ca ./pki --out ./pki
  pipework cert issue example.test '*.example.test' --ca ./pki --out ./pki --rsa 2048
  pipework cert issue alice --client --ca ./pki --out ./pki      a client certificate for mutual TLS
  pipework cert check ./pki/localhost.pem ./pki/localhost-key.pem

Clients trust the certificates through the CA: curl --cacert ./pki/ca.pem,
openssl s_client -CAfile ./pki/ca.pem. Keep ca-key.pem private; never use it in production.
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register ``cert`` and its commands on the main parser's subcommands; return its parser."""
    top = sub.add_parser(
        "cert",
        help="make a development CA and certificates (like mkcert)",
        description="Make a local CA and certificates signed by it, for development and tests.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.set_defaults(cert_help=top.print_help)
    cmds = top.add_subparsers(dest="cert_command", metavar="COMMAND")

    ca = cmds.add_parser(
        "ca",
        help="make a CA: DIR/ca.pem and DIR/ca-key.pem",
        description="Make a self-signed CA for development (10 years by default).",
        epilog="example:\n  pipework cert ca --out ./pki --name-constraint test --name-constraint 127.0.0.0/8"
        "\n    a CA that can sign only for names under .test and addresses in 127.0.0.0/8",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ca.add_argument("--out", required=True, metavar="DIR", help="directory to write into (made if missing)")
    ca.add_argument("--name", metavar="CN", help="the CA's common name (default: a unique development name)")
    ca.add_argument("--days", type=_days, help="validity in days (default 3650: 10 years)")
    ca.add_argument(
        "--name-constraint",
        action="append",
        default=[],
        metavar="NAME",
        dest="permitted",
        help="let the CA sign only for this DNS domain or IP network (repeatable); "
        "a stolen CA key is then worth less",
    )
    _key_options(ca)

    issue = cmds.add_parser(
        "issue",
        help="make a certificate signed by the CA",
        description="Make a server certificate (or a client certificate with --client) for NAMEs,\n"
        "signed by the CA in --ca DIR. Writes OUT/BASE.pem (the certificate) and OUT/BASE-key.pem.",
        epilog="examples:\n"
        "  pipework cert issue localhost 127.0.0.1 ::1 --ca ./pki --out ./pki\n"
        "  pipework cert issue '*.example.test' --ca ./pki --out ./pki --key-passphrase secret\n"
        "  pipework cert issue alice@example.test --client --ca ./pki --out ./pki",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    issue.add_argument(
        "names",
        nargs="+",
        metavar="NAME",
        help="DNS names (*.example.test for a wildcard), IP addresses; with --client also e-mails and URIs",
    )
    issue.add_argument("--ca", required=True, metavar="DIR", help="the directory `pipework cert ca` wrote")
    issue.add_argument("--ca-passphrase", metavar="PASS", help="the CA key's passphrase, if it has one")
    issue.add_argument(
        "--out", required=True, metavar="DIR", help="directory to write into (made if missing)"
    )
    issue.add_argument(
        "--days", type=_days, help="validity in days (default 825, the longest Apple's clients accept)"
    )
    issue.add_argument("--client", action="store_true", help="a client certificate (mutual TLS)")
    issue.add_argument(
        "--basename",
        metavar="BASE",
        help="file names BASE.pem and BASE-key.pem (default: the first name, plus -client with --client)",
    )
    _key_options(issue)

    check = cmds.add_parser(
        "check",
        help="load a certificate and key as pipework would, and describe them",
        description="Load CERT (a PEM chain, leaf first) and KEY as a TLS listener would; print the names, "
        "dates and fingerprint, or what is wrong (exit 1).",
    )
    check.add_argument("cert", metavar="CERT")
    check.add_argument("key", nargs="?", metavar="KEY", help="the private key (default: in CERT)")
    check.add_argument("--passphrase", metavar="PASS", help="the key's passphrase, if it has one")
    return top


def _key_options(p: argparse.ArgumentParser) -> None:
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--ecdsa", action="store_true", help="an ECDSA P-256 key (the default)")
    kind.add_argument("--rsa", type=int, metavar="BITS", help="an RSA key of BITS: 2048, 3072 or 4096")
    p.add_argument(
        "--key-passphrase",
        metavar="PASS",
        help="encrypt the written key with PASS (it shows in `ps`: for development only)",
    )
    p.add_argument("--force", action="store_true", help="overwrite files that exist")


def _days(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of days, got {s!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected days >= 1, got {v}")
    return v


class _Fail(Exception):
    """A message for the user; exit 1."""


def main(args: argparse.Namespace) -> int:
    """Run ``pipework cert ...``: 0 on success, 1 with a message on stderr, 2 without a command."""
    try:
        if args.cert_command == "ca":
            return _ca(args)
        if args.cert_command == "issue":
            return _issue(args)
        if args.cert_command == "check":
            return _check(args)
    except (_Fail, ValueError) as exc:  # CertError is a ValueError
        print(f"pipework cert: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"pipework cert: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    args.cert_help()
    return 2


def _ca(args: argparse.Namespace) -> int:
    from ..net import certs

    out = _out_dir(args.out)
    cert_path, key_path = out / CA_FILE, out / CA_KEY_FILE
    _may_write(args.force, cert_path, key_path)
    ca = certs.make_ca(args.name, permitted=args.permitted, **_key_args(args, certs.CA_DAYS))
    certs.save(ca, cert_path, key_path, args.key_passphrase)
    print(f"wrote {cert_path}: CA certificate {ca.subject}, valid until {_date(ca.not_after)}")
    if args.permitted:
        print(f"  it can sign only for: {', '.join(args.permitted)}")
    print(
        f"wrote {key_path}: its private key{' (encrypted)' if args.key_passphrase else ''}; keep it private"
    )
    print(f"next: pipework cert issue localhost 127.0.0.1 --ca {out} --out {out}")
    return 0


def _issue(args: argparse.Namespace) -> int:
    from ..net import certs

    ca_dir = Path(args.ca)
    ca_cert, ca_key = ca_dir / CA_FILE, ca_dir / CA_KEY_FILE
    if not ca_cert.exists() or not ca_key.exists():
        raise _Fail(
            f"no CA in {ca_dir} ({CA_FILE} and {CA_KEY_FILE}); make one with: pipework cert ca --out {ca_dir}"
        )
    ca = certs.load_pair(ca_cert, ca_key, args.ca_passphrase)
    out = _out_dir(args.out)
    base = args.basename or _basename(args.names[0]) + ("-client" if args.client else "")
    cert_path, key_path = out / f"{base}.pem", out / f"{base}-key.pem"
    _may_write(args.force, cert_path, key_path)
    pair = certs.issue(ca, args.names, client=args.client, **_key_args(args, certs.LEAF_DAYS))
    certs.save(pair, cert_path, key_path, args.key_passphrase)
    kind = "client" if args.client else "server"
    names = ", ".join(pair.names)
    print(f"wrote {cert_path}: {kind} certificate for {names}, valid until {_date(pair.not_after)}")
    print(f"wrote {key_path}: its private key{' (encrypted)' if args.key_passphrase else ''}")
    print(f"signed by {ca.subject}: clients trust it with {ca_cert}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from ..net import certs

    pair = certs.load_pair(args.cert, args.key, args.passphrase)
    print(f"{args.cert}: ok")
    print(f"  subject:      {pair.subject}")
    print(f"  issuer:       {pair.issuer}")
    print(f"  names:        {', '.join(pair.names)}")
    left = f"{pair.days_left():.0f} days left"
    print(f"  valid:        {_date(pair.not_before)} to {_date(pair.not_after)} ({left})")
    print(f"  chain:        {len(pair.chain)} certificate(s)")
    print(f"  sha256:       {pair.fingerprint_sha256}")
    return 0


def _key_args(args: argparse.Namespace, days: int) -> dict[str, Any]:
    if args.rsa:
        return {"key_type": "rsa", "rsa_bits": args.rsa, "days": args.days or days}
    return {"key_type": "ecdsa", "days": args.days or days}


def _date(t: dt.datetime) -> str:
    return f"{t:%Y-%m-%d %H:%M} UTC"


def _basename(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@-]", "_", name.replace("*", "_wildcard"))


def _out_dir(path: str) -> Path:
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise _Fail(f"{out} is not a directory; give a directory for --out")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _may_write(force: bool, *paths: Path) -> None:
    existing = [str(p) for p in paths if p.exists()]
    if existing and not force:
        are = "is" if len(existing) == 1 else "are"
        raise _Fail(
            f"{' and '.join(existing)} {are} there already; remove, choose another --out, or add --force"
        )

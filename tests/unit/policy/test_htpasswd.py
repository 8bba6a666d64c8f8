"""htpasswd files made by Apache's own htpasswd tool, checked by pipework."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest
from helpers import require

from pipework.policy.htpasswd import Htpasswd, HtpasswdError, apr1, basic_credentials, parse


def htpasswd(path: Path, flag: str, user: str, password: str) -> None:
    exe = require("htpasswd")
    args = [
        exe,
        "-b",
        *(["-c"] if not path.exists() else []),
        *([flag] if flag else []),
        str(path),
        user,
        password,
    ]
    r = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("flag", ["-B", "-m", "-s", ""])
def test_every_format_the_tool_writes(tmp_path: Path, flag: str) -> None:
    f = tmp_path / "users"
    htpasswd(f, flag, "ann", "s3cret pass")
    htpasswd(f, flag, "bob", "ünïcode")
    users = Htpasswd.from_file(str(f))
    assert users.check("ann", "s3cret pass")
    assert users.check("bob", "ünïcode")
    assert not users.check("ann", "s3cret pas")
    assert not users.check("ann", "")
    assert not users.check("carl", "s3cret pass")
    assert users.check("ann", "s3cret pass")  # bcrypt: from the cache, the same answer


def test_crypt_is_refused_with_what_to_do(tmp_path: Path) -> None:
    f = tmp_path / "users"
    htpasswd(f, "-d", "old", "password")
    with pytest.raises(HtpasswdError, match=r"users:1: old: crypt\(\) hashes keep only 8 characters"):
        Htpasswd.from_file(str(f))


def test_parse_errors_name_the_line() -> None:
    with pytest.raises(HtpasswdError, match="f:2: expected user:hash"):
        parse(["# comment", "nocolon"], "f")
    with pytest.raises(HtpasswdError, match="f:2: a is listed twice"):
        parse(["a:{SHA}x", "a:{SHA}y"], "f")
    assert parse(["", "  # x", "u:$apr1$abc$def"]) == {"u": "$apr1$abc$def"}


def test_apr1_vector() -> None:
    # the value `openssl passwd -apr1 -salt saltsalt password` prints
    assert apr1("password", "saltsalt") == "$apr1$saltsalt$yAAkm4libquA.ZWLHbSBq/"


def test_basic_credentials() -> None:
    token = base64.b64encode(b"ann:pa:ss").decode()
    assert basic_credentials(f"Basic {token}") == ("ann", "pa:ss")
    assert basic_credentials(f"basic {token}".encode()) == ("ann", "pa:ss")
    assert basic_credentials("Bearer abc") is None
    assert basic_credentials("Basic !!!") is None
    assert basic_credentials("Basic " + base64.b64encode(b"nocolon").decode()) is None
    assert basic_credentials(None) is None

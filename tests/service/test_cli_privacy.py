"""``blindmatch privacy``: keys, building a signed table, verifying it as a client, refusing tampering."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from typer.testing import CliRunner

from blindmatch.cli import app


def _run(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, list(args), env={"BLINDMATCH_DATA_DIR": str(tmp_path / "var")})
    return r.exit_code, r.stdout, r.stderr


def test_build_verify_transparency_and_tamper(tmp_path: Path) -> None:
    keys = []
    for name in ("c1", "c2", "other"):
        code, out, _ = _run(tmp_path, "privacy", "keygen", str(tmp_path / f"{name}.pem"))
        assert code == 0 and len(out.strip()) == 64
        keys.append(out.strip())
    assert _run(tmp_path, "privacy", "keygen", str(tmp_path / "c1.pem"))[0] == 2  # never overwrites a key
    hashes = tmp_path / "hashes.txt"
    hashes.write_text("\n".join(secrets.token_hex(32) for _ in range(25)) + "\n")
    table, cust = tmp_path / "t.bmt", tmp_path / "custodian.bin"
    code, out, err = _run(
        tmp_path, "privacy", "build-table", "--hashes", str(hashes), "--signer", str(tmp_path / "c1.pem"),
        "--signer", str(tmp_path / "c2.pem"), "--out", str(table), "--custodian-out", str(cust),
    )  # fmt: skip
    assert code == 0, err
    built = json.loads(out)
    assert built["entries"] == 25 and (cust.stat().st_mode & 0o777) == 0o600
    code, out, _ = _run(
        tmp_path, "privacy", "verify-table", str(table), "--trust", keys[0], "--trust", keys[1], "--threshold", "2"
    )
    assert code == 0 and json.loads(out)["root"] == built["merkle_root"]
    # the wrong custodian, or too few signatures, is refused
    assert _run(tmp_path, "privacy", "verify-table", str(table), "--trust", keys[2])[0] == 2
    code, _, err = _run(
        tmp_path, "privacy", "verify-table", str(table), "--trust", keys[0], "--trust", keys[2], "--threshold", "2"
    )
    assert code == 2 and "REJECTED" in err
    code, out, _ = _run(tmp_path, "privacy", "transparency", str(table))
    assert code == 0 and built["merkle_root"] in out and "NOT VERIFIED" in out
    data = bytearray(table.read_bytes())
    data[-40] ^= 0x01  # flip a bit in a slot: the Merkle root (or the point check) must catch it
    bad = tmp_path / "bad.bmt"
    bad.write_bytes(bytes(data))
    code, _, err = _run(tmp_path, "privacy", "verify-table", str(bad), "--trust", keys[0])
    assert code == 2 and "REJECTED" in err

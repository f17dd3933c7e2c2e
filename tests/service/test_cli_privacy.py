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


def test_build_table_with_warn_before_send(tmp_path: Path) -> None:
    from blindmatch.privacy.api import verify_table
    from blindmatch.privacy.keyfiles import load_public_key, load_warn_key
    from blindmatch.privacy.oprf import OprfClient, OprfServer, warn_before_send
    from blindmatch.privacy.tokens import default_scheme
    from blindmatch.privacy.warn import WarnFilter

    assert _run(tmp_path, "privacy", "keygen", str(tmp_path / "c1.pem"))[0] == 0
    listed = [secrets.token_hex(32) for _ in range(12)]
    hashes = tmp_path / "hashes.txt"
    hashes.write_text("\n".join(listed) + "\n")
    table, cust, filt, wkey = (tmp_path / n for n in ("t.bmt", "c.bin", "t.bmw", "warn.key"))
    common = ["privacy", "build-table", "--hashes", str(hashes), "--signer", str(tmp_path / "c1.pem"),
              "--out", str(table), "--custodian-out", str(cust)]  # fmt: skip
    code, _, err = _run(tmp_path, *common, "--warn-filter", str(filt))
    assert code == 2 and "both --warn-filter and --warn-key-out" in err
    code, out, err = _run(tmp_path, *common, "--warn-filter", str(filt), "--warn-key-out", str(wkey))
    assert code == 0, err
    assert json.loads(out)["warn_filter_bytes"] == filt.stat().st_size and (wkey.stat().st_mode & 0o777) == 0o600
    code, out, _ = _run(tmp_path, "privacy", "transparency", str(table))
    assert code == 0 and "warn mode:     L_w " in out
    code, _, err = _run(tmp_path, *common, "--warn-filter", str(filt), "--warn-key-out", str(wkey))
    assert code == 2 and "refusing to overwrite" in err
    verified = verify_table(table.read_bytes(), [load_public_key(str(tmp_path / "c1.pem"))])
    client = OprfClient(WarnFilter.verify(filt.read_bytes(), verified.manifest), default_scheme())
    server = OprfServer(load_warn_key(wkey))
    assert warn_before_send(client, lambda r: server.evaluate("a", r), bytes.fromhex(listed[5]))
    assert not warn_before_send(client, lambda r: server.evaluate("a", r), secrets.token_bytes(32))

"""``blindmatch eval``: the reports the lab writes are reachable from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from blindmatch.cli import app


def test_eval_robustness_and_policy_write_reports(tmp_path: Path, shared_data: Path) -> None:
    images = shared_data / "images"
    r = CliRunner().invoke(
        app,
        ["eval", "robustness", "--listed", str(images / "listed"), "--innocent", str(images / "innocent"),
         "--limit", "3", "--transform", "jpeg_50", "--transform", "rotate_90", "--out", str(tmp_path)],
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    report = json.loads((tmp_path / "robustness.json").read_text())
    text = json.dumps(report)
    assert "jpeg_50" in text and "rotate_90" in text
    assert (tmp_path / "robustness.html").read_text().count("data:image/png;base64") >= 1
    r = CliRunner().invoke(app, ["eval", "policy", "--out", str(tmp_path), "--t", "10"])
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "policy.json").exists()
    bad = CliRunner().invoke(app, ["eval", "robustness", "--listed", str(tmp_path / "nope"), "--out", str(tmp_path)])
    assert bad.exit_code == 2

"""Private matching end to end on benign images: the real protocol finds edited copies and opens no innocent voucher."""

from __future__ import annotations

import json
from pathlib import Path

from blindmatch.eval.private import run_private_eval


def test_private_eval_on_real_images(tmp_path: Path, shared_data: Path) -> None:
    images = shared_data / "images"
    r = run_private_eval(
        images / "listed", images / "innocent", tmp_path, limit=12, innocent_limit=40, families=("jpeg",), threshold=4
    )
    jpeg = {k: v for k, v in r.data["per_transform"].items() if v["family"] == "jpeg"}
    assert jpeg and all(v["key_recovered"] for v in jpeg.values())
    # JPEG re-encodes are plaintext matches; the protocol must open and verify (nearly) all of them
    assert r.data["per_family_relative_recall"]["jpeg"] >= 0.9
    assert r.data["innocent"] == {"vouchers": 40, "outer_layers_opened": 0}
    assert r.data["costs"]["voucher_bytes"] <= 8192
    saved = json.loads(r.json_path.read_text())
    assert saved["per_family_relative_recall"] == r.data["per_family_relative_recall"]
    assert "data:image/png;base64" in r.html_path.read_text()

"""The command line: JSON output, exit codes (0 nothing matched, 1 matches, 2 errors), list management."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from blindmatch.cli import app
from blindmatch.hashing.files import hash_file


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"BLINDMATCH_DATA_DIR": str(tmp_path / "var")}


def _run(env: dict[str, str], *args: str) -> tuple[int, list[dict[str, object]], str]:
    result = CliRunner().invoke(app, list(args), env=env)
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result.exit_code, lines, result.stderr


def test_hash_prints_json_per_file_and_errors_for_bad_files(
    env: dict[str, str], shared_data: Path, tmp_path: Path
) -> None:
    good = sorted((shared_data / "images" / "listed").glob("*.jpg"))[0]
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    code, lines, _ = _run(env, "hash", str(good), str(bad), "--dihedral")
    assert code == 2
    expected = hash_file(good)
    assert lines[0]["pdq"] == expected.pdq and lines[0]["sha1"] == expected.sha1
    assert len(lines[0]["dihedral"]) == 8 and lines[0]["dihedral"][0] == expected.pdq
    assert lines[1]["path"] == str(bad) and "error" in lines[1]


def test_lists_scan_and_match(env: dict[str, str], shared_data: Path, tmp_path: Path) -> None:
    listed = sorted((shared_data / "images" / "listed").glob("*.jpg"))[:2]
    innocent = sorted((shared_data / "images" / "innocent").glob("*.jpg"))[:2]
    csv_path = tmp_path / "list.csv"
    rows = ["signal_type,value,entry_id,classification_scheme,classification_label"]
    rows += [f"pdq,{hash_file(p).pdq},{p.stem},NCMEC,A1" for p in listed]
    csv_path.write_text("\n".join(rows) + "\n")
    assert _run(env, "lists", "create", "hotline")[0] == 0
    code, out, _ = _run(env, "lists", "import", "hotline", str(csv_path))
    assert code == 0 and out[0]["added"] == 2
    code, out, _ = _run(env, "lists", "ls")
    assert out == [out[0]] and out[0]["entries"] == 2

    folder = tmp_path / "media"
    (folder / "sub").mkdir(parents=True)
    for p in innocent:
        (folder / p.name).write_bytes(p.read_bytes())
    code, out, _ = _run(env, "scan", str(folder), "--no-progress")
    assert code == 0 and len(out) == 2 and not any(r["matched"] for r in out)

    buf = io.BytesIO()
    Image.open(listed[0]).convert("RGB").resize((200, 133)).save(buf, format="JPEG", quality=50)
    (folder / "sub" / "copy.jpg").write_bytes(buf.getvalue())
    code, out, _ = _run(env, "scan", str(folder), "--no-progress")
    assert code == 1
    hit = [r for r in out if r["matched"]]
    assert [m["entry_id"] for m in hit[0]["matches"]] == [listed[0].stem]
    assert hit[0]["matches"][0]["classification_scheme"] == "NCMEC"

    (folder / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    code, out, _ = _run(env, "scan", str(folder), "--no-progress")
    assert code == 2 and any("error" in r for r in out) and sum(bool(r.get("matched")) for r in out) == 1

    pdq = hash_file(listed[1]).pdq
    assert _run(env, "match", "pdq", pdq)[0] == 1
    assert _run(env, "match", "pdq", "0" * 64)[0] == 0
    code, _, err = _run(env, "match", "pdq", "123")
    assert code == 2 and "64 hex digits" in err

    export = tmp_path / "out.jsonl"
    assert _run(env, "lists", "export", "hotline", "-f", "jsonl", "--out", str(export))[0] == 0
    assert len(export.read_text().splitlines()) == 2
    assert _run(env, "lists", "rm", "hotline")[0] == 0
    assert _run(env, "lists", "ls")[1] == []


def test_import_aborts_on_bad_rows_unless_told_to_skip(env: dict[str, str], tmp_path: Path) -> None:
    f = tmp_path / "bad.csv"
    f.write_text("signal_type,value,entry_id\npdq," + "ab" * 32 + ",ok\npdq,zz,bad\n")
    _run(env, "lists", "create", "l1")
    code, _, err = _run(env, "lists", "import", "l1", str(f))
    assert code == 2 and "line 3" in err
    assert _run(env, "lists", "ls")[1][0]["entries"] == 0
    code, out, _ = _run(env, "lists", "import", "l1", str(f), "--skip-bad-rows")
    assert code == 0 and out[0]["added"] == 1 and out[0]["bad_rows"][0]["line"] == 3


def test_hash_recognises_videos_by_content(env: dict[str, str], shared_data: Path, tmp_path: Path) -> None:
    from blindmatch.hashing.vpdq import VpdqHash

    video = shared_data / "video" / "sample-videos" / "chair-19-sd-bar.mp4"
    disguised = tmp_path / "holiday.jpg"  # the name lies; the content decides
    disguised.write_bytes(video.read_bytes())
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(video.read_bytes()[:5000])
    code, lines, _ = _run(env, "hash", str(disguised), str(truncated))
    assert code == 2
    parsed = VpdqHash.from_compact(str(lines[0]["vpdq"]))
    assert lines[0]["kind"] == "video" and len(parsed.frames) == lines[0]["frames"] >= 5
    assert lines[1]["path"] == str(truncated) and "error" in lines[1]

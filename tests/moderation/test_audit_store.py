"""The audit log in the database: every kind of tampering with raw SQL is detected, appends never fork."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from blindmatch.cli_moderation import audit_app
from blindmatch.moderation.audit import AuditProblem

from .conftest import Env


def _fill(env: Env, n: int = 6) -> None:
    for i in range(n):
        env.svc.audit("tester", "export", f"case:{i}", {"i": i, "note": "benign"})


def _sql(env: Env, statement: str, **params: object) -> None:
    with env.db.engine.begin() as conn:
        conn.execute(text(statement), params)


def test_intact_log_verifies_and_records_read_back(env: Env) -> None:
    _fill(env)
    r = env.svc.audit_verify()
    assert r.ok and r.records == 6 and r.last_seq == 6, r
    recs = env.svc.audit_records(after=2, limit=2)
    assert [x.seq for x in recs] == [3, 4] and recs[0].details == {"i": 2, "note": "benign"}


def test_edited_row_detected(env: Env) -> None:
    _fill(env)
    _sql(env, "UPDATE mod_audit SET details = :d WHERE seq = 3", d=json.dumps({"i": 2, "note": "changed"}))
    r = env.svc.audit_verify()
    assert (r.ok, r.problem, r.first_bad_seq) == (False, AuditProblem.EDITED, 3)


def test_edit_of_actor_with_non_json_details_detected(env: Env) -> None:
    _fill(env)
    _sql(env, "UPDATE mod_audit SET actor = 'someone-else' WHERE seq = 5")
    assert env.svc.audit_verify().first_bad_seq == 5
    _sql(env, "UPDATE mod_audit SET details = 'not json' WHERE seq = 2")
    r = env.svc.audit_verify()
    assert (r.problem, r.first_bad_seq) == (AuditProblem.EDITED, 2)


def test_deleted_row_detected_as_gap(env: Env) -> None:
    _fill(env)
    _sql(env, "DELETE FROM mod_audit WHERE seq = 4")
    r = env.svc.audit_verify()
    assert (r.ok, r.problem, r.first_bad_seq) == (False, AuditProblem.GAP, 4)


def test_truncated_tail_detected_by_the_anchor(env: Env) -> None:
    _fill(env)
    with env.db.engine.connect() as conn:
        h4 = conn.execute(text("SELECT hash FROM mod_audit WHERE seq = 4")).scalar_one()
    # a careful attacker also rewinds the head row: the chain in the database is then perfectly consistent
    _sql(env, "DELETE FROM mod_audit WHERE seq > 4")
    _sql(env, "UPDATE mod_audit_head SET seq = 4, hash = :h WHERE id = 1", h=h4)
    r = env.svc.audit_verify()
    assert (r.ok, r.problem, r.first_bad_seq) == (False, AuditProblem.TRUNCATED, 5)


def test_reordered_rows_detected(env: Env) -> None:
    _fill(env)
    cols = "at, actor, action, subject, details, prev_hash, hash"
    with env.db.engine.connect() as conn:
        r3 = conn.execute(text(f"SELECT {cols} FROM mod_audit WHERE seq = 3")).one()
        r4 = conn.execute(text(f"SELECT {cols} FROM mod_audit WHERE seq = 4")).one()
    sets = ", ".join(f"{c.strip()} = :{c.strip()}" for c in cols.split(","))
    _sql(env, f"UPDATE mod_audit SET {sets} WHERE seq = 3", **r4._asdict())
    _sql(env, f"UPDATE mod_audit SET {sets} WHERE seq = 4", **r3._asdict())
    r = env.svc.audit_verify()
    assert (r.ok, r.problem, r.first_bad_seq) == (False, AuditProblem.REORDERED, 3)


def test_missing_or_forged_anchor_detected(env: Env) -> None:
    _fill(env, 3)
    anchor = env.data_dir / "moderation" / "audit-anchor.json"
    original = anchor.read_bytes()
    obj = json.loads(original)
    obj["seq"] = 2  # roll the anchor back without the key
    anchor.write_text(json.dumps(obj))
    assert env.svc.audit_verify().problem is AuditProblem.ANCHOR
    anchor.unlink()
    assert env.svc.audit_verify().problem is AuditProblem.ANCHOR
    anchor.write_bytes(original)
    assert env.svc.audit_verify().ok


def test_cli_verify_exit_codes(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    _fill(env, 3)
    monkeypatch.setenv("BLINDMATCH_DATA_DIR", str(env.data_dir))
    monkeypatch.setenv("BLINDMATCH_DATABASE_URL", env.db.url.render_as_string(hide_password=False))
    ok = CliRunner().invoke(audit_app, ["verify"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["ok"] is True and json.loads(ok.stdout)["records"] == 3
    _sql(env, "DELETE FROM mod_audit WHERE seq = 2")
    bad = CliRunner().invoke(audit_app, ["verify"])
    assert bad.exit_code == 1
    assert json.loads(bad.stdout)["problem"] == "gap" and json.loads(bad.stdout)["first_bad_seq"] == 2


def test_concurrent_appenders_never_fork_the_chain(env: Env) -> None:
    """Four workers (each its own engine, as separate processes would have) append at once."""
    workers, per_worker = 4, 15
    services = [env.service() for _ in range(workers)]
    errors: list[BaseException] = []
    start = threading.Barrier(workers)

    def run(i: int) -> None:
        try:
            start.wait()
            for j in range(per_worker):
                services[i].audit(f"worker{i}", "export", f"case:{j}", {"worker": i, "n": j})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    r = env.svc.audit_verify()
    assert r.ok and r.records == workers * per_worker, r
    seqs = [x.seq for x in env.svc.audit_records(limit=10_000)]
    assert seqs == list(range(1, workers * per_worker + 1))
    for s in services:
        s.db.dispose()


# ---- held checkpoints: what stops someone holding the database AND the server's files


def _rewrite_with_every_key(env: Env, from_seq: int, keep: int | None = None) -> None:
    """The strongest attacker the anchor cannot stop: edit record ``from_seq`` (and drop records after ``keep``),
    re-chain everything after it, move the head row and re-sign the anchor with the key from the data directory."""
    from blindmatch.moderation.audit import make_record, sign_anchor

    with env.db.engine.connect() as conn:
        rows = conn.execute(text("SELECT seq, at, actor, action, subject, details FROM mod_audit ORDER BY seq")).all()
    if keep is not None:
        _sql(env, "DELETE FROM mod_audit WHERE seq > :k", k=keep)
        rows = rows[:keep]
    prev = None
    for r in rows:
        details = json.loads(r.details)
        if r.seq == from_seq:
            details = {**details, "note": "rewritten"}
        rec = make_record(prev, at=r.at, actor=r.actor, action=r.action, subject=r.subject, details=details)
        _sql(
            env,
            "UPDATE mod_audit SET details = :d, prev_hash = :p, hash = :h WHERE seq = :s",
            d=json.dumps(rec.details, sort_keys=True),
            p=rec.prev_hash,
            h=rec.hash,
            s=rec.seq,
        )
        prev = (rec.seq, rec.hash)
    assert prev is not None
    _sql(env, "UPDATE mod_audit_head SET seq = :s, hash = :h WHERE id = 1", s=prev[0], h=prev[1])
    moddir = env.data_dir / "moderation"
    anchor = sign_anchor((moddir / "audit-anchor.key").read_bytes(), *prev)
    (moddir / "audit-anchor.json").write_text(json.dumps(anchor.to_json()))


def test_a_full_rewrite_passes_the_anchor_but_not_a_held_checkpoint(env: Env) -> None:
    _fill(env, 4)
    held = env.svc.audit_checkpoint()
    last = env.svc.audit_records(after=4)
    assert [(r.action, r.details["head"]) for r in last] == [("audit.checkpoint", held.head)]  # issue is audited
    _fill(env, 3)
    result, found = env.svc.audit_verify_checkpoints([held])
    assert result.ok and found[0].seq == 4, result
    _rewrite_with_every_key(env, from_seq=2)
    assert env.svc.audit_verify().ok  # the limit of the anchor, as docs/moderation.md says
    result, found = env.svc.audit_verify_checkpoints([held])
    assert (result.ok, result.problem) == (False, AuditProblem.CHECKPOINT_MISSING) and found[0].seq is None


def test_cutting_the_log_back_before_a_checkpoint_is_caught(env: Env) -> None:
    _fill(env, 3)
    early = env.svc.audit_checkpoint()
    _fill(env, 3)
    env.clock.advance(hours=1)
    late = env.svc.audit_checkpoint()
    assert env.svc.audit_verify_checkpoints([late, early])[0].ok
    _rewrite_with_every_key(env, from_seq=99, keep=5)  # cut after record 5 (the late checkpoint's head is record 7)
    assert env.svc.audit_verify().ok
    result, found = env.svc.audit_verify_checkpoints([late, early])
    assert result.problem is AuditProblem.CHECKPOINT_MISSING and [f.seq for f in found] == [None, 3]


def test_cli_checkpoint_public_key_and_verify(env: Env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fill(env, 3)
    monkeypatch.setenv("BLINDMATCH_DATA_DIR", str(env.data_dir))
    monkeypatch.setenv("BLINDMATCH_DATABASE_URL", env.db.url.render_as_string(hide_password=False))
    held = tmp_path / "held.jsonl"
    runner = CliRunner()
    first = runner.invoke(audit_app, ["checkpoint", "--out", str(held)])
    assert first.exit_code == 0, first.output
    _fill(env, 2)
    assert runner.invoke(audit_app, ["checkpoint", "--out", str(held)]).exit_code == 0
    assert len(held.read_text().splitlines()) == 2 and json.loads(first.stdout) == json.loads(
        held.read_text().split()[0]
    )
    key = json.loads(runner.invoke(audit_app, ["public-key"]).stdout)
    assert len(key["public_key"]) == 64 and key["key_id"] == json.loads(first.stdout)["key_id"]
    ok = runner.invoke(audit_app, ["verify", "--checkpoint", str(held), "--public-key", key["public_key"]])
    assert ok.exit_code == 0, ok.output
    assert [c["seq"] for c in json.loads(ok.stdout)["checkpoints"]] == [3, 6]
    foreign = runner.invoke(audit_app, ["verify", "--checkpoint", str(held), "--public-key", "ab" * 32])
    assert foreign.exit_code == 1 and json.loads(foreign.stdout)["problem"] == "checkpoint-signature"
    _rewrite_with_every_key(env, from_seq=1)
    assert runner.invoke(audit_app, ["verify"]).exit_code == 0
    bad = runner.invoke(audit_app, ["verify", "--checkpoint", str(held)])
    assert bad.exit_code == 1 and json.loads(bad.stdout)["problem"] == "checkpoint-missing"
    broken = tmp_path / "broken.json"
    broken.write_text('{"v": 1, "head": "00"}\nnot json\n')
    err = runner.invoke(audit_app, ["verify", "--checkpoint", str(broken)])
    assert err.exit_code == 2 and "not a JSON checkpoint" in err.stderr
    broken.write_text(json.dumps({"v": 1, "head": "00"}))
    err = runner.invoke(audit_app, ["verify", "--checkpoint", str(broken)])
    assert err.exit_code == 2 and "exactly the fields" in err.stderr

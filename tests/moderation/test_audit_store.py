"""The audit log in the database: every kind of tampering with raw SQL is detected, appends never fork."""

from __future__ import annotations

import json
import threading

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

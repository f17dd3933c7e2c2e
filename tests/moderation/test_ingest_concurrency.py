"""Two ingesters running at once (e.g. a cron job and the API) open each case exactly once."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

from blindmatch.service.detection import ThresholdEventRow

from .conftest import Env


def _events(env: Env, n: int) -> None:
    with env.db.session() as s:
        for i in range(n):
            matches = [
                {
                    "voucher_id": f"{i:02x}" * 16,
                    "pdq": f"{i:02x}" * 32,
                    "matches": [
                        {
                            "list": "standins",
                            "entry_id": f"e{i}",
                            "signal_type": "pdq",
                            "value": "ab" * 32,
                            "distance": 5,
                            "source_org": "tests",
                        }
                    ],
                }
            ]
            s.add(
                ThresholdEventRow(
                    account_id=f"user{i}/primary", created_at=datetime.now(UTC), method="threshold", verified=1,
                    collisions=0, synthetic=0, opened_total=1, matches=json.dumps(matches),
                )
            )  # fmt: skip


def test_concurrent_ingest_opens_each_case_once(env: Env) -> None:
    _events(env, 60)
    workers = [env.service() for _ in range(3)]
    opened: list[int] = []
    errors: list[BaseException] = []
    gate = threading.Barrier(len(workers))

    def run(i: int) -> None:
        try:
            gate.wait()
            r = workers[i].ingest()
            opened.extend(r.case_ids)
            assert r.errors == ()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(opened) == 60 and len(set(opened)) == 60
    rev = env.staff("rita")
    cases = env.svc.queue(rev, None, limit=1000)
    assert len(cases) == 60 and {c.subject_user for c in cases} == {f"user{i}" for i in range(60)}
    assert env.svc.ingest().case_ids == ()
    assert env.svc.audit_verify().ok
    for w in workers:
        w.db.dispose()


def test_malformed_event_is_reported_and_skipped(env: Env) -> None:
    with env.db.session() as s:
        s.add(
            ThresholdEventRow(
                account_id="u/d", created_at=datetime.now(UTC), method="threshold", verified=1, collisions=0,
                synthetic=0, opened_total=1, matches='[{"no_pdq": 1}]',
            )
        )  # fmt: skip
    _events(env, 1)
    r = env.svc.ingest()
    assert len(r.case_ids) == 1 and len(r.errors) == 1 and "lacks its PDQ" in r.errors[0]
    assert env.svc.ingest().errors == ()  # skipped for good, not retried forever
    assert any(x.action == "ingest_error" for x in env.svc.audit_records())

"""Signed audit checkpoints (pure): signing, strict parsing, and what held copies reveal about a log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from blindmatch.moderation.audit import GENESIS, AuditProblem, AuditRecord, make_record, verify_chain
from blindmatch.moderation.checkpoint import (
    AuditCheckpoint,
    CheckpointError,
    parse_checkpoint,
    public_key_from_hex,
    sign_checkpoint,
    verify_checkpoints,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def _log(n: int, note: str = "benign") -> list[AuditRecord]:
    out: list[AuditRecord] = []
    for i in range(n):
        prev = (out[-1].seq, out[-1].hash) if out else None
        at = (T0 + timedelta(minutes=i)).isoformat()
        out.append(make_record(prev, at=at, actor="t", action="export", subject=f"case:{i}", details={"n": note}))
    return out


def _check(records: list[AuditRecord], cps: list[AuditCheckpoint], key: Ed25519PrivateKey = KEY) -> Any:
    # the anchor is not what these tests are about: verify the chain without one, then accept "no anchor" as ok
    chain = verify_chain(records, None, None)
    if chain.problem is AuditProblem.ANCHOR:
        chain = type(chain)(True, chain.records, chain.last_seq)
    return verify_checkpoints(records, cps, key.public_key(), chain)


def test_a_signed_checkpoint_round_trips_and_is_found_at_its_record() -> None:
    log = _log(6)
    cp = sign_checkpoint(KEY, log[3].hash, T0)
    again = parse_checkpoint(cp.to_json())
    assert again == cp
    result, found = _check(log, [again])
    assert result.ok and [f.seq for f in found] == [4], result


def test_a_checkpoint_carries_no_record_count() -> None:
    """Anyone watching checkpoints must not learn how much moderation happened (a case opening is a record)."""
    cp = sign_checkpoint(KEY, _log(3)[-1].hash, T0).to_json()
    assert set(cp) == {"v", "key_id", "at", "head", "signature"} and cp["v"] == 1


def test_checkpoint_of_the_empty_log() -> None:
    result, found = _check([], [sign_checkpoint(KEY, GENESIS, T0)])
    assert result.ok and found[0].seq == 0


def test_a_rewritten_log_no_longer_holds_the_checkpoint_even_if_its_own_chain_is_valid() -> None:
    log = _log(6)
    cp = sign_checkpoint(KEY, log[4].hash, T0)
    rewritten = _log(6, note="rewritten")  # a perfectly consistent chain, other content
    assert verify_chain(rewritten, None, None).problem is AuditProblem.ANCHOR  # only the anchor is missing
    result, found = _check(rewritten, [cp])
    assert (result.ok, result.problem) == (False, AuditProblem.CHECKPOINT_MISSING)
    assert found[0].seq is None and "rewritten or cut off" in result.message


def test_a_log_cut_before_the_checkpoint_fails() -> None:
    log = _log(6)
    cp = sign_checkpoint(KEY, log[5].hash, T0)
    result, _ = _check(log[:5], [cp])
    assert result.problem is AuditProblem.CHECKPOINT_MISSING


def test_forged_or_foreign_checkpoints_are_refused() -> None:
    log = _log(4)
    other = Ed25519PrivateKey.from_private_bytes(bytes(32))
    result, _ = _check(log, [sign_checkpoint(other, log[1].hash, T0)])
    assert result.problem is AuditProblem.CHECKPOINT_SIGNATURE and "not ours" in result.message
    good = sign_checkpoint(KEY, log[1].hash, T0)
    for forged in (
        AuditCheckpoint(good.key_id, good.at, log[2].hash, good.signature),  # moved to another head
        AuditCheckpoint(good.key_id, (T0 + timedelta(days=1)).isoformat(), good.head, good.signature),  # re-dated
    ):
        result, _ = _check(log, [forged])
        assert result.problem is AuditProblem.CHECKPOINT_SIGNATURE and "does not verify" in result.message


def test_a_later_checkpoint_at_an_earlier_record_means_the_log_was_rolled_back() -> None:
    log = _log(6)
    early = sign_checkpoint(KEY, log[4].hash, T0)
    late = sign_checkpoint(KEY, log[1].hash, T0 + timedelta(hours=1))
    result, found = _check(log, [late, early])
    assert [f.seq for f in found] == [2, 5]
    assert (result.ok, result.problem, result.first_bad_seq) == (False, AuditProblem.CHECKPOINT_ORDER, 2)
    result, _ = _check(log, [sign_checkpoint(KEY, log[1].hash, T0), sign_checkpoint(KEY, log[4].hash, T0)])
    assert result.ok  # made in the same second: no order to check


def test_a_broken_chain_is_reported_before_checkpoints() -> None:
    log = _log(5)
    cp = sign_checkpoint(KEY, log[2].hash, T0)
    edited = [*log[:3], AuditRecord(4, log[3].at, "x", "export", "case:3", {}, log[3].prev_hash, log[3].hash), log[4]]
    result, found = verify_checkpoints(edited, [cp], KEY.public_key(), verify_chain(edited, None, None))
    assert (result.problem, result.first_bad_seq) == (AuditProblem.EDITED, 4) and found[0].seq == 3


GOOD: dict[str, Any] = sign_checkpoint(KEY, "ab" * 32, T0).to_json()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"v": 2}, "version"),
        ({"v": True}, "version"),
        ({"head": "ab" * 31}, "hex"),
        ({"head": "zz" * 32}, "hex"),
        ({"signature": 5}, "hex"),
        ({"key_id": "ab" * 9}, "hex"),
        ({"at": "2026-03-01T12:00:00"}, "UTC offset"),
        ({"at": "yesterday"}, "ISO 8601"),
        ({"at": 1}, "ISO 8601"),
        ({"seq": 7}, "exactly the fields"),
    ],
)
def test_malformed_checkpoints_get_a_clear_error(change: dict[str, Any], message: str) -> None:
    with pytest.raises(CheckpointError, match=message):
        parse_checkpoint(GOOD | change)


def test_missing_fields_non_objects_and_bad_keys() -> None:
    with pytest.raises(CheckpointError, match="exactly the fields"):
        parse_checkpoint({k: v for k, v in GOOD.items() if k != "signature"})
    with pytest.raises(CheckpointError, match="JSON object"):
        parse_checkpoint([GOOD])
    with pytest.raises(CheckpointError, match="64 hex"):
        public_key_from_hex("not hex")
    with pytest.raises(CheckpointError, match="32 bytes"):
        public_key_from_hex("ab" * 31)
    with pytest.raises(CheckpointError, match="timezone"):
        sign_checkpoint(KEY, "ab" * 32, datetime(2026, 1, 1))
    with pytest.raises(CheckpointError, match="chain hash"):
        sign_checkpoint(KEY, "short", T0)

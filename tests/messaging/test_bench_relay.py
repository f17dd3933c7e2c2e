"""``blindmatch bench relay`` in a tiny configuration: real processes, a kill -9, and the numbers it reports.

Never asserts speed (the machine is shared): only that nothing confirmed is lost and that every figure is there.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from blindmatch.messaging.bench_relay import BenchRelayError, bench_relay


def test_tiny_run_with_a_kill_loses_nothing(tmp_path: Path) -> None:
    out = tmp_path / "bench_relay.json"
    result = bench_relay(
        clients=4, seconds=2.0, rate=100.0, http=True, baseline=True, workdir=tmp_path / "work", out=out
    )
    assert json.loads(out.read_text()) == result
    assert "pre-build real Olm envelopes" in result["note"]
    runs = {r["name"]: r for r in result["runs"]}
    assert set(runs) == {
        "relay/ws max",
        "relay/ws at 100/s",
        "relay/http max",
        "relay/ws at 100/s + kill -9",
        "baseline/ws max",
        "baseline/ws at 100/s",
    }
    for name, run in runs.items():
        assert run["confirmed"] > 0, name
        assert run["lost"] == 0, name  # every confirmed message reached its recipient
        assert run["unconfirmed"] == 0, name  # every send was eventually confirmed (retried after the kill)
        assert run["delivered"] == run["confirmed"], name
        assert run["messages_per_s"] > 0 and run["server_cpu_s"] >= 0, name
        lat = run["latency_ms"]
        assert all(not math.isnan(lat[q]) for q in ("p50", "p90", "p99")), name
        assert lat["p50"] <= lat["p99"] <= lat["max"], name
    killed = runs["relay/ws at 100/s + kill -9"]
    assert killed["server_killed"].startswith("SIGKILL") and killed["restart_s"] > 0
    assert killed["reconnects"] >= 4  # every device lost its WebSocket and came back
    assert result["machine"]["cpus"] >= 1 and len(result["machine"]["loadavg_before"]) == 3


def test_bad_configurations_are_refused() -> None:
    with pytest.raises(BenchRelayError):
        bench_relay(clients=3)
    with pytest.raises(BenchRelayError):
        bench_relay(clients=4, seconds=0)

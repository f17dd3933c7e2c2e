"""``blindmatch bench relay``: the relay under N concurrent devices on loopback, with a kill -9 in the middle.

Three processes per run: this one (orchestrates, and kills), the server (``uvicorn`` on 127.0.0.1, a fresh data
directory and database per run) and the load generator (:mod:`blindmatch.messaging.bench_relay_load`). Runs:

* ``relay/ws max``: the blindmatch relay, devices sending over their WebSocket (the fast path), closed loop: the
  most messages/s it takes;
* ``relay/ws at R/s``: the same, paced at R messages/s in total: latency at that load;
* ``relay/http max``: closed loop, sending with ``POST /relay/v1/messages`` (httpx, keep-alive);
* ``relay/ws at R/s + kill -9``: the server SIGKILLed halfway through the window and restarted on the same
  database; every confirmed message must still arrive;
* ``baseline/ws max`` and ``at R/s``: the same loads against :mod:`blindmatch.messaging.bench_relay_baseline`, a
  minimal ASGI endpoint that only commits the same rows with the same driver: the comparator (a ceiling).

Envelopes are real Olm ciphertexts built by the load generator before the timed window (the relay cannot tell),
so the figures are the relay's, not client crypto's. The result also records the machine's load average and the
CPU seconds each process used, because the cores are shared.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx

from blindmatch.messaging.bench_relay_load import LoadConfig
from blindmatch.messaging.errors import MessagingError

__all__ = ["BenchRelayError", "bench_relay"]

NOTE = (
    "Clients pre-build real Olm envelopes (with franking commitments) before the timed window; the relay cannot "
    "tell, so this measures the relay, not client crypto. Latency = send -> delivered to the recipient's WebSocket."
)


class BenchRelayError(MessagingError):
    """The benchmark could not run (server did not start, load generator failed)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds of a live process (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Server:
    def __init__(self, app: str, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = app
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.cpu_s = 0.0

    def start(self) -> None:
        cmd = [sys.executable, "-m", "uvicorn", "--factory", self.app, "--host", "127.0.0.1"]
        cmd += ["--port", str(self.port), "--log-level", "warning", "--no-access-log"]
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise BenchRelayError(f"server exited: {err[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/relay/v1/moderation-key", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise BenchRelayError("server did not come up in 90 s")

    def _account(self) -> None:
        if self.proc is not None:
            self.cpu_s += _cpu_of(self.proc.pid)

    def cpu_now(self) -> float:
        """CPU seconds used so far by this server, over all its (re)starts."""
        live = _cpu_of(self.proc.pid) if self.proc is not None and self.proc.poll() is None else 0.0
        return self.cpu_s + live

    def kill(self) -> None:
        assert self.proc is not None
        self._account()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self._account()
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def _run(
    name: str,
    *,
    target: str,
    send_over: str,
    restart: bool,
    rate: float,
    clients: int,
    seconds: float,
    window: int,
    per_client: int,
    database_url: str | None,
    workdir: Path,
    prefix: str,
) -> dict[str, Any]:
    data = workdir / name.replace("/", "-").replace(" ", "").replace("+", "-")
    data.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if target == "baseline":
        app = "blindmatch.messaging.bench_relay_baseline:create_app"
        env["BLINDMATCH_BENCH_BASELINE_DB"] = str(data / "baseline.sqlite3")
        backend = "sqlite"
    else:
        app = "blindmatch.service.app:create_app"
        env["BLINDMATCH_DATA_DIR"] = str(data)
        env["BLINDMATCH_DATABASE_URL"] = database_url or f"sqlite:///{data / 'relay.sqlite3'}"
        env["BLINDMATCH_RELAY_ATTACHMENT_RECEIPTS"] = "off"  # text only: no uploads in this benchmark
        backend = "postgresql" if database_url and database_url.startswith("postgres") else "sqlite"
    server = _Server(app, env)
    server.start()
    marker = data / "window-started"
    cfg = LoadConfig(
        url=server.url,
        clients=clients,
        seconds=seconds,
        window=window,
        per_client=per_client,
        send_over=send_over,
        target=target,
        prefix=prefix,
        marker=str(marker),
        rate=rate,
    )
    load = subprocess.Popen(
        [sys.executable, "-m", "blindmatch.messaging.bench_relay_load", json.dumps(asdict(cfg))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    restarted_after = 0.0
    try:
        started = _wait_for_window(load, marker)  # after registration and pre-building
        cpu0 = server.cpu_now()
        if restart:  # kill -9 halfway through the window, restart on the same database
            time.sleep(max(0.1, seconds / 2 - (time.monotonic() - started)))
            server.kill()
            killed_at = time.monotonic()
            server.start()
            restarted_after = time.monotonic() - killed_at
        while load.poll() is None and not (data / "window-ended").exists():
            time.sleep(0.05)
        window_cpu = server.cpu_now() - cpu0
        out, err = load.communicate(timeout=600)
    finally:
        server.stop()
        if load.poll() is None:
            load.kill()
    try:
        result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise BenchRelayError(f"load generator failed: {err.decode()[-3000:]}") from None
    result["name"] = name
    result["backend"] = backend
    result["server_cpu_s"] = round(window_cpu, 2)
    if result["confirmed_in_window"]:
        result["server_cpu_us_per_message"] = round(1e6 * window_cpu / result["confirmed_in_window"], 1)
    if restart:
        result["server_killed"] = "SIGKILL mid-window, restarted on the same database"
        result["restart_s"] = round(restarted_after, 2)
    return result


def _wait_for_window(load: subprocess.Popen[bytes], marker: Path) -> float:
    """Wait until the load generator starts its timed window (it creates ``marker`` then)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if load.poll() is not None:
            raise BenchRelayError("load generator exited before its window")
        if marker.exists():
            return time.monotonic()
        time.sleep(0.02)
    raise BenchRelayError("the load generator did not start its window in 300 s")


def _loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def bench_relay(
    *,
    clients: int = 100,
    seconds: float = 10.0,
    window: int = 1,
    rate: float = 2000.0,
    restart: bool = True,
    http: bool = True,
    baseline: bool = True,
    database_url: str | None = None,
    per_client: int | None = None,
    workdir: Path | None = None,
    out: Path | None = None,
) -> dict[str, Any]:
    """Run the relay benchmark and its comparator; return (and with ``out``, write) the results as JSON.

    ``clients`` devices (an even number: they are paired). Closed-loop runs ("max") keep ``window`` messages
    outstanding per device for ``seconds`` and measure the most the relay takes; paced runs offer ``rate``
    messages/s in total (``rate`` 0 skips them) and measure latency at that load; the kill -9 run is paced too
    (closed loop if ``rate`` is 0). ``database_url`` runs the relay on that database (e.g. PostgreSQL) instead of
    a fresh SQLite file per run; the baseline always uses SQLite. ``per_client`` caps the envelopes each device
    pre-builds (default: enough for 150 messages/s per device, far above what a device reaches here)."""
    if clients < 2 or clients % 2:
        raise BenchRelayError("clients must be an even number >= 2 (devices are paired)")
    if seconds <= 0 or window < 1 or rate < 0:
        raise BenchRelayError("seconds must be > 0, window >= 1 and rate >= 0")
    base = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="blindmatch-bench-relay-"))
    budget = per_client or int(150 * seconds * window) + 20
    common: dict[str, Any] = {
        "clients": clients,
        "seconds": seconds,
        "per_client": budget,
        "database_url": database_url,
        "workdir": base,
    }
    paced_window = max(window, 8)  # paced devices may have a few messages in flight; a send waits only beyond that
    plan: list[tuple[str, str, str, bool, float, int]] = [("relay/ws max", "relay", "ws", False, 0.0, window)]
    if rate:
        plan.append((f"relay/ws at {rate:g}/s", "relay", "ws", False, rate, paced_window))
    if http:
        plan.append(("relay/http max", "relay", "http", False, 0.0, window))
    if restart:
        name = f"relay/ws at {rate:g}/s + kill -9" if rate else "relay/ws max + kill -9"
        plan.append((name, "relay", "ws", True, rate, paced_window if rate else window))
    if baseline:
        plan.append(("baseline/ws max", "baseline", "ws", False, 0.0, window))
        if rate:
            plan.append((f"baseline/ws at {rate:g}/s", "baseline", "ws", False, rate, paced_window))
    started = time.time()
    load_before = _loadavg()
    runs = []
    for i, (name, target, send_over, kill, offered, win) in enumerate(plan):
        runs.append(
            _run(
                name,
                target=target,
                send_over=send_over,
                restart=kill,
                rate=offered,
                window=win,
                prefix=f"r{i}x{int(started)}u",
                **common,
            )
        )
    result = {
        "benchmark": "relay",
        "note": NOTE,
        "machine": {"cpus": os.cpu_count(), "loadavg_before": load_before, "loadavg_after": _loadavg()},
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in common.items() if k != "database_url"}
        | {"backend": "postgresql" if database_url else "sqlite", "window": window, "rate": rate},
        "runs": runs,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
    }
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result

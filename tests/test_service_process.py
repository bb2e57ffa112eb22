"""`syncwatch run` as a process: serves on loopback, reloads on SIGHUP, stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.service_support import build_sql_world


def _lines(stream: object, out: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        out.put(line)


def _wait_for(lines: queue.Queue[str], pattern: str, seen: list[str], timeout: float = 60) -> re.Match[str]:
    deadline = datetime.now(UTC) + timedelta(seconds=timeout)
    while True:
        left = (deadline - datetime.now(UTC)).total_seconds()
        assert left > 0, f"no line matching {pattern!r} within {timeout:g} s; got:\n" + "".join(seen)
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            continue
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match


def test_run_serves_reloads_on_sighup_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    world = build_sql_world(tmp_path)
    now = datetime.now(UTC)
    world.set_stock({f"SKU{i}": (5, now, 5, now) for i in range(10)})
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCWATCH_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "run", "-c", str(world.config_path), "--port", "0"],
        env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []
    reader = threading.Thread(target=_lines, args=(proc.stderr, lines), daemon=True)
    reader.start()
    try:
        url = _wait_for(lines, r"serving (http://127\.0\.0\.1:\d+)/", seen).group(1)
        _wait_for(lines, r"stock: shop: in_sync, 10 sampled", seen)  # the first run, two seconds in
        with httpx.Client(base_url=url, timeout=10) as client:
            assert client.get("/readyz").json()["ready"] is True
            assert [c["contract"] for c in client.get("/api/contracts").json()["contracts"]] == ["stock"]
            world.write_contract("stock-b", every="10m")
            proc.send_signal(signal.SIGHUP)
            _wait_for(lines, r"config reloaded \(SIGHUP\): 2 contracts", seen)
            names = [c["contract"] for c in client.get("/api/contracts").json()["contracts"]]
            assert sorted(names) == ["stock", "stock-b"]
            assert 'syncwatch_latency_budget_seconds{contract="stock-b"} 300.0' in client.get("/metrics").text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, "".join(seen)
        _wait_for(lines, r"SIGTERM: stopping", seen)
        _wait_for(lines, r"\bstopped\b", seen)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=10)
        assert proc.stderr is not None
        proc.stderr.close()

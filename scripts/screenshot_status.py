"""Take the README's screenshot of the status page: the live demo, caught while a contract breaches.

Runs ``syncwatch demo`` (live, fast, on a free port, its files in a temporary folder), waits
until ``/api/contracts`` shows at least one red contract, screenshots ``/`` with headless
Chromium and stops the demo with SIGTERM (it exits 0).

    .venv/bin/python scripts/screenshot_status.py            # writes docs/images/status-page.png
    .venv/bin/python scripts/screenshot_status.py --out /tmp/page.png --min-red 2
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

import httpx
from browser import add_browser_options, browser_from, screenshot

ROOT = Path(__file__).resolve().parent.parent
SERVING = re.compile(r"status page (http://[^\s/]+)/")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "status-page.png")
    parser.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second")
    parser.add_argument("--min-red", type=int, default=1, help="wait for at least this many red contracts")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after this many seconds")
    add_browser_options(parser, "1280,900")
    args = parser.parse_args(argv)
    browser = browser_from(args)
    if browser is None:
        return 2

    with tempfile.TemporaryDirectory(prefix="syncwatch-screenshot-") as tmp:
        work = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCWATCH_")}
        demo = subprocess.Popen(
            [sys.executable, "-m", "monitor.cli", "demo", "--speed", f"{args.speed:g}", "--minutes", "0",
             "--port", "0", "--out", str(work / "demo")],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        lines: queue.Queue[str] = queue.Queue()
        seen: list[str] = []
        assert demo.stdout is not None
        reader = threading.Thread(target=_read, args=(demo.stdout, lines), daemon=True)
        reader.start()
        deadline = time.monotonic() + args.timeout
        try:
            url = _serving_url(demo, lines, seen, deadline)
            print(f"demo serving {url}/; waiting for {args.min_red} red contract(s) …", file=sys.stderr)
            red = _wait_for_red(url, args.min_red, deadline, demo)
            print(f"red: {', '.join(red)}; taking the screenshot", file=sys.stderr)
            shot = work / "page.png"
            screenshot(browser, f"{url}/", shot, work / "profile", args.size)
        except BaseException:
            _drain(lines, seen)
            print("".join(seen[-60:]), file=sys.stderr)
            raise
        finally:
            code = _stop(demo)
            reader.join(timeout=10)
            demo.stdout.close()
        if code != 0:
            _drain(lines, seen)
            print("".join(seen[-60:]), file=sys.stderr)
            print(f"the demo exited {code} on SIGTERM (expected 0)", file=sys.stderr)
            return 1
        args.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB)", file=sys.stderr)
    return 0


def _read(stream: IO[str], out: queue.Queue[str]) -> None:
    for line in stream:
        out.put(line)


def _drain(lines: queue.Queue[str], seen: list[str]) -> None:
    while not lines.empty():
        seen.append(lines.get_nowait())


def _serving_url(demo: subprocess.Popen[str], lines: queue.Queue[str], seen: list[str], deadline: float) -> str:
    """The demo's base URL, from its "Watch it: status page http://…/" line."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the demo never said where it serves the status page")
        try:
            line = lines.get(timeout=min(left, 1.0))
        except queue.Empty:
            if demo.poll() is not None:
                raise RuntimeError(f"the demo exited {demo.returncode} before serving") from None
            continue
        seen.append(line)
        if match := SERVING.search(line):
            return match.group(1)


def _wait_for_red(url: str, at_least: int, deadline: float, demo: subprocess.Popen[str]) -> list[str]:
    """Poll /api/contracts until at least ``at_least`` contracts are red; their names."""
    with httpx.Client(base_url=url, timeout=10) as client:
        while True:
            contracts = client.get("/api/contracts").raise_for_status().json()["contracts"]
            red = [c["contract"] for c in contracts if c["state"] == "red"]
            if len(red) >= at_least:
                return red
            if demo.poll() is not None:
                raise RuntimeError(f"the demo exited {demo.returncode} before a contract went red")
            if time.monotonic() > deadline:
                states = {c["contract"]: c["state"] for c in contracts}
                raise TimeoutError(f"fewer than {at_least} red contracts in time: {states}")
            time.sleep(0.5)



def _stop(demo: subprocess.Popen[str]) -> int:
    """SIGTERM the demo and wait for it (kill it if it does not stop within a minute)."""
    if demo.poll() is None:
        demo.send_signal(signal.SIGTERM)
        try:
            return demo.wait(timeout=60)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
            return -signal.SIGKILL
    return demo.returncode


if __name__ == "__main__":
    sys.exit(main())

"""Headless Chromium for the screenshot scripts: finding it and taking a full-window screenshot.

Imported by `scripts/screenshot_*.py` (run as scripts, so this folder is on `sys.path`).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["BROWSERS", "add_browser_options", "browser_from", "find_browser", "screenshot"]

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def find_browser(given: str | None) -> str | None:
    """``given``, or the first of ``BROWSERS`` on PATH, or None."""
    return given or next((found for name in BROWSERS if (found := shutil.which(name))), None)


def add_browser_options(parser: argparse.ArgumentParser, size: str) -> None:
    """``--size WIDTH,HEIGHT`` (default ``size``) and ``--browser``."""
    parser.add_argument("--size", default=size, help="browser window, WIDTH,HEIGHT")
    parser.add_argument("--browser", default=None, help="the Chromium binary (default: the first on PATH of "
                                                        + ", ".join(BROWSERS) + ")")


def browser_from(args: argparse.Namespace) -> str | None:
    """The browser the options name or PATH offers; None (said on stderr) when there is none."""
    browser = find_browser(args.browser)
    if browser is None:
        print(f"no headless browser: install chromium (none of {', '.join(BROWSERS)} is on PATH)", file=sys.stderr)
    return browser


def screenshot(browser: str, url: str, out: Path, profile: Path, size: str) -> None:
    """Open ``url`` headless at ``size`` ("WIDTH,HEIGHT") and write a PNG to ``out``."""
    command = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
               "--no-default-browser-check", f"--user-data-dir={profile}", f"--window-size={size}",
               f"--screenshot={out}", url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0 or not out.is_file():
        raise RuntimeError(f"{browser} exited {done.returncode} without a screenshot:\n{done.stderr[-3000:]}")

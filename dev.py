#!/usr/bin/env python3
"""Bootstrap and run syncwatch from a fresh clone with nothing but Python 3.11+.

    python3 dev.py demo        # the simulated world, watched live (about two minutes)
    python3 dev.py test        # the test suite (pytest), exactly as CI runs it
    python3 dev.py example     # the small bundled example systems, checked and probed
    python3 dev.py <args>      # any other syncwatch command, e.g. `check`, `probe NAME`

On first use (and whenever pyproject.toml changes) it creates ``.venv`` and
installs syncwatch with its test extras into it; after that it only runs.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".syncwatch-installed"


def _python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_installed() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"syncwatch needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted and _python().exists():
        return
    if not _python().exists():
        print("dev.py: creating .venv …", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("dev.py: installing syncwatch and its test dependencies into .venv …", file=sys.stderr)
    subprocess.run(
        [str(_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", f"{ROOT}[dev]"],
        check=True,
    )
    STAMP.write_text(wanted)


def main(argv: list[str]) -> int:
    ensure_installed()
    if argv[:1] == ["test"]:
        command = [str(_python()), "-m", "pytest", *argv[1:]]
    else:
        command = [str(_python()), "-m", "monitor.cli", *(argv or ["--help"])]
    return subprocess.call(command, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The command line: exit codes, one-line errors without tracebacks, JSON output, the example."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import ExitCode, main

ROOT = Path(__file__).parent.parent


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(ROOT / "syncwatch.yaml", tmp_path / "syncwatch.yaml")
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_check_passes_on_the_shipped_config(shipped: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "stock.level" in out and "shop.inventory.available" in out
    assert "ok: 3 contracts, 4 systems, 4 owners" in out


def test_check_fails_with_file_and_line_and_no_traceback(shipped: Path, capsys: pytest.CaptureFixture[str]) -> None:
    contract = shipped / "rules/contracts/stock-wms-to-shop.yaml"
    contract.write_text(contract.read_text().replace("system: shop,", "system: shopfy,"))
    assert main(["check"]) == ExitCode.CONFIG
    err = capsys.readouterr().err
    assert "rules/contracts/stock-wms-to-shop.yaml:8: targets[0].system: 'shopfy' is not a system; known: crm, erp, shop, wms" in err
    assert "Traceback" not in err


def test_probe_of_an_unknown_contract_names_the_known_ones(shipped: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLE_SHOP_TOKEN", "x")
    monkeypatch.setenv("EXAMPLE_CRM_KEY", "x")
    assert main(["probe", "stock"]) == ExitCode.CONFIG
    assert "'stock' is not a contract; known: consent-shop-to-crm, orders-shop-to-erp, stock-wms-to-shop" in capsys.readouterr().err


def test_probe_of_a_system_that_cannot_be_read_exits_probe_error(shipped: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # The WMS database has not been created: the probe cannot see, which is not drift.
    (shipped / ".syncwatch/example").mkdir(parents=True)
    monkeypatch.setenv("EXAMPLE_SHOP_TOKEN", "x")
    monkeypatch.setenv("EXAMPLE_CRM_KEY", "x")
    code = main(["probe", "stock-wms-to-shop", "--json"])
    assert code == ExitCode.PROBE_ERROR
    doc = json.loads(capsys.readouterr().out)
    assert doc["outcome"] == "error" and doc["error_reason"] == "query"
    assert doc["targets"][0]["health"]["divergent"] == 0
    assert doc["targets"][0]["verdict"]["conditions"] == ["probe_failing"]


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe"]) == ExitCode.USAGE
    assert "Missing argument" in capsys.readouterr().err


def test_example_command_end_to_end(shipped: Path) -> None:
    """The README's first command, as a user runs it: a real process, real loopback HTTP and SQLite."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EXAMPLE_", "SYNCWATCH_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "example"], cwd=shipped, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "The probes found exactly the injected divergences." in proc.stdout
    assert "BREACH" in proc.stdout
    assert "Traceback" not in proc.stderr
    # Personal data: emails appear masked only.
    assert "@mail.example.com" not in proc.stdout.replace("***@m***.example.com", "")
    assert "amelia.000@" not in proc.stdout

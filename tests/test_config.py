"""Configuration: the shipped config loads; every bad-config fixture fails with its exact message."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from monitor.config import load_config, required_sample_size
from monitor.config.loader import detection_probability
from monitor.errors import ConfigError

FIXTURES = Path(__file__).parent / "fixtures"
BASE = FIXTURES / "config" / "base"
BAD = sorted((FIXTURES / "bad-config").glob("*.yaml"))
ROOT = Path(__file__).parent.parent
ENV = {"TEST_SHOP_TOKEN": "s3cret-token"}


def _case(path: Path) -> tuple[str, list[str], list[str], str]:
    replaces, expect, unset, body = "", [], [], []
    for line in path.read_text().splitlines():
        if line.startswith("# replaces: "):
            replaces = line.removeprefix("# replaces: ")
        elif line.startswith("# expect: "):
            expect.append(line.removeprefix("# expect: "))
        elif line.startswith("# env-unset: "):
            unset.append(line.removeprefix("# env-unset: "))
        else:
            body.append(line)
    return replaces, expect, unset, "\n".join(body) + "\n"


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "cfg"
    shutil.copytree(BASE, target)
    monkeypatch.chdir(target)  # messages show paths relative to the working directory
    return target


def test_base_fixture_is_valid(config_dir: Path) -> None:
    config = load_config(config_dir / "syncwatch.yaml", environ=ENV)
    assert sorted(config.contracts) == ["orders", "stock"]
    assert sorted(config.systems) == ["erp", "shop", "wms"]
    assert config.contracts["stock"].budget.latency.total_seconds() == 300
    assert config.contracts["stock"].budget.drift == pytest.approx(0.01)
    assert config.contracts["orders"].budget.hold == 2
    # The secret was substituted and is kept out of reprs.
    shop = config.systems["shop"]
    assert "s3cret-token" not in repr(shop)
    assert shop.auth.token.get_secret_value() == "s3cret-token"  # type: ignore[attr-defined]


@pytest.mark.parametrize("case", BAD, ids=[p.stem for p in BAD])
def test_bad_config_fails_with_exact_message(case: Path, config_dir: Path) -> None:
    replaces, expected, unset, body = _case(case)
    assert replaces and expected, f"{case.name} needs '# replaces:' and '# expect:' lines"
    (config_dir / replaces).write_text(body)
    env = {k: v for k, v in ENV.items() if k not in unset}
    with pytest.raises(ConfigError) as info:
        load_config(config_dir / "syncwatch.yaml", environ=env)
    assert [str(p) for p in info.value.problems] == expected


def test_shipped_config_checks_clean_apart_from_secrets_and_sample_size() -> None:
    config = load_config(ROOT / "syncwatch.yaml", environ={}, secrets_optional=True)
    assert set(config.contracts) == {"stock-wms-to-shop", "orders-shop-to-erp", "consent-shop-to-crm"}
    messages = [w.message for w in config.warnings]
    assert sum("environment variable" in m for m in messages) == 2
    assert any("size 598 would reach 95%" in m for m in messages)


def test_shipped_config_without_secrets_is_an_error_for_probing() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(ROOT / "syncwatch.yaml", environ={})
    assert all("is not set" in p.message for p in info.value.problems)
    assert len(info.value.problems) == 2


def test_ownership_map_lists_every_field_once(config_dir: Path) -> None:
    rows = load_config(config_dir / "syncwatch.yaml", environ=ENV).ownership()
    assert [(r.source, r.system_of_record, r.targets) for r in rows] == [
        ("orders.status", "shop", ("erp.sales_orders.status",)),
        ("stock.level", "wms", ("shop.inventory.available",)),
    ]


def test_defaults_fill_contract_budget_and_sampling(config_dir: Path) -> None:
    text = (config_dir / "syncwatch.yaml").read_text()
    (config_dir / "syncwatch.yaml").write_text(text.replace("version: 1\n", "version: 1\ndefaults:\n  budget: {hold: 4 runs}\n  sampling: {every: 7m}\n"))
    config = load_config(config_dir / "syncwatch.yaml", environ=ENV)
    assert config.contracts["orders"].budget.hold == 4
    assert config.contracts["stock"].budget.hold == 2  # the contract's own value wins
    assert config.contracts["orders"].sampling.every.total_seconds() == 420


def test_small_sample_warning_names_the_size_that_would_do(config_dir: Path) -> None:
    stock = config_dir / "rules/contracts/stock.yaml"
    stock.write_text(stock.read_text().replace("size: 300", "size: 50"))
    config = load_config(config_dir / "syncwatch.yaml", environ=ENV)
    [warning] = [w for w in config.warnings if w.field == "sampling.size"]
    assert str(warning) == (
        "rules/contracts/stock.yaml:9: sampling.size: a sample of 50 finds a 1.00% drift "
        "with only 39% probability per run; size 299 would reach 95%"
    )


@pytest.mark.parametrize(
    ("rate", "size"), [(0.005, 598), (0.01, 299), (0.05, 59), (0.5, 5), (1.0, 1)]
)
def test_required_sample_size(rate: float, size: int) -> None:
    assert required_sample_size(rate) == size
    assert detection_probability(size, rate) >= 0.95
    if size > 1:
        assert detection_probability(size - 1, rate) < 0.95

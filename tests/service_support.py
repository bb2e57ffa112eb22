"""A small real world for service tests: two SQLite systems and contracts over them, on disk."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

SYNCWATCH_YAML = """\
version: 1
storage: {{url: "sqlite:///{store}"}}
service: {{port: 0, watch: 1s}}
owners: rules/owners.yaml
contracts: rules/contracts
systems:
  wms:
    kind: sql
    url: sqlite:///wms.db
    entities:
      stock: {{table: stock, timestamps: iso, columns: [sku, available, updated_at]}}
  shop:
    kind: sql
    url: sqlite:///shop.db
    entities:
      inventory: {{table: inventory, timestamps: iso, columns: [sku, available, updated_at]}}
"""

OWNERS_YAML = """\
owners:
  priya: {name: Priya Shah, slack: U04PRIYA01, backup: sam}
  sam: {name: Sam Patel, slack: U04SAMPAT1}
"""

CONTRACT_YAML = """\
contract: {name}
description: Sellable stock per SKU.
owner: priya
technical_owner: sam
source: {{system: wms, entity: stock, key: sku, updated_at: updated_at}}
targets:
  - {{system: shop, entity: inventory, key: sku, updated_at: updated_at}}
fields:
  available: {{compare: number, risk: oversell, critical: true}}
budget: {{latency: 5m, drift: {drift}, hold: 2 runs, confidence: {confidence}}}
sampling: {{every: {every}, size: 50, recent: 0%}}
"""


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class SqlWorld:
    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / "syncwatch.yaml"

    def write_contract(self, name: str, every: str = "1m", drift: str = "2%", confidence: str = "0%") -> Path:
        path = self.root / "rules" / "contracts" / f"{name}.yaml"
        path.write_text(CONTRACT_YAML.format(name=name, every=every, drift=drift, confidence=confidence))
        return path

    def set_stock(self, rows: dict[str, tuple[int, datetime, int | None, datetime | None]]) -> None:
        """sku -> (WMS level, WMS updated, shop level or None (missing), shop updated)."""
        with sqlite3.connect(self.root / "wms.db") as wms, sqlite3.connect(self.root / "shop.db") as shop:
            wms.execute("DELETE FROM stock")
            shop.execute("DELETE FROM inventory")
            for sku, (level, at, shown, shown_at) in rows.items():
                wms.execute("INSERT INTO stock VALUES (?, ?, ?)", (sku, level, iso(at)))
                if shown is not None and shown_at is not None:
                    shop.execute("INSERT INTO inventory VALUES (?, ?, ?)", (sku, shown, iso(shown_at)))


def build_sql_world(root: Path, contracts: tuple[str, ...] = ("stock",)) -> SqlWorld:
    (root / "rules" / "contracts").mkdir(parents=True)
    (root / "syncwatch.yaml").write_text(SYNCWATCH_YAML.format(store=root / "sw.db"))
    (root / "rules" / "owners.yaml").write_text(OWNERS_YAML)
    with sqlite3.connect(root / "wms.db") as wms, sqlite3.connect(root / "shop.db") as shop:
        wms.execute("CREATE TABLE stock (sku TEXT PRIMARY KEY, available INTEGER, updated_at TEXT)")
        shop.execute("CREATE TABLE inventory (sku TEXT PRIMARY KEY, available INTEGER, updated_at TEXT)")
    world = SqlWorld(root)
    for name in contracts:
        world.write_contract(name)
    return world

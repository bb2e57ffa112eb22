"""The connector kinds, listed once: ``kind:`` → config model and implementation.

Config validation and the engine both use this dict, so a kind cannot be
valid in one place and unknown in the other. An unknown kind is an error that
names the valid ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from probes.base import Connector, ConnectorContext, SystemConfigBase
from probes.http import HttpConnector, HttpSystemConfig
from probes.shopify import ShopifyConnector, ShopifySystemConfig
from probes.sql import SqlConnector, SqlSystemConfig

__all__ = ["ConnectorKind", "KINDS", "open_connector"]


@dataclass(frozen=True)
class ConnectorKind:
    config_model: type[SystemConfigBase]
    open: Callable[[str, Any, ConnectorContext], Connector]


KINDS: dict[str, ConnectorKind] = {
    "sql": ConnectorKind(SqlSystemConfig, SqlConnector.open),
    "http": ConnectorKind(HttpSystemConfig, HttpConnector.open),
    "shopify": ConnectorKind(ShopifySystemConfig, ShopifyConnector.open),
}


def open_connector(system: str, config: SystemConfigBase, ctx: ConnectorContext) -> Connector:
    return KINDS[config.kind].open(system, config, ctx)

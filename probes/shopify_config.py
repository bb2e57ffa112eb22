"""Configuration of a ``shopify`` system: the shop, its token, cost limits, entities.

The access token arrives already substituted from ``${ENV}`` by the config
loader and is held as a ``SecretStr``, so it never shows in a repr, a log line
or an error. An example::

    shop:
      kind: shopify
      shop_url: https://brand.myshopify.com
      access_token: "${SHOPIFY_ADMIN_TOKEN}"
      api_share: 10%
      entities:
        stock: {type: inventory, location_id: "gid://shopify/Location/123"}
        orders: {type: orders}
        customers: {type: customers}
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from probes.base import StrictModel, SystemConfigBase
from probes.http_config import RetryConfig, service_url
from probes.shopify_queries import FIELDS, EntityType

__all__ = ["ShopifyEntityConfig", "ShopifySystemConfig"]


class ShopifyEntityConfig(StrictModel):
    """An entity of a shop: ``inventory`` (keyed by sku), ``orders`` (name) or ``customers`` (email).

    ``location_id`` (inventory only) reads quantities at that location; without
    it, a variant's first inventory level is read, which is right for a shop
    with one location only.
    """

    type: EntityType
    location_id: str | None = Field(default=None, description="e.g. gid://shopify/Location/123 or 123")

    @field_validator("location_id")
    @classmethod
    def _location(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"(gid://shopify/Location/)?[0-9]+", value):
            raise ValueError("expected a location ID such as gid://shopify/Location/123 or 123")
        return value

    @model_validator(mode="after")
    def _location_for_inventory(self) -> ShopifyEntityConfig:
        if self.location_id is not None and self.type != "inventory":
            raise ValueError(f"location_id applies to inventory only, not {self.type}")
        return self

    def declared_fields(self) -> frozenset[str]:
        """The fields records of this type have (names the engine may ask for)."""
        return FIELDS[self.type]


class ShopifySystemConfig(SystemConfigBase):
    """A Shopify shop read through the Admin GraphQL API. The token arrives already substituted."""

    kind: Literal["shopify"]
    shop_url: str = Field(description="https://{shop}.myshopify.com (http:// only on loopback)")
    api_version: str = "2026-04"
    access_token: SecretStr
    retries: RetryConfig = Field(default_factory=RetryConfig)
    # Shopify refuses a query requested at over 1,000 points; the smallest order page costs 28.
    max_cost_per_query: int = Field(default=1000, ge=50, le=1000)
    restore_rate: float | None = Field(default=None, gt=0, description="points/s; default: as the shop reports")
    max_response_bytes: int = Field(default=20_000_000, ge=1)
    entities: dict[str, ShopifyEntityConfig] = Field(min_length=1)

    @field_validator("shop_url")
    @classmethod
    def _shop_url(cls, value: str) -> str:
        url = service_url(value, "shop_url", "access_token")
        if url.scheme == "http" and not _loopback(url.host):
            raise ValueError("shop_url must be https:// (the access token must not travel in clear)")
        return value.rstrip("/")

    @field_validator("api_version")
    @classmethod
    def _api_version(cls, value: str) -> str:
        if not re.fullmatch(r"[0-9]{4}-(01|04|07|10)|unstable", value):
            raise ValueError("expected a Shopify API version such as 2026-04 (quarterly: -01, -04, -07, -10)")
        return value

    @model_validator(mode="after")
    def _share_leaves_points(self) -> ShopifySystemConfig:
        if self.api_share <= 0:
            raise ValueError("api_share is 0%: syncwatch could send no queries at all")
        return self

    def endpoint(self) -> str:
        return f"{self.shop_url}/admin/api/{self.api_version}/graphql.json"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

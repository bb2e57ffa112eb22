"""The demo world's systems as plain in-memory state: what each simulated API serves from.

The world (``monitor.demo.world``) writes here as simulated time passes (orders
arrive, stock moves, syncs land, faults strike); the simulators
(``monitor.demo.sim``) read here to answer requests in each real system's shape.
One lock guards everything: simulators answer from server threads while the
world advances in another. Times are aware UTC datetimes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

__all__ = [
    "Variant",
    "Fulfillment",
    "ShopOrder",
    "ShopCustomer",
    "ShopifyState",
    "WmsStock",
    "WmsOrder",
    "WmsState",
    "Profile",
    "CrmState",
    "Faults",
    "WorldState",
    "MINTSOFT_STATUSES",
]

# Mintsoft order status IDs (apis.md; an account's own list comes from /api/Order/Statuses).
MINTSOFT_STATUSES: dict[int, str] = {
    1: "NEW",
    15: "AWAITINGPICKING",
    17: "PICKED",
    4: "DESPATCHED",
    9: "ON_BACK_ORDER",
    13: "QUERYRAISED",
}


# -- Shopify ------------------------------------------------------------------------------------


@dataclass
class Variant:
    """A product variant with its inventory item and one location's inventory level."""

    id: int  # gid://shopify/ProductVariant/{id}
    product_id: int  # gid://shopify/Product/{product_id}
    inventory_item_id: int  # gid://shopify/InventoryItem/{id}; its level: gid://shopify/InventoryLevel/{id}?inventory_item_id=…
    sku: str
    title: str  # the product's title (the variant is "Default Title")
    price: Decimal  # GBP
    available: int
    committed: int = 0
    updated_at: datetime | None = None  # variant updatedAt
    inventory_updated_at: datetime | None = None  # the inventory level's / quantity's updatedAt

    @property
    def on_hand(self) -> int:
        return self.available + self.committed


@dataclass
class Fulfillment:
    id: int
    status: str  # FulfillmentStatus: SUCCESS, CANCELLED, ERROR, FAILURE
    display_status: str  # FulfillmentDisplayStatus: FULFILLED, IN_TRANSIT, DELIVERED, ...
    created_at: datetime
    updated_at: datetime
    tracking_company: str | None = None
    tracking_number: str | None = None
    in_transit_at: datetime | None = None
    delivered_at: datetime | None = None


@dataclass
class ShopOrder:
    id: int
    name: str  # "#1001"
    email: str
    created_at: datetime
    updated_at: datetime
    processed_at: datetime
    total: Decimal  # GBP, totalPriceSet.shopMoney
    lines: list[tuple[str, int]]  # (sku, quantity)
    display_financial_status: str = "PAID"
    display_fulfillment_status: str = "UNFULFILLED"
    cancelled_at: datetime | None = None
    closed_at: datetime | None = None
    fulfillments: list[Fulfillment] = field(default_factory=list)


@dataclass
class ShopCustomer:
    id: int
    email: str
    first_name: str
    last_name: str
    country: str
    created_at: datetime
    updated_at: datetime
    marketing_state: str = "NOT_SUBSCRIBED"  # CustomerEmailAddressMarketingState
    marketing_opt_in_level: str = "SINGLE_OPT_IN"
    marketing_updated_at: datetime | None = None


@dataclass
class ShopifyState:
    variants: dict[str, Variant] = field(default_factory=dict)  # by SKU
    orders: dict[str, ShopOrder] = field(default_factory=dict)  # by name ("#1001")
    customers: dict[str, ShopCustomer] = field(default_factory=dict)  # by email, case-folded


# -- WMS (Mintsoft-shaped) -------------------------------------------------------------------------


@dataclass
class WmsStock:
    product_id: int
    sku: str
    level: int
    last_updated: datetime
    warehouse_id: int = 1


@dataclass
class WmsOrder:
    id: int
    order_number: str  # the shop's order name, "#1001"
    external_order_reference: str  # the shop's order id
    order_status_id: int  # MINTSOFT_STATUSES
    order_date: datetime
    last_updated: datetime
    email: str
    despatch_date: datetime | None = None
    tracking_number: str | None = None
    courier: str | None = None
    lines: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class WmsState:
    stock: dict[str, WmsStock] = field(default_factory=dict)  # by SKU
    orders: dict[str, WmsOrder] = field(default_factory=dict)  # by order number


# -- CRM (Klaviyo-shaped) --------------------------------------------------------------------------


@dataclass
class Profile:
    id: str  # Klaviyo-style ULID, e.g. 01J…
    email: str  # as the CRM stores it (may differ in case from the shop)
    first_name: str
    last_name: str
    created: datetime
    updated: datetime
    consent: str = "NEVER_SUBSCRIBED"  # subscriptions.email.marketing.consent
    consent_timestamp: datetime | None = None
    last_order: str | None = None  # properties.last_order: the shop's order name
    last_order_status: str | None = None  # properties.last_order_status: Shopify's displayFulfillmentStatus


@dataclass
class CrmState:
    profiles: list[Profile] = field(default_factory=list)  # duplicates are possible, as in real CRMs


# -- faults the simulators act out ------------------------------------------------------------------


@dataclass
class Faults:
    """Protocol-level faults the simulators apply while active (set and cleared by the world).

    ``outage``: system name → answer 503 or hang past the client's timeout;
    ``rate_storm``: system name → answer 429 to everything;
    ``renamed``: (system, entity) → (old field name, new field name) in responses.
    """

    outage: set[str] = field(default_factory=set)
    rate_storm: set[str] = field(default_factory=set)
    renamed: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)


@dataclass
class WorldState:
    shopify: ShopifyState = field(default_factory=ShopifyState)
    wms: WmsState = field(default_factory=WmsState)
    crm: CrmState = field(default_factory=CrmState)
    faults: Faults = field(default_factory=Faults)
    lock: threading.RLock = field(default_factory=threading.RLock)

"""How the store encodes values for the database: JSON text, and datetimes on SQLite."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from monitor.results import FieldDiff, Kind
from monitor.store.connect import dumps_json
from monitor.store.models import UTCDateTime

VALUES: list[Any] = [
    [],
    {},
    ["available", "price"],
    [{"field": "available", "risk": None, "direction": "target_higher", "at_risk": True}],
    {"uniform": 98, "recent": 2},
    ["é ü – ‘quoted’ \"escaped\" \\ 😀 \u2028 \x00", "null", "a\tb"],
    [0.1 + 0.2, 1e300, 5e-324, -0.0, 1e16, 2.500000057220459, 0, -1, 2**63 - 1, -(2**63)],
    {Kind.STALE: 1, "in_sync": 2},  # str-subclass keys: orjson refuses them
    [2**64, -(2**70)],  # beyond 64 bits: orjson refuses them
    {"nested": {"deeper": [None, True, False, {"x": []}]}},
]


@pytest.mark.parametrize("value", VALUES)
def test_json_text_reads_back_as_the_standard_library_wrote_it(value: Any) -> None:
    text = dumps_json(value)

    assert isinstance(text, str)
    assert json.loads(text) == json.loads(json.dumps(value))


def test_json_keeps_nan_and_infinities_as_before_not_as_null() -> None:
    back = json.loads(dumps_json({"cost_points": math.nan, "waited": [math.inf, -math.inf]}))

    assert math.isnan(back["cost_points"]) and back["waited"] == [math.inf, -math.inf]


@pytest.mark.parametrize("value", [{"when": datetime(2025, 3, 3, tzinfo=UTC)}, [FieldDiff("a")]])
def test_json_refuses_what_the_standard_library_refuses(value: Any) -> None:
    with pytest.raises(TypeError):
        dumps_json(value)


@pytest.mark.parametrize(
    "value",
    [
        datetime(2025, 3, 3, 9, 0, tzinfo=UTC),
        datetime(2025, 3, 3, 9, 0),  # naive: taken to be UTC
        datetime(2025, 3, 3, 0, 30, 0, 7, tzinfo=timezone(timedelta(hours=1))),
        datetime(2025, 10, 26, 1, 30, fold=1, tzinfo=ZoneInfo("Europe/London")),
        datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        None,
    ],
)
def test_sqlite_datetime_text_is_what_sqlalchemy_datetime_stores(value: datetime | None) -> None:
    dialect = sqlite.dialect()
    column_type = UTCDateTime()
    fast = column_type.dialect_impl(dialect).bind_processor(dialect)
    stock = sa.DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect)
    assert fast is not None and stock is not None

    assert fast(value) == stock(column_type.process_bind_param(value, dialect))

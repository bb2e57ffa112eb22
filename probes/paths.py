"""Dotted paths into decoded JSON: ``data.items``, ``items.0.sku``, ``""`` for the value itself.

A path is compiled once (when the config is validated) and then applied per
field per record, so the split happens at config time, not in the hot loop.
An absent value is ``MISSING``, never ``None``: ``None`` is a JSON ``null``
the system actually sent, and the engine must tell "the field is gone" (a
schema change) from "the field is empty".

A segment is a mapping key, or a list index when the value at that point is a
list and the segment is a whole number. A key that itself contains a dot
(``@odata.nextLink``) is written with the dot escaped: ``@odata\\.nextLink``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Final

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

__all__ = ["MISSING", "JsonPath", "compile_path", "get_path"]


class _Missing:
    """The type of ``MISSING``: falsy, one instance (even through copy and pickle), a readable repr."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


class JsonPath(str):
    """A dotted path that is also the text it was written as (so configs dump as strings).

    ``JsonPath("items.0.sku").get(body)`` returns the value or ``MISSING``.
    Usable directly as a pydantic field type: validation compiles the path and
    reports a malformed one (``a..b``) at its place in the config.
    """

    parts: tuple[tuple[str, int | None], ...]

    def __new__(cls, text: str) -> JsonPath:
        self = super().__new__(cls, text)
        self.parts = _split(text)
        return self

    def get(self, obj: Any) -> Any:
        value = obj
        for key, index in self.parts:
            if isinstance(value, dict):
                value = value.get(key, MISSING)
                if value is MISSING:
                    return MISSING
            elif isinstance(value, list) and index is not None:
                if not -len(value) <= index < len(value):
                    return MISSING
                value = value[index]
            else:
                return MISSING
        return value

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            cls._validate,
            core_schema.str_schema(),
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )

    @classmethod
    def _validate(cls, value: str) -> JsonPath:
        return value if isinstance(value, JsonPath) else cls(value)


def _split(text: str) -> tuple[tuple[str, int | None], ...]:
    if text == "":
        return ()
    segments: list[str] = []
    current: list[str] = []
    chars = iter(text)
    for char in chars:
        if char == "\\":
            escaped = next(chars, "")
            if escaped not in (".", "\\"):
                raise ValueError(f"{text!r}: only '\\.' and '\\\\' may be escaped in a path")
            current.append(escaped)
        elif char == ".":
            segments.append("".join(current))
            current = []
        else:
            current.append(char)
    segments.append("".join(current))
    if any(segment == "" for segment in segments):
        raise ValueError(
            f"{text!r} has an empty segment; write a dotted path such as data.items or items.0.sku"
        )
    return tuple((segment, _as_index(segment)) for segment in segments)


def _as_index(segment: str) -> int | None:
    digits = segment[1:] if segment.startswith("-") else segment
    return int(segment) if digits.isdigit() else None


@lru_cache(maxsize=1024)
def compile_path(text: str) -> JsonPath:
    """The compiled form of ``text`` (cached: the same text compiles once)."""
    return JsonPath(text)


def get_path(obj: Any, path: str) -> Any:
    """The value at ``path`` inside ``obj``, or ``MISSING``; ``""`` is ``obj`` itself."""
    compiled = path if isinstance(path, JsonPath) else compile_path(path)
    return compiled.get(obj)

"""Turn pydantic's ValidationError into ConfigProblems with file, line, field and what is valid."""

from __future__ import annotations

import types
import typing
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from monitor.config.yamlsource import Path_, YamlDocument
from monitor.errors import ConfigProblem

__all__ = ["problems_from_validation"]

_DISCRIMINATORS = ("kind", "compare", "type")


def problems_from_validation(
    exc: ValidationError, doc: YamlDocument, base: Path_, data: Any, model: type[BaseModel]
) -> list[ConfigProblem]:
    problems = []
    for error in exc.errors(include_url=False):
        path = _clean_path(data, tuple(error["loc"]))
        full = (*base, *path)
        message = _message(error, data, path, model)
        problems.append(doc.problem(full, message))
    return problems


def _clean_path(data: Any, loc: tuple[Any, ...]) -> Path_:
    """Drop pydantic's discriminator tags and validator names from ``loc``."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, list) and isinstance(part, int):
            out.append(part)
            node = node[part] if part < len(node) else None
            continue
        if isinstance(node, dict):
            if part in node:
                out.append(part)
                node = node[part]
                continue
            if any(node.get(d) == part for d in _DISCRIMINATORS) or "[" in str(part):
                continue  # a union tag or "function-after[...]": not a place in the file
        if isinstance(part, str | int):
            out.append(part)
        node = None
    return tuple(out)


def _message(error: Any, data: Any, path: Path_, model: type[BaseModel]) -> str:
    kind = error["type"]
    value = error.get("input")
    msg = str(error["msg"])
    if kind == "missing":
        return "required, but missing"
    if kind == "extra_forbidden":
        valid = _valid_fields(model, data, path[:-1])
        hint = f"; valid: {', '.join(valid)}" if valid else ""
        return f"unknown field {path[-1]!r}{hint}" if path else f"unknown field{hint}"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
        return msg
    if kind == "union_tag_invalid":
        ctx = error.get("ctx") or {}
        return f"{ctx.get('tag')!r} is not valid; expected one of {ctx.get('expected_tags')}"
    if kind in ("string_type", "string_sub_type") and isinstance(value, int | float) and not isinstance(value, bool):
        msg = f"{msg}: YAML read a number here; put the value in quotes"
    if _secret(path):
        return msg  # never echo what may be a credential
    if isinstance(value, str | int | float | bool) or value is None:
        return f"{value!r}: {msg}"
    return msg


_SECRET_WORDS = ("token", "secret", "password", "key")


def _secret(path: Path_) -> bool:
    """Whether the field at ``path`` may hold a credential (its value is never shown)."""
    names = [str(p).lower() for p in path if not isinstance(p, int)]
    return bool(names) and (any(w in names[-1] for w in _SECRET_WORDS) or names[-2:-1] == ["auth"])


def _valid_fields(model: type[BaseModel], data: Any, path: Path_) -> list[str]:
    """Field names of the model that validates ``data`` at ``path`` (best effort)."""
    target: Any = model
    node = data
    for part in path:
        target = _step(target, node, part)
        node = node.get(part) if isinstance(node, dict) else (
            node[part] if isinstance(node, list) and isinstance(part, int) and part < len(node) else None
        )
        if target is None:
            return []
    target = _resolve(target, node)
    if isinstance(target, type) and issubclass(target, BaseModel):
        return [f.alias or name for name, f in target.model_fields.items()]
    return []


def _step(target: Any, node: Any, part: Any) -> Any:
    target = _resolve(target, node)
    if isinstance(target, type) and issubclass(target, BaseModel):
        for name, info in target.model_fields.items():
            if part in (name, info.alias):
                return info.annotation
        return None
    origin = get_origin(target)
    if origin in (dict, typing.Dict):  # noqa: UP006
        return get_args(target)[1]
    if origin in (list, typing.List):  # noqa: UP006
        return get_args(target)[0]
    return None


def _resolve(target: Any, node: Any) -> Any:
    """Unwrap Annotated/Optional, and pick a union member by the discriminator in ``node``."""
    while True:
        origin = get_origin(target)
        if origin is typing.Annotated:
            target = get_args(target)[0]
            continue
        if origin in (Union, types.UnionType):
            members = [a for a in get_args(target) if a is not type(None)]
            if len(members) == 1:
                target = members[0]
                continue
            for member in members:
                if isinstance(member, type) and issubclass(member, BaseModel) and isinstance(node, dict):
                    for disc in _DISCRIMINATORS:
                        info = member.model_fields.get(disc)
                        if info is not None and node.get(disc) in get_args(info.annotation):
                            return member
            return None
        return target

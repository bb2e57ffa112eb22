"""Read a YAML file into plain data while remembering the line of every node.

Config errors must name the file and the line (``rules/contracts/stock.yaml:7``),
so we compose the YAML node tree once and keep a map from a data path
(``("targets", 0, "system")``) to its line. ``${ENV_VAR}`` references are
substituted here, at the edge, and a missing variable is an error at its line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from monitor.errors import ConfigError, ConfigProblem

__all__ = ["YamlDocument", "load_yaml", "format_path"]

Path_ = tuple[str | int, ...]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class YamlDocument:
    """One YAML file's data plus where each value came from."""

    file: str  # as shown to users (relative to the working directory where possible)
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)  # 1-based
    key_lines: dict[Path_, int] = field(default_factory=dict)  # line of the key itself

    def line_of(self, path: Path_) -> int | None:
        """Line of the deepest known node on ``path`` (the key's line for mapping keys)."""
        probe = tuple(path)
        while True:
            if probe in self.key_lines:
                return self.key_lines[probe]
            if probe in self.lines:
                return self.lines[probe]
            if not probe:
                return None
            probe = probe[:-1]

    def problem(self, path: Path_, message: str) -> ConfigProblem:
        return ConfigProblem(self.file, self.line_of(path), format_path(path), message)


def format_path(path: Path_) -> str:
    """``("targets", 0, "system")`` → ``targets[0].system``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def display_name(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_yaml(
    path: Path,
    *,
    substitute_env: bool = False,
    environ: Mapping[str, str] | None = None,
    missing_env: list[ConfigProblem] | None = None,
) -> YamlDocument:
    """Parse ``path``; raise ConfigError (file and line) on unreadable or invalid YAML.

    A ``${VAR}`` that is not set is an error, unless ``missing_env`` is given: then
    it is appended there (for ``syncwatch check`` in CI, where secrets are absent)
    and replaced by a placeholder.
    """
    shown = display_name(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(shown, None, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem(shown, None, "", f"cannot read: {exc}")]) from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if mark is not None and mark.line >= len(text.splitlines()):
            # "unexpected end of file": the construct left open is the useful place.
            mark = getattr(exc, "context_mark", None) or mark
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigProblem(shown, line, "", f"invalid YAML: {reason}")]) from None
    doc = YamlDocument(shown, None)
    if node is None:
        doc.data = None
        return doc
    problems: list[ConfigProblem] = []
    env = os.environ if environ is None else environ
    doc.data = _build(node, (), doc, problems, env if substitute_env else None)
    if missing_env is not None:
        missing_env.extend(problems)
        problems = [p for p in problems if "environment variable" not in p.message]
    if problems:
        raise ConfigError(problems)
    return doc


def _build(
    node: yaml.Node,
    path: Path_,
    doc: YamlDocument,
    problems: list[ConfigProblem],
    env: Mapping[str, str] | None,
) -> Any:
    doc.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            child = (*path, key if isinstance(key, str | int) else str(key))
            if key in result:
                problems.append(
                    ConfigProblem(doc.file, key_node.start_mark.line + 1, format_path(child), "duplicate key")
                )
            doc.key_lines[child] = key_node.start_mark.line + 1
            result[key] = _build(value_node, child, doc, problems, env)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), doc, problems, env) for i, item in enumerate(node.value)]
    value = _scalar(node)
    if env is not None and isinstance(value, str) and "${" in value:
        value = _substitute(value, path, doc, problems, env)
    return value


def _scalar(node: yaml.Node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _substitute(
    value: str, path: Path_, doc: YamlDocument, problems: list[ConfigProblem], env: Mapping[str, str]
) -> str:
    def repl(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        problems.append(
            doc.problem(path, f"environment variable {name} is not set (referenced as ${{{name}}})")
        )
        return ""

    return _ENV_REF.sub(repl, value)

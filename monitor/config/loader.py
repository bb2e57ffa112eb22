"""Load syncwatch.yaml, the owners file and every contract; check them against each other.

Everything wrong is collected and raised together as one ConfigError, each
problem with file, line, field and what would be valid. Warnings (e.g. a sample
too small to detect the contract's own drift budget) do not stop loading.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from monitor.config.models import Contract, Owner, OwnersFile, Settings, Slack
from monitor.config.pydantic_errors import problems_from_validation
from monitor.config.yamlsource import YamlDocument, load_yaml
from monitor.errors import ConfigError, ConfigProblem
from probes.base import SystemConfigBase
from probes.registry import KINDS

__all__ = ["Config", "OwnershipRow", "load_config", "required_sample_size", "detection_probability"]

_CONFIDENCE = 0.95


@dataclass(frozen=True)
class OwnershipRow:
    """entity field → system of record → targets, for ``syncwatch check``."""

    source: str  # system.entity.field
    system_of_record: str
    targets: tuple[str, ...]  # system.entity.field
    contract: str


@dataclass
class Config:
    path: Path
    base_dir: Path
    settings: Settings
    systems: dict[str, SystemConfigBase]
    owners: dict[str, Any]
    contracts: dict[str, Contract]
    contract_files: dict[str, str] = field(default_factory=dict)
    warnings: list[ConfigProblem] = field(default_factory=list)

    @property
    def storage_url(self) -> str:
        if self.settings.storage.url:
            return self.settings.storage.url
        return f"sqlite:///{(self.base_dir / '.syncwatch' / 'syncwatch.db').resolve()}"

    def ownership(self) -> list[OwnershipRow]:
        rows = []
        for contract in self.contracts.values():
            src = contract.source
            for name in contract.fields:
                rows.append(
                    OwnershipRow(
                        source=f"{src.entity}.{src.fields.get(name, name)}",
                        system_of_record=src.system,
                        targets=tuple(
                            f"{t.system}.{t.entity}.{t.fields.get(name, name)}" for t in contract.targets
                        ),
                        contract=contract.contract,
                    )
                )
        return sorted(rows, key=lambda r: (r.source, r.system_of_record))


def detection_probability(size: int, rate: float) -> float:
    """Chance that ``size`` uniform samples include at least one record of a ``rate`` share."""
    return 1.0 - (1.0 - rate) ** size


def required_sample_size(rate: float, confidence: float = _CONFIDENCE) -> int:
    """Smallest n with 1 - (1 - rate)^n ≥ confidence."""
    if rate <= 0:
        raise ValueError("rate must be positive")
    if rate >= 1:
        return 1
    return math.ceil(math.log(1 - confidence) / math.log(1 - rate))


def load_config(
    path: Path | str, environ: Mapping[str, str] | None = None, *, secrets_optional: bool = False
) -> Config:
    """Load and check everything. ``secrets_optional``: an unset ``${VAR}`` is a warning
    (``syncwatch check`` in CI has no production secrets), not an error."""
    path = Path(path)
    unset: list[ConfigProblem] | None = [] if secrets_optional else None
    doc = load_yaml(path, substitute_env=True, environ=environ, missing_env=unset)
    problems: list[ConfigProblem] = []
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError([doc.problem((), "the top level must be a mapping (systems:, storage:, ...)")])
    base_dir = path.parent
    raw_systems = data.get("systems")
    settings = _validate(Settings, {k: v for k, v in data.items() if k != "systems"}, doc, (), problems)
    systems = _load_systems(raw_systems, doc, problems)
    if settings is None:
        raise ConfigError(problems)
    settings = settings.model_copy(
        update={"slack": _slack_from_env(settings, os.environ if environ is None else environ, problems)})
    owner_names: set[str] = set()
    owners = _load_owners(base_dir / settings.owners, problems, owner_names)
    contracts, files, docs = _load_contracts(base_dir / settings.contracts, settings, problems)
    config = Config(path, base_dir, settings, systems, owners, contracts, files)
    # Names declared but invalid are still known: their own error is enough, no cascade.
    system_names = set(raw_systems) if isinstance(raw_systems, dict) else set()
    _cross_check(config, docs, problems, system_names, owner_names)
    _check_routing(config, doc, problems, system_names)
    if problems:
        raise ConfigError(problems)
    config.warnings.extend(
        ConfigProblem(p.file, p.line, p.field, p.message + "; needed to probe") for p in unset or []
    )
    config.warnings.extend(_warnings(config, docs))
    return config


def _slack_from_env(settings: Settings, environ: Mapping[str, str], problems: list[ConfigProblem]) -> Slack:
    """The environment completes ``slack:``: ``SYNCWATCH_SLACK_API_URL`` overrides the base URL
    (a local Slack in tests and demos); ``SLACK_BOT_TOKEN`` and ``SLACK_SIGNING_SECRET`` fill in
    what the file leaves out. Empty variables count as unset."""
    slack = settings.slack
    update: dict[str, Any] = {}
    api_url = environ.get("SYNCWATCH_SLACK_API_URL", "").strip()
    if api_url:
        try:
            update["api_url"] = Slack(api_url=api_url).api_url  # validated like the file's
        except ValidationError:
            problems.append(ConfigProblem(
                "environment", None, "SYNCWATCH_SLACK_API_URL",
                f"{api_url!r} is not an http(s) URL, e.g. http://127.0.0.1:8765/api/",
            ))
    if not slack.token and environ.get("SLACK_BOT_TOKEN", "").strip():
        update["token"] = SecretStr(environ["SLACK_BOT_TOKEN"].strip())
    if not slack.signing_secret and environ.get("SLACK_SIGNING_SECRET", "").strip():
        update["signing_secret"] = SecretStr(environ["SLACK_SIGNING_SECRET"].strip())
    return slack.model_copy(update=update) if update else slack


def _validate(
    model: type[BaseModel], data: Any, doc: YamlDocument, base: tuple[str | int, ...], problems: list[ConfigProblem]
) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems.extend(problems_from_validation(exc, doc, base, data, model))
        return None


def _load_systems(raw: Any, doc: YamlDocument, problems: list[ConfigProblem]) -> dict[str, SystemConfigBase]:
    systems: dict[str, SystemConfigBase] = {}
    if raw is None:
        problems.append(doc.problem(("systems",), "required, but missing: list the systems to probe"))
        return systems
    if not isinstance(raw, dict) or not raw:
        problems.append(doc.problem(("systems",), "must be a mapping of system name to its settings"))
        return systems
    valid_kinds = ", ".join(sorted(KINDS))
    for name, body in raw.items():
        where = ("systems", name)
        if not isinstance(body, dict):
            problems.append(doc.problem(where, f"must be a mapping with a 'kind' ({valid_kinds})"))
            continue
        kind = body.get("kind")
        if kind is None:
            problems.append(doc.problem(where, f"'kind' is missing; known kinds: {valid_kinds}"))
            continue
        if kind not in KINDS:
            problems.append(doc.problem((*where, "kind"), f"{kind!r} is not a connector kind; known: {valid_kinds}"))
            continue
        system = _validate(KINDS[kind].config_model, body, doc, where, problems)
        if system is not None:
            systems[str(name)] = system
    return systems


def _load_owners(path: Path, problems: list[ConfigProblem], names: set[str]) -> dict[str, Any]:
    try:
        doc = load_yaml(path)
    except ConfigError as exc:
        problems.extend(exc.problems)
        return {}
    data = doc.data
    raw = data.get("owners") if isinstance(data, dict) else None
    if not isinstance(raw, dict) or not raw:
        # Let the model say what is wrong with the file's shape.
        _validate(OwnersFile, data, doc, (), problems)
        return {}
    extra = [k for k in data if k != "owners"]
    if extra:
        problems.append(doc.problem((extra[0],), f"unknown field {extra[0]!r}; valid: owners"))
    owners: dict[str, Any] = {}
    names.update(str(k) for k in raw)
    known = ", ".join(sorted(names))
    # Each owner on its own, so one bad entry does not hide the problems of the others.
    for key, body in raw.items():
        where = ("owners", key)
        if isinstance(body, dict) and body.get("backup") is not None and body["backup"] not in raw:
            problems.append(doc.problem((*where, "backup"), f"{body['backup']!r} is not an owner; known: {known}"))
        elif isinstance(body, dict) and body.get("backup") == key:
            problems.append(doc.problem((*where, "backup"), "an owner cannot be their own backup"))
        owner = _validate(Owner, body, doc, where, problems)
        if owner is not None:
            owners[str(key)] = owner
    return owners


def _load_contracts(
    folder: Path, settings: Settings, problems: list[ConfigProblem]
) -> tuple[dict[str, Contract], dict[str, str], dict[str, YamlDocument]]:
    contracts: dict[str, Contract] = {}
    files: dict[str, str] = {}
    docs: dict[str, YamlDocument] = {}
    if not folder.is_dir():
        problems.append(ConfigProblem(str(folder), None, "contracts", "folder not found"))
        return contracts, files, docs
    paths = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    if not paths:
        problems.append(ConfigProblem(str(folder), None, "contracts", "no contract files (*.yaml)"))
    for path in paths:
        try:
            doc = load_yaml(path)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        data = doc.data
        if not isinstance(data, dict):
            problems.append(doc.problem((), "a contract must be a mapping (contract:, source:, targets:, ...)"))
            continue
        data = _with_defaults(data, settings)
        contract = _validate(Contract, data, doc, (), problems)
        if contract is None:
            continue
        if contract.contract in contracts:
            problems.append(
                doc.problem(("contract",), f"{contract.contract!r} is also defined in {files[contract.contract]}")
            )
            continue
        contracts[contract.contract] = contract
        files[contract.contract] = doc.file
        docs[contract.contract] = doc
    return contracts, files, docs


def _with_defaults(data: dict[str, Any], settings: Settings) -> dict[str, Any]:
    merged = dict(data)
    for section in ("budget", "sampling"):
        defaults = getattr(settings.defaults, section)
        if defaults and isinstance(merged.get(section, {}), dict):
            merged[section] = {**defaults, **merged.get(section, {})}
    return merged


def _cross_check(
    config: Config,
    docs: dict[str, YamlDocument],
    problems: list[ConfigProblem],
    system_names: set[str],
    owner_names: set[str],
) -> None:
    known_systems = ", ".join(sorted(system_names)) or "(none)"
    known_owners = ", ".join(sorted(owner_names)) or "(none)"
    # (system, entity, field) of a target → (source system.entity, contract, doc, path)
    writers: dict[tuple[str, str, str], tuple[str, str, YamlDocument, tuple[str | int, ...]]] = {}
    for name, contract in config.contracts.items():
        doc = docs[name]
        for role in ("owner", "technical_owner"):
            who = getattr(contract, role)
            if who is not None and owner_names and who not in owner_names:
                problems.append(doc.problem((role,), f"{who!r} is not an owner; known: {known_owners}"))
        endpoints: list[tuple[tuple[str | int, ...], Any]] = [(("source",), contract.source)]
        endpoints += [(("targets", i), t) for i, t in enumerate(contract.targets)]
        for where, endpoint in endpoints:
            for field_name in endpoint.fields:
                if field_name not in contract.fields:
                    problems.append(
                        doc.problem(
                            (*where, "fields", field_name),
                            f"renames {field_name!r}, which is not a contract field; fields: "
                            + ", ".join(contract.fields),
                        )
                    )
            system = config.systems.get(endpoint.system)
            if system is None:
                if system_names and endpoint.system not in system_names:
                    problems.append(
                        doc.problem((*where, "system"), f"{endpoint.system!r} is not a system; known: {known_systems}")
                    )
                continue
            entities = getattr(system, "entities", {})
            if endpoint.entity not in entities:
                known = ", ".join(sorted(entities)) or "(none)"
                problems.append(
                    doc.problem(
                        (*where, "entity"),
                        f"{endpoint.entity!r} is not an entity of {endpoint.system}; known: {known}",
                    )
                )
                continue
            declared = entities[endpoint.entity].declared_fields()
            if declared is not None:
                wanted = [endpoint.key, *(endpoint.fields.get(f, f) for f in contract.fields)]
                if endpoint.updated_at:
                    wanted.append(endpoint.updated_at)
                for wanted_field in wanted:
                    if wanted_field not in declared:
                        problems.append(
                            doc.problem(
                                where,
                                f"{endpoint.system}.{endpoint.entity} has no field {wanted_field!r}; "
                                f"declared: {', '.join(sorted(declared))}",
                            )
                        )
        source_id = f"{contract.source.system}.{contract.source.entity}"
        for i, target in enumerate(contract.targets):
            for field_name in contract.fields:
                ident = (target.system, target.entity, target.fields.get(field_name, field_name))
                seen = writers.get(ident)
                if seen is None:
                    writers[ident] = (source_id, name, doc, ("targets", i))
                elif seen[0] != source_id:
                    other_line = seen[2].line_of(seen[3])
                    problems.append(
                        doc.problem(
                            ("targets", i, "system"),
                            f"ownership conflict: {'.'.join(ident)} is synced from {source_id} here and from "
                            f"{seen[0]} in {seen[2].file}:{other_line} (contract {seen[1]}); "
                            "one system of record per field",
                        )
                    )


def _check_routing(config: Config, doc: YamlDocument, problems: list[ConfigProblem], system_names: set[str]) -> None:
    """Maintenance windows name contracts and systems that exist."""
    for i, window in enumerate(config.settings.alerting.maintenance):
        where = ("alerting", "maintenance", i)
        for name in window.contracts:
            if name not in config.contracts:
                known = ", ".join(sorted(config.contracts)) or "(none)"
                problems.append(doc.problem((*where, "contracts"), f"{name!r} is not a contract; known: {known}"))
        for name in window.systems:
            if name not in system_names:
                known = ", ".join(sorted(system_names)) or "(none)"
                problems.append(doc.problem((*where, "systems"), f"{name!r} is not a system; known: {known}"))


def _warnings(config: Config, docs: dict[str, YamlDocument]) -> list[ConfigProblem]:
    warnings = []
    for name, contract in config.contracts.items():
        doc = docs[name]
        stem = Path(doc.file).stem
        if stem != name:
            warnings.append(doc.problem(("contract",), f"contract {name!r} lives in a file named {stem!r}"))
        rate, size = contract.budget.drift, contract.sampling.size
        if 0 < rate < 1 and detection_probability(size, rate) < _CONFIDENCE:
            need = required_sample_size(rate)
            warnings.append(
                doc.problem(
                    ("sampling", "size"),
                    f"a sample of {size} finds a {rate:.2%} drift with only "
                    f"{detection_probability(size, rate):.0%} probability per run; "
                    f"size {need} would reach 95%",
                )
            )
    return warnings

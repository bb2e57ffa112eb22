"""Keys across systems: normalising, mapping source keys to target keys, protecting personal ones.

Personal keys (customer emails) are never stored or shown in clear: the store
keeps a keyed hash (HMAC-SHA256 with the store's own secret, so a dictionary of
known emails cannot be hashed to find them without that secret) and humans see
a mask (``j***@e***.co.uk``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from monitor.config.models import KeyMap, KeyRules

__all__ = ["KeyRulesCompiled", "KeyMapper", "KeyProtector", "mask_email", "mask_key"]


@dataclass(frozen=True)
class KeyRulesCompiled:
    case_fold: bool
    trim: bool

    @classmethod
    def from_rules(cls, rules: KeyRules) -> KeyRulesCompiled:
        return cls(rules.case == "fold", rules.trim)

    def normalise(self, key: str) -> str:
        if self.trim:
            key = key.strip()
        return key.casefold() if self.case_fold else key


class KeyMapper:
    """``{from: "#{n}", to: "SO-{n}"}``: ``#1001`` → ``SO-1001``; None when a key does not fit."""

    def __init__(self, key_map: KeyMap | None) -> None:
        self._map = key_map
        if key_map is None:
            self._pattern = None
            return
        parts = re.split(r"(\{\w+\})", key_map.from_)
        regex = "".join(
            f"(?P<{p[1:-1]}>.+?)" if re.fullmatch(r"\{\w+\}", p) else re.escape(p) for p in parts
        )
        self._pattern = re.compile(f"^{regex}$", re.DOTALL)

    def __call__(self, key: str) -> str | None:
        if self._map is None or self._pattern is None:
            return key
        match = self._pattern.match(key)
        if match is None:
            return None
        return self._map.to.format(**match.groupdict())


class KeyProtector:
    """Stored and displayed forms of a key: clear for SKUs and orders, hashed/masked for personal keys."""

    def __init__(self, personal: bool, secret: bytes) -> None:
        self.personal = personal
        self._secret = secret

    def stored(self, key: str) -> str:
        if not self.personal:
            return key
        digest = hmac.new(self._secret, key.encode("utf-8"), hashlib.sha256).hexdigest()
        return f"h:{digest[:32]}"

    def display(self, key: str) -> str:
        return mask_key(key) if self.personal else key


def mask_email(email: str) -> str:
    """``jo.bloggs@example.co.uk`` → ``j***@e***.co.uk``: enough to tell keys apart in a list, not to mail anyone."""
    local, at, domain = email.partition("@")
    if not at:
        return mask_key(email)
    host, dot, suffix = domain.partition(".")
    masked_host = f"{host[:1]}***" if host else "***"
    return f"{local[:1]}***@{masked_host}{dot}{suffix}"


def mask_key(key: str) -> str:
    if "@" in key:
        return mask_email(key)
    if len(key) <= 2:
        return "***"
    return f"{key[:1]}***{key[-1:]}"

"""Configuration: syncwatch.yaml, rules/owners.yaml and rules/contracts/*.yaml, validated once."""

from monitor.config.loader import (
    Config,
    OwnershipRow,
    detection_probability,
    load_config,
    required_sample_size,
)
from monitor.config.models import (
    Budget,
    Contract,
    Endpoint,
    KeyMap,
    KeyRules,
    Owner,
    Sampling,
    TargetEndpoint,
)

__all__ = [
    "Budget",
    "Config",
    "Contract",
    "Endpoint",
    "KeyMap",
    "KeyRules",
    "Owner",
    "OwnershipRow",
    "Sampling",
    "TargetEndpoint",
    "detection_probability",
    "load_config",
    "required_sample_size",
]

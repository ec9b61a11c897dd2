"""The schema of a config file: the one declaration of every key, its type, range,
default and description. The settings classes take their defaults from here, the
workflow validates a config against it, and the documentation's configuration
reference is generated from it.
"""

from __future__ import annotations

from dataclasses import fields
from functools import cache
from pathlib import Path

import yaml

from ..errors import ConfigError

#: The JSON schema (in YAML) every config is validated against before any job runs.
SCHEMA_FILE = Path(__file__).with_name("schema.yaml")


@cache
def schema() -> dict:
    """The parsed schema (libyaml's parser where PyYAML has it: every job and every parse of the workflow
    reads the schema, and the pure-Python parser takes ten times as long).
    """
    return yaml.load(SCHEMA_FILE.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _frozen(value):
    """A schema value as settings hold it: lists as tuples, recursively (frozen dataclasses hold tuples)."""
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return {k: _frozen(v) for k, v in value.items()}
    return value


def default(key: str):
    """The schema's default of a dotted config key (``training.pgd.steps``; ``[]`` steps into a list's items:
    ``evaluation.attacks.[].steps``), lists as tuples.

    Raises
    ------
    KeyError
        When the schema declares no such key or no default for it (a defect of the package, not of a config).
    """
    spec = schema()
    for part in key.split("."):
        spec = spec["items"] if part == "[]" else spec["properties"][part]
    return _frozen(spec["default"])


def as_tuples(section: dict) -> dict:
    """Lists of a YAML section as tuples (frozen dataclasses hold tuples)."""
    return {key: tuple(value) if isinstance(value, list) else value for key, value in section.items()}


def only_known(cls, section: dict, where: str) -> dict:
    """``section`` restricted to the fields of ``cls``; an unknown key is an error.

    Raises
    ------
    ConfigError
        On a key that is not a field of ``cls``, naming ``where``.
    """
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(section) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; choose from {sorted(names)}")
    return section


def choices(key: str) -> tuple:
    """The values the schema allows for a dotted key (its ``enum``; ``[]`` steps into a list's items)."""
    spec = schema()
    for part in key.split("."):
        spec = spec["items"] if part == "[]" else spec["properties"][part]
    return tuple(spec["enum"])


def default_config() -> dict:
    """The embedded default run's whole config: every key the schema gives a default, nested as in a config
    file (what the workflow's validation fills into a config that leaves keys out).
    """
    return _filled(schema(), {})


def _filled(spec: dict, value):
    """``value`` with the defaults of ``spec``'s missing properties filled in, recursively."""
    if not isinstance(value, dict) or "properties" not in spec:
        return value
    filled = dict(value)
    for name, part in spec["properties"].items():
        if name not in filled and "default" in part:
            filled[name] = part["default"]
        if name in filled:
            filled[name] = _filled(part, filled[name])
    return filled

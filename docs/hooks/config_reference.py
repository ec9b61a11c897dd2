"""MkDocs hook: the configuration reference, generated from the config schema.

The schema (``src/robusttag/config/schema.yaml``) is the one declaration of every
configuration key, its type, its default and its description. On every page whose
Markdown holds the marker ``<!-- config-reference -->`` this hook replaces the marker
with one table per top-level section: one row per key (nested objects and the entries
of lists of objects included), with its type and allowed values, its default and its
description. A key without a description is reported as a warning, so that
``mkdocs build --strict`` fails until it has one.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import yaml

MARKER = "<!-- config-reference -->"
SCHEMA = Path(__file__).resolve().parents[2] / "src/robusttag/config/schema.yaml"
#: Defaults longer than this are shown as a YAML block below the section's table.
INLINE_DEFAULT = 48

log = logging.getLogger("mkdocs.hooks.config_reference")


def on_page_markdown(markdown: str, page, config, files) -> str:
    """The page's Markdown with the marker replaced by the reference tables."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render(load_schema()))


def load_schema(path: Path = SCHEMA) -> dict:
    """The parsed schema.

    Raises
    ------
    RuntimeError
        When the file is missing, is not YAML, or has no top-level ``properties``, naming the file.
    """
    try:
        schema = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise RuntimeError(f"config reference: cannot read the schema {path}: {error}") from error
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        raise RuntimeError(f"config reference: {path} has no top-level 'properties' mapping")
    return schema


def render(schema: dict) -> str:
    """One section per top-level key: a heading, its description, a table of its keys, long defaults."""
    parts = []
    required = set(schema.get("required", ()))
    for name, node in schema["properties"].items():
        rows: list[tuple[str, str, str, str]] = []
        blocks: list[tuple[str, object]] = []
        _walk(name, node, name in required, rows, blocks)
        parts.append(f"### `{name}`\n")
        if node.get("description"):
            parts.append(f"{_sentence(node['description'])}\n")
        parts.append("| key | type and allowed values | default | description |")
        parts.append("|---|---|---|---|")
        parts.extend(f"| {' | '.join(_cell(c) for c in row)} |" for row in rows[1:])  # the section itself: above
        parts.append("")
        for key, value in blocks:
            dumped = yaml.safe_dump(
                {key.rsplit(".", 1)[-1]: value}, sort_keys=False, default_flow_style=None, width=1000
            )
            parts.append(f"Default of `{key}`:\n\n```yaml\n{dumped}```\n")
    return "\n".join(parts)


def _walk(key: str, node: dict, required: bool, rows: list, blocks: list) -> None:
    """Rows for ``node`` at dotted ``key`` and, depth first, for every key below it."""
    if not node.get("description"):
        log.warning("config reference: %s has no description in %s", key, SCHEMA)
    default = _default(key, node, blocks)
    description = node.get("description", "")
    if required:
        description = f"**Required.** {description}"
    rows.append((f"`{key}`", _type(node), default, description))
    children = node.get("properties")
    if children is None and node.get("type") == "array":
        children, key = node.get("items", {}).get("properties"), f"{key}[]"
        required_children = set(node.get("items", {}).get("required", ()))
    else:
        required_children = set(node.get("required", ()))
    for name, child in (children or {}).items():
        _walk(f"{key}.{name}", child, name in required_children, rows, blocks)


def _default(key: str, node: dict, blocks: list) -> str:
    if "default" not in node:
        return "—"
    text = _value(node["default"])
    if len(text) > INLINE_DEFAULT:
        blocks.append((key, node["default"]))
        return "see below"
    return f"`{text}`"


def _value(value) -> str:
    """A default as it would be written in config.yaml (flow style)."""
    if isinstance(value, str):
        return value if value else '""'
    return json.dumps(value).replace('"', "")


def _type(node: dict, plural: bool = False) -> str:
    """The type and allowed values of a node: type, enum, const, bounds, pattern, alternatives, items."""
    for combinator in ("oneOf", "anyOf"):
        if combinator in node:
            return " or ".join(_type(alternative, plural) for alternative in node[combinator])
    if "enum" in node:
        values = ", ".join(f"`{_value(v)}`" for v in node["enum"])
        if len(node["enum"]) == 1:
            return values
        return f"{'values' if plural else 'one'} of {values}"
    if "const" in node:
        return f"`{_value(node['const'])}`"
    kinds = node.get("type", "")
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    bounds = _bounds(node)
    names = [
        _kind(kind, node, plural) + (f" {bounds}" if bounds and kind in ("number", "integer") else "")
        for kind in kinds
        if kind and kind != "null"
    ]
    if "null" in kinds:
        names.append("`null`")
    if len(names) > 1 and "null" in kinds:  # "number > 0, or `null`"
        return ", or ".join(names)
    return " or ".join(names) or "any"


_PLURALS = {"string": "strings", "number": "numbers", "integer": "integers", "boolean": "booleans", "object": "objects"}


def _kind(kind: str, node: dict, plural: bool) -> str:
    if kind == "array":
        items = node.get("items", {})
        inner = "objects" if "properties" in items else _type(items, plural=True)
        size = ""
        if "minItems" in node and node.get("minItems") == node.get("maxItems"):
            size = f"{node['minItems']} "
        elif node.get("minItems"):
            size = f"≥ {node['minItems']} "
        distinct = "distinct " if node.get("uniqueItems") else ""
        return f"{'lists' if plural else 'list'} of {size}{distinct}{inner}"
    if kind == "object" and isinstance(node.get("additionalProperties"), dict):
        return f"map of name to {_type(node['additionalProperties'])}"
    name = _PLURALS.get(kind, kind) if plural else kind
    if kind == "string" and "pattern" in node:
        return f"{name} matching `{node['pattern']}`"
    return name


def _bounds(node: dict) -> str:
    """The numeric bounds of a node, e.g. ``in [0, 1]``, ``> 0``, ``≥ 100``."""
    low = ("[", node["minimum"]) if "minimum" in node else ("(", node.get("exclusiveMinimum"))
    high = ("]", node["maximum"]) if "maximum" in node else (")", node.get("exclusiveMaximum"))
    if low[1] is not None and high[1] is not None:
        return f"in {low[0]}{_value(low[1])}, {_value(high[1])}{high[0]}"
    if low[1] is not None:
        return f"{'≥' if low[0] == '[' else '>'} {_value(low[1])}"
    if high[1] is not None:
        return f"{'≤' if high[0] == ']' else '<'} {_value(high[1])}"
    return ""


def _sentence(text: str) -> str:
    text = " ".join(str(text).split())
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _cell(text: str) -> str:
    """Text fit for a Markdown table cell: one line, pipes escaped outside code spans (the table extension
    leaves a pipe inside backticks alone, and would show an escaped one with its backslash).
    """
    parts = " ".join(str(text).split()).split("`")
    return "`".join(part if i % 2 else part.replace("|", "\\|") for i, part in enumerate(parts))

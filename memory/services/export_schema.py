"""Filling an export's JSON Schema from memories, deterministically (no LLM).

The rules, per property of the schema's `properties` (recursively for objects):
- array (of strings, or of unspecified items): the texts of the memories that mention the
  property, by its name or description words, or by a category of that name
  ("hobbies" collects the memories categorised `hobbies`);
- string: the text of the best matching memory, or null;
- object with properties: filled by the same rules;
- anything else (numbers, booleans, arrays of objects): null or [] (a model would be
  needed to derive them).
A schema without `properties` gets `{"memories": [{id, memory, categories, created_at}]}`,
every matching memory.
"""

import re
from typing import Any

from memory.ingestion.categories import category_keywords, keyword_tokens
from memory.ingestion.facts import DEFAULT_CATEGORIES

MAX_DEPTH = 8
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


def _brief(record: dict[str, Any]) -> dict[str, Any]:
    return {key: record.get(key) for key in ("id", "memory", "categories", "created_at")}


def _property_words(name: str, spec: dict[str, Any]) -> set[str]:
    words = _CAMEL.sub(" ", name)
    description = spec.get("description") if isinstance(spec.get("description"), str) else ""
    found = keyword_tokens(f"{words} {description}")
    # A property named like a built-in category ("hobbies") also takes that category's
    # curated keywords, so "I love knitting" fills it even when tagged otherwise.
    for category, text in DEFAULT_CATEGORIES.items():
        if keyword_tokens(category) & found:
            found |= category_keywords(category, text)
    return found


def _relevance(words: set[str], record: dict[str, Any]) -> int:
    tokens = keyword_tokens(record.get("memory") or "")
    categories = keyword_tokens(" ".join(record.get("categories") or []))
    return len(words & tokens) + 2 * len(words & categories)


def _ranked(words: set[str], records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    scored = [(_relevance(words, record), index, record) for index, record in enumerate(records)]
    return [record for score, _, record in sorted(scored, key=lambda s: (-s[0], s[1])) if score]


def _fill(name: str, spec: Any, records: list[dict[str, Any]], depth: int) -> Any:
    if not isinstance(spec, dict) or depth > MAX_DEPTH:
        return None
    kind = spec.get("type")
    if kind == "object" and isinstance(spec.get("properties"), dict):
        return _fill_object(spec["properties"], records, depth + 1)
    ranked = _ranked(_property_words(name, spec), records)
    if kind == "array":
        items = spec.get("items")
        if isinstance(items, dict) and items.get("type", "string") != "string":
            return []
        return [record["memory"] for record in ranked]
    if kind == "string":
        return ranked[0]["memory"] if ranked else None
    return None


def _fill_object(
    properties: dict[str, Any], records: list[dict[str, Any]], depth: int
) -> dict[str, Any]:
    return {str(name): _fill(str(name), spec, records, depth) for name, spec in properties.items()}


def schema_fill(schema: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties:
        return {"memories": [_brief(record) for record in records]}
    return _fill_object(properties, records, 0)

"""The Mem0 filter grammar (spec §7) compiled to SQL, with a Python residue for what SQL
cannot see (substring matches on encrypted text and metadata).

Every leaf compiles two ways: to a Django Q, and to a predicate over a decrypted record.
When a filter has leaves SQL cannot evaluate, `q` is a superset (those leaves count as
"maybe") and `post` is the exact predicate, applied after decryption.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL

from config.errors import InvalidInput
from memory.records import metadata_pair_hash

Record = dict[str, Any]
Predicate = Callable[[Record], bool]

ENTITY_FIELDS = {"user_id", "agent_id", "app_id", "run_id"}
ENTITY_ALIASES = {"session_id": "run_id"}
DATE_FIELDS = {"created_at": "created_at", "updated_at": "updated_at", "timestamp": "created_at"}
LOGICAL = {"AND", "OR", "NOT"}
IGNORED_KEYS = {"keywords_search"}
MAX_DEPTH = 16
MAX_LEAVES = 200
ALWAYS = Q(pk__isnull=False)
NEVER = Q(pk__isnull=True)


@dataclass(frozen=True)
class Node:
    """A compiled filter: `exact` when SQL decides alone; else `superset`/`subset` bracket
    the truth and `predicate` decides on the decrypted record."""

    superset: Q
    subset: Q
    predicate: Predicate
    exact: bool


@dataclass(frozen=True)
class ParsedFilters:
    q: Q
    post: Predicate | None
    has_entity_scope: bool
    single_user_id: str | None
    entity_equalities: dict[str, str]
    # The filter is nothing but entity_equalities (the common `{"user_id": "alice"}`): the
    # search may then write its own SQL for the scope (retrieval/whole_scope.py).
    equalities_only: bool = False


def sql_node(q: Q, predicate: Predicate) -> Node:
    return Node(superset=q, subset=q, predicate=predicate, exact=True)


def post_node(predicate: Predicate) -> Node:
    return Node(superset=ALWAYS, subset=NEVER, predicate=predicate, exact=False)


def parse_filters(
    project_id: UUID, raw: Any, *, require_scope: bool = True, field_name: str = "filters"
) -> ParsedFilters:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidInput(f"{field_name}: must be a JSON object.")
    compiler = _Compiler(project_id, field_name)
    node = compiler.compile_object(raw, depth=0)
    if require_scope and not compiler.positive_entity:
        raise InvalidInput(
            f"{field_name}: must scope at least one of user_id, agent_id, app_id or run_id "
            "(an id, a list with 'in', or '*' for all)."
        )
    pairs, only_entities = _pinned_entities(raw)
    equalities = dict(pairs)
    return ParsedFilters(
        q=node.superset,
        post=None if node.exact else node.predicate,
        has_entity_scope=compiler.positive_entity,
        single_user_id=equalities.get("user_id"),
        entity_equalities=equalities,
        # Two different ids for one entity match nothing: left to the general SQL.
        equalities_only=bool(equalities)
        and only_entities
        and set(pairs) == set(equalities.items()),
    )


def _pinned_entities(raw: dict[str, Any]) -> tuple[list[tuple[str, str]], bool]:
    """The entity ids pinned by equality at the top level (or inside a top-level AND), in
    order, and whether the filter says nothing else (a plain id or {"eq": id}, no "*")."""
    pairs: list[tuple[str, str]] = []
    only = True
    for key, value in raw.items():
        if key == "AND" and isinstance(value, list):
            for child in value:
                if not isinstance(child, dict):
                    only = False
                    continue
                found, child_only = _pinned_entities(child)
                pairs += found
                only = only and child_only
            continue
        name = ENTITY_ALIASES.get(key, key)
        if name in ENTITY_FIELDS and isinstance(value, str) and value != "*":
            pairs.append((name, value))
        elif name in ENTITY_FIELDS and isinstance(value, dict) and isinstance(value.get("eq"), str):
            pairs.append((name, value["eq"]))
            only = only and set(value) == {"eq"} and value["eq"] != "*"
        else:
            only = False
    return pairs, only


def combine_and(nodes: list[Node]) -> Node:
    if not nodes:
        return sql_node(ALWAYS, lambda record: True)
    superset, subset = nodes[0].superset, nodes[0].subset
    for node in nodes[1:]:
        superset &= node.superset
        subset &= node.subset
    predicates = [node.predicate for node in nodes]
    return Node(
        superset, subset, lambda r: all(p(r) for p in predicates), all(n.exact for n in nodes)
    )


def combine_or(nodes: list[Node]) -> Node:
    superset, subset = nodes[0].superset, nodes[0].subset
    for node in nodes[1:]:
        superset |= node.superset
        subset |= node.subset
    predicates = [node.predicate for node in nodes]
    return Node(
        superset, subset, lambda r: any(p(r) for p in predicates), all(n.exact for n in nodes)
    )


def negate(node: Node) -> Node:
    return Node(~node.subset, ~node.superset, lambda r: not node.predicate(r), node.exact)


class _Compiler:
    def __init__(self, project_id: UUID, field_name: str) -> None:
        self.project_id = project_id
        self.field_name = field_name
        self.positive_entity = False
        self.leaves = 0
        self.negated = 0

    def fail(self, message: str) -> InvalidInput:
        return InvalidInput(f"{self.field_name}: {message}")

    def compile_object(self, raw: dict[str, Any], depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise self.fail(f"nested more than {MAX_DEPTH} levels deep.")
        nodes = [
            self.compile_key(key, value, depth)
            for key, value in raw.items()
            if key not in IGNORED_KEYS
        ]
        return combine_and(nodes)

    def compile_key(self, key: Any, value: Any, depth: int) -> Node:
        if not isinstance(key, str):
            raise self.fail("keys must be strings.")
        if key in LOGICAL:
            return self.compile_logical(key, value, depth)
        self.leaves += 1
        if self.leaves > MAX_LEAVES:
            raise self.fail(f"more than {MAX_LEAVES} conditions.")
        name = ENTITY_ALIASES.get(key, key)
        if name in ENTITY_FIELDS:
            return self.entity(name, value)
        if key in DATE_FIELDS:
            return self.moment(key, DATE_FIELDS[key], value)
        if key == "expiration_date":
            return self.expiration(value)
        if key == "categories":
            return self.categories(value)
        if key == "metadata":
            return self.metadata_object(value)
        if key.startswith("metadata."):
            return self.metadata_key(key.removeprefix("metadata."), value)
        if key in ("keywords", "text"):
            return self.keywords(key, value)
        if key == "memory_ids":
            return self.memory_ids(value)
        allowed = sorted(
            ENTITY_FIELDS
            | set(DATE_FIELDS)
            | LOGICAL
            | {
                "session_id",
                "expiration_date",
                "categories",
                "metadata",
                "metadata.<key>",
                "keywords",
                "text",
                "memory_ids",
            }
        )
        raise self.fail(f"unknown filter key {key!r}; allowed keys: {', '.join(allowed)}.")

    def compile_logical(self, key: str, value: Any, depth: int) -> Node:
        if key == "NOT":
            children = value if isinstance(value, list) else [value]
            if not children or not all(isinstance(child, dict) for child in children):
                raise self.fail("NOT takes a filter object (or a list of them).")
            self.negated += 1
            inner = combine_and([self.compile_object(child, depth + 1) for child in children])
            self.negated -= 1
            return negate(inner)
        if not isinstance(value, list) or not value:
            raise self.fail(f"{key} takes a non-empty list of filter objects.")
        if not all(isinstance(child, dict) for child in value):
            raise self.fail(f"every item of {key} must be a filter object.")
        nodes = [self.compile_object(child, depth + 1) for child in value]
        return combine_and(nodes) if key == "AND" else combine_or(nodes)

    # --- leaves ---------------------------------------------------------------------------

    def entity(self, name: str, value: Any) -> Node:
        operator, operand = self.operator(name, value, {"eq", "ne", "in", "nin"})
        if operator in ("eq", "in") and not self.negated:
            self.positive_entity = True
        if operator == "eq" and operand == "*":
            return sql_node(Q(**{f"{name}__isnull": False}), lambda r: r.get(name) is not None)
        if operator in ("in", "nin"):
            values = self.string_list(name, operand)
            node = sql_node(Q(**{f"{name}__in": values}), lambda r: r.get(name) in values)
            return negate(node) if operator == "nin" else node
        text = self.string(name, operand)
        node = sql_node(Q(**{name: text}), lambda r: r.get(name) == text)
        return negate(node) if operator == "ne" else node

    def moment(self, key: str, column: str, value: Any) -> Node:
        operator, operand = self.operator(key, value, {"gt", "gte", "lt", "lte", "ne", "in"})
        if operator == "in":
            ranges = [self.day_range(key, item) for item in self.list_of(key, operand)]
            return combine_or([self.between(column, start, end) for start, end in ranges])
        start, end = self.day_range(key, operand)
        if operator == "eq":
            return self.between(column, start, end)
        if operator == "ne":
            return negate(self.between(column, start, end))
        lookups = {
            "gt": ("gte", end),
            "gte": ("gte", start),
            "lt": ("lt", start),
            "lte": ("lt", end),
        }
        lookup, bound = lookups[operator]
        compare: Predicate = (
            (lambda r: _moment(r, column) >= bound)
            if lookup == "gte"
            else (lambda r: _moment(r, column) < bound)
        )
        return sql_node(Q(**{f"{column}__{lookup}": bound}), compare)

    def between(self, column: str, start: datetime, end: datetime) -> Node:
        return sql_node(
            Q(**{f"{column}__gte": start, f"{column}__lt": end}),
            lambda r: start <= _moment(r, column) < end,
        )

    def expiration(self, value: Any) -> Node:
        operator, operand = self.operator(
            "expiration_date", value, {"gt", "gte", "lt", "lte", "ne"}
        )
        if operand is None:
            node = sql_node(Q(expiration_date__isnull=True), lambda r: r["expiration_date"] is None)
            return negate(node) if operator == "ne" else node
        day = self.day_range("expiration_date", operand)[0].date()
        lookup = {"eq": "exact", "ne": "exact", "gt": "gt", "gte": "gte", "lt": "lt", "lte": "lte"}
        node = sql_node(
            Q(**{f"expiration_date__{lookup[operator]}": day}),
            lambda r: _compare_date(r.get("expiration_date"), operator, day),
        )
        return negate(node) if operator == "ne" else node

    def categories(self, value: Any) -> Node:
        if isinstance(value, str | list):
            value = {"in": [value] if isinstance(value, str) else value}
        operator, operand = self.operator("categories", value, {"in", "contains", "icontains"})
        if operator == "in":
            wanted = self.string_list("categories", operand)
            return sql_node(
                Q(categories__overlap=wanted),
                lambda r: bool(set(r.get("categories") or []) & set(wanted)),
            )
        if operator == "eq":
            raise self.fail("categories takes 'in' (a list) or 'contains' (a substring).")
        needle = self.string("categories", operand).casefold()
        expression = RawSQL(
            "EXISTS (SELECT 1 FROM unnest(memory_memory.categories) AS c WHERE c ILIKE %s)",
            [f"%{_like_escape(needle)}%"],
            output_field=BooleanField(),
        )
        return sql_node(
            Q(expression), lambda r: any(needle in c.casefold() for c in r.get("categories") or [])
        )

    def metadata_object(self, value: Any) -> Node:
        if not isinstance(value, dict) or not value:
            raise self.fail("metadata takes an object of key: value conditions.")
        return combine_and([self.metadata_key(str(key), item) for key, item in value.items()])

    def metadata_key(self, key: str, value: Any) -> Node:
        if not key:
            raise self.fail("metadata keys must not be empty.")
        operator, operand = self.operator(
            f"metadata.{key}", value, {"ne", "in", "contains", "icontains"}
        )
        if operator in ("contains", "icontains"):
            needle = self.string(f"metadata.{key}", operand)
            return post_node(lambda r: _metadata_contains(r, key, needle, operator == "icontains"))
        if operator == "in":
            options = self.list_of(f"metadata.{key}", operand)
            return combine_or([self.metadata_equal(key, option) for option in options])
        node = self.metadata_equal(key, operand)
        return negate(node) if operator == "ne" else node

    def metadata_equal(self, key: str, operand: Any) -> Node:
        digest = metadata_pair_hash(self.project_id, key, operand)
        return sql_node(
            Q(metadata_hashes__contains=[digest]),
            lambda r: (r.get("metadata") or {}).get(key, _MISSING) == operand,
        )

    def keywords(self, key: str, value: Any) -> Node:
        if isinstance(value, str):
            value = {"icontains": value}
        operator, operand = self.operator(key, value, {"contains", "icontains"})
        if operator == "eq":
            raise self.fail(f"{key} takes 'contains' or 'icontains'.")
        needle = self.string(key, operand)
        if operator == "icontains":
            folded = needle.casefold()
            return post_node(lambda r: folded in (r.get("memory") or "").casefold())
        return post_node(lambda r: needle in (r.get("memory") or ""))

    def memory_ids(self, value: Any) -> Node:
        if isinstance(value, dict):
            _, value = self.operator("memory_ids", value, {"in"})
        ids = []
        for item in self.list_of("memory_ids", value):
            try:
                ids.append(UUID(str(item)))
            except ValueError as exc:
                raise self.fail(f"memory_ids: {item!r} is not a memory id.") from exc
        wanted = {str(item) for item in ids}
        return sql_node(Q(id__in=ids), lambda r: r.get("id") in wanted)

    # --- operand helpers ------------------------------------------------------------------

    def operator(self, key: str, value: Any, allowed: set[str]) -> tuple[str, Any]:
        if not isinstance(value, dict):
            return "eq", value
        if len(value) != 1:
            raise self.fail(f'{key}: give exactly one operator, e.g. {{"in": [...]}}.')
        operator, operand = next(iter(value.items()))
        if operator not in allowed | {"eq"}:
            raise self.fail(
                f"{key}: unknown operator {operator!r}; allowed: {', '.join(sorted(allowed))}."
            )
        return operator, operand

    def string(self, key: str, value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(f"{key}: expected a string, got {type(value).__name__}.")
        text = str(value)
        if not text.strip():
            raise self.fail(f"{key}: must not be empty.")
        return text

    def list_of(self, key: str, value: Any) -> list[Any]:
        if not isinstance(value, list) or not value:
            raise self.fail(f"{key}: 'in' takes a non-empty list.")
        if len(value) > 1000:
            raise self.fail(f"{key}: at most 1000 values.")
        return value

    def string_list(self, key: str, value: Any) -> list[str]:
        return [self.string(key, item) for item in self.list_of(key, value)]

    def day_range(self, key: str, value: Any) -> tuple[datetime, datetime]:
        """A date means the whole UTC day; a datetime or epoch means that instant."""
        try:
            return parse_moment(value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise self.fail(
                f"{key}: {value!r} is not an ISO date, ISO datetime or Unix timestamp."
            ) from exc


_MISSING = object()


def parse_moment(value: Any) -> tuple[datetime, datetime]:
    if isinstance(value, bool):
        raise TypeError("booleans are not dates")
    if isinstance(value, int | float):
        moment = datetime.fromtimestamp(float(value), UTC)
        return moment, moment + timedelta(microseconds=1)
    if not isinstance(value, str):
        raise TypeError("expected a string")
    text = value.strip()
    if len(text) == 10:
        day = date.fromisoformat(text)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return start, start + timedelta(days=1)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment, moment + timedelta(microseconds=1)


def _moment(record: Record, column: str) -> datetime:
    value = record.get(column)
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _compare_date(value: Any, operator: str, day: date) -> bool:
    if value is None:
        return operator == "ne"
    current = value if isinstance(value, date) else date.fromisoformat(str(value))
    return {
        "eq": current == day,
        "ne": current != day,
        "gt": current > day,
        "gte": current >= day,
        "lt": current < day,
        "lte": current <= day,
    }[operator]


def _metadata_contains(record: Record, key: str, needle: str, fold: bool) -> bool:
    value = (record.get("metadata") or {}).get(key)
    if value is None:
        return False
    haystack = value if isinstance(value, str) else str(value)
    return needle.casefold() in haystack.casefold() if fold else needle in haystack


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

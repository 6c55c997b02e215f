"""The endpoints of the 1.x `mem0ai` client (spec §10): v1 add, v1/v2 search, v1/v2 list.

They answer with the shapes 1.x expects: bare arrays unless the call asked for the
`v1.1` envelope or for a page. `org_id`/`project_id` fields of 1.x are ignored (the key
decides the project).
"""

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response

from memory.api.add import AddInput, memory_add
from memory.api.common import MemoryApiView, pagination
from memory.api.output import page_links
from memory.api.search import SearchApiView, list_page, search_records
from memory.filters import ENTITY_FIELDS
from memory.selectors.memories import Visibility, memories_page

V2_SEARCH_THRESHOLD = 0.3


def _top_level_ids(source: dict[str, Any]) -> list[dict[str, Any]]:
    """1.x sent entity ids next to the other fields; they narrow like filter equalities."""
    clauses = []
    for name in sorted(ENTITY_FIELDS):
        value = source.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            clauses.append({name: str(value).strip()})
    return clauses


def legacy_add(view: MemoryApiView, request: Request) -> Any:
    """POST /v1/memories/."""
    body = view.body(request)
    result = memory_add(view, request, view.parse(AddInput, body))
    if "results" in result and result.get("status") == "SUCCEEDED":
        results = result["results"]
    else:
        results = [{k: result[k] for k in ("message", "status", "event_id") if k in result}]
    if body.get("output_format") == "v1.1" and body.get("version") == "v2":
        return {"results": results, "relations": []}
    return results


def legacy_list_by_query(view: MemoryApiView, request: Request) -> Any:
    """GET /v1/memories/?user_id=...: the oldest list, filters in the query string."""
    query = view.query(request)
    clauses = _top_level_ids(query)
    filters = view.filters({"AND": clauses} if clauses else {})
    paged = "page" in query or "page_size" in query
    page, page_size = pagination(query, {}, default_size=100 if paged else 200)
    result = memories_page(
        project=view.project,
        filters=filters,
        page=page,
        page_size=page_size,
        visibility=Visibility(),
    )
    if not paged:
        return result.records
    return {
        "count": result.count,
        **page_links(request, page, page_size, result.count),
        "results": result.records,
    }


class LegacySearchV1Api(SearchApiView):
    """POST /v1/memories/search/: entity ids at the top level; a bare array back."""

    required_scopes = {"POST": "read"}

    def post(self, request: Request) -> Response:
        body = self.body(request)
        return Response(search_records(self, body, extra_filters=_top_level_ids(body)))


class LegacySearchV2Api(SearchApiView):
    """POST /v2/memories/search/ (1.x `search(version="v2")`): threshold defaults to 0.3."""

    required_scopes = {"POST": "read"}

    def post(self, request: Request) -> Response:
        body = self.body(request)
        records = search_records(
            self, body, default_threshold=V2_SEARCH_THRESHOLD, extra_filters=_top_level_ids(body)
        )
        return Response(records)


class LegacyListV2Api(MemoryApiView):
    """POST /v2/memories/: a bare array, or the page envelope when page and page_size are
    both in the query (as 1.x sends them)."""

    required_scopes = {"POST": "read"}

    def post(self, request: Request) -> Response:
        body = self.body(request)
        extra = _top_level_ids(body)
        if extra:
            own = [body["filters"]] if isinstance(body.get("filters"), dict) else []
            body = {**body, "filters": {"AND": own + extra}}
        query = self.query(request)
        paged = "page" in query and "page_size" in query
        result = list_page(self, request, body)
        return Response(result if paged else result["results"])

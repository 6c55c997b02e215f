"""`POST /v3/memories/search/` (spec §4.3) and `POST /v3/memories/` (the paginated list,
spec §4.4). Both take the filter grammar of spec §7 and must be scoped to an entity."""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse
from rest_framework import serializers
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response

from config.errors import EngramError
from memory.api.common import MemoryApiView, flag_field, object_field, pagination
from memory.api.output import page_links
from memory.filters import ParsedFilters
from memory.records import memory_record, select_fields
from memory.retrieval.engine import QueryEmbedding, start_query_embedding
from memory.selectors.memories import Visibility, memories_page
from tenants.authentication import presents_recently_authenticated_key

MAX_QUERY_CHARS = 10_000
# Bodies up to this size are read ahead of authentication to start the query's embedding.
EARLY_BODY_MAX_BYTES = 64 * 1024


def fields_field() -> serializers.ListField:
    return serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        allow_null=True,
        max_length=100,
    )


class SearchInput(serializers.Serializer):
    query = serializers.CharField(max_length=MAX_QUERY_CHARS, trim_whitespace=True)
    filters = object_field()
    top_k = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=1000)
    threshold = serializers.FloatField(
        required=False, allow_null=True, min_value=0.0, max_value=1.0
    )
    # DRF's metaclass takes declared fields off the class, so `fields` names a field here.
    fields = fields_field()  # type: ignore[assignment]


@dataclass(frozen=True)
class EarlyEmbedding:
    query: str
    pending: QueryEmbedding


class SearchApiView(MemoryApiView):
    """Base of the search endpoints.

    Embedding the query is the costliest CPU step of a search and needs nothing from the
    database or the tenant. When the request presents a key id that this process accepted
    lately, EarlyQueryEmbeddingMiddleware starts the embedding as the request arrives, so it
    overlaps the middleware, authentication, quota and permission checks instead of
    following them. Anything else waits for authentication, so a caller without a working
    key cannot make the server embed text."""

    early_embedding: EarlyEmbedding | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if hasattr(request._request, "early_embedding"):  # the middleware tried already
            self.early_embedding = request._request.early_embedding
        else:
            self.early_embedding = _early_embedding(request)
        super().initial(request, *args, **kwargs)


_SEARCH_PATH = re.compile(r"^/+v[123]/memories/search/?$")


class EarlyQueryEmbeddingMiddleware:
    """Starts a search's query embedding before the rest of the middleware runs (see
    SearchApiView); first in settings.MIDDLEWARE but for the metrics."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and _SEARCH_PATH.match(request.path_info):
            request.early_embedding = _early_embedding(request)  # type: ignore[attr-defined]
        return self.get_response(request)


def _early_embedding(request: HttpRequest | Request) -> EarlyEmbedding | None:
    from memory.retrieval import search_options_from_request

    length = request.META.get("CONTENT_LENGTH") or ""
    if not length.isdigit() or int(length) > EARLY_BODY_MAX_BYTES:
        return None
    if not presents_recently_authenticated_key(request):
        return None
    try:
        body = json.loads(request.body)
        query = body.get("query") if isinstance(body, dict) else None
        if not isinstance(query, str) or len(query) > MAX_QUERY_CHARS:
            return None
        pending = start_query_embedding(query, search_options_from_request(body))
    except (ValueError, TypeError, RecursionError, APIException, EngramError):
        return None  # the request's own validation reports it, after authentication
    return EarlyEmbedding(query, pending) if pending is not None else None


def search_records(
    view: MemoryApiView,
    body: dict[str, Any],
    *,
    default_threshold: float = 0.1,
    extra_filters: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Parse a search body, run the retrieval engine, render scored Mem0 records."""
    from memory.retrieval import search_memories, search_options_from_request

    options = search_options_from_request(body)
    raw_query = body.get("query")
    started = getattr(view, "early_embedding", None)
    if started is not None and started.query == raw_query:
        early: QueryEmbedding | None = started.pending
    elif isinstance(raw_query, str) and len(raw_query) <= MAX_QUERY_CHARS:
        # Before the rest of the body is validated (a bad body only wastes it); the request
        # is authenticated by now.
        early = start_query_embedding(raw_query, options)
    else:
        early = None
    data = view.parse(SearchInput, body)
    raw = data.get("filters") or {}
    if extra_filters:
        raw = {"AND": [raw, *extra_filters]} if raw else {"AND": extra_filters}
    filters = view.filters(raw)
    hits = search_memories(
        project_id=view.project.id,
        query=data["query"],
        filters=filters,
        top_k=data.get("top_k") or 10,
        threshold=default_threshold if data.get("threshold") is None else data["threshold"],
        options=options,
        query_embedding=early,
    )
    fields = data.get("fields")
    return [select_fields(_scored_record(hit), fields) for hit in hits]


def _scored_record(hit: Any) -> dict[str, Any]:
    record = memory_record(hit.memory, text=hit.text)
    record["score"] = round(float(hit.score), 6)
    if getattr(hit, "score_breakdown", None):
        record["score_breakdown"] = hit.score_breakdown
    return record


class MemorySearchApi(SearchApiView):
    """Mem0 `client.search(query, filters=..., top_k=..., threshold=...)`."""

    required_scopes = {"POST": "read"}

    def post(self, request: Request) -> Response:
        return Response({"results": search_records(self, self.body(request))})


class ListInput(serializers.Serializer):
    filters = object_field()
    show_expired = flag_field(False)
    latest_only = flag_field(True)
    start_date = serializers.CharField(required=False, allow_null=True, max_length=64)
    end_date = serializers.CharField(required=False, allow_null=True, max_length=64)
    categories = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        allow_null=True,
        max_length=200,
    )
    keywords = serializers.CharField(required=False, allow_null=True, max_length=1000)
    metadata = object_field()
    # DRF's metaclass takes declared fields off the class, so `fields` names a field here.
    fields = fields_field()  # type: ignore[assignment]


def list_filters(view: MemoryApiView, data: dict[str, Any]) -> ParsedFilters:
    """The body's `filters` ANDed with the list's own conveniences (dates, tags, text)."""
    clauses: list[dict[str, Any]] = [data["filters"]] if data.get("filters") else []
    if data.get("start_date"):
        clauses.append({"created_at": {"gte": data["start_date"]}})
    if data.get("end_date"):
        clauses.append({"created_at": {"lte": data["end_date"]}})
    if data.get("categories"):
        clauses.append({"categories": {"in": data["categories"]}})
    if data.get("keywords"):
        clauses.append({"keywords": {"icontains": data["keywords"]}})
    if data.get("metadata"):
        clauses.append({"metadata": data["metadata"]})
    return view.filters({"AND": clauses} if clauses else {})


def list_page(view: MemoryApiView, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    data = view.parse(ListInput, body)
    page, page_size = pagination(view.query(request), body)
    filters = list_filters(view, data)
    visibility = Visibility(
        show_expired=bool(data.get("show_expired")),
        latest_only=data.get("latest_only") is not False,
    )
    result = memories_page(
        project=view.project,
        filters=filters,
        page=page,
        page_size=page_size,
        visibility=visibility,
    )
    fields = data.get("fields")
    return {
        "count": result.count,
        **page_links(request, page, page_size, result.count),
        "results": [select_fields(record, fields) for record in result.records],
    }


class MemoryListApi(MemoryApiView):
    """Mem0 `client.get_all(filters=..., page=..., page_size=...)`."""

    required_scopes = {"POST": "read"}

    def post(self, request: Request) -> Response:
        return Response(list_page(self, request, self.body(request)))

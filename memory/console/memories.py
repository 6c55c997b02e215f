"""Memories in the console: a directory of users, agents and sessions; the memories of one
of them (or all), filtered or searched with the API's retrieval engine; one memory's detail
with its history. Every page that shows decrypted text is audited."""

import time
from dataclasses import dataclass
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from config.errors import InvalidInput
from config.metrics import record_request
from memory.console.selectors import (
    memories_for_staff,
    memory_detail_for_staff,
    scope_counts,
    scope_directory,
)
from memory.filters import ParsedFilters, parse_filters
from memory.selectors.memories import Visibility
from tenants.console.access import Access, console_access, console_view
from tenants.console.forms import ConsoleForm
from tenants.console.pages import page_number, query_without_page, render_page
from tenants.models import Project

PAGE_SIZE = 25
DIRECTORY_KINDS = {"users": "user", "agents": "agent", "sessions": "run"}


class MemoryFilterForm(ConsoleForm):
    q = forms.CharField(label="Search", required=False, max_length=1000)
    user_id = forms.CharField(label="User id", required=False, max_length=255)
    agent_id = forms.CharField(label="Agent id", required=False, max_length=255)
    run_id = forms.CharField(label="Session (run) id", required=False, max_length=255)
    category = forms.CharField(label="Category", required=False, max_length=100)
    since = forms.DateField(
        label="Created from", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="Created until", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    superseded = forms.BooleanField(label="Include superseded versions", required=False)
    all = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def scoped(self) -> bool:
        data = self.cleaned_data
        return any(data.get(name) for name in ("q", "user_id", "agent_id", "run_id", "all"))

    def raw_filters(self) -> dict[str, Any]:
        data = self.cleaned_data
        raw: dict[str, Any] = {
            name: data[name] for name in ("user_id", "agent_id", "run_id") if data.get(name)
        }
        if data.get("category"):
            raw["categories"] = {"in": [data["category"]]}
        dates = {}
        if data.get("since"):
            dates["gte"] = data["since"].isoformat()
        if data.get("until"):
            dates["lte"] = data["until"].isoformat()
        if dates:
            raw["created_at"] = dates
        return raw


@dataclass(frozen=True)
class Directory:
    kind: str
    tab: str
    rows: list[Any]
    counts: dict[str, int]
    find: str


def _directory(request: HttpRequest, project: Project) -> Directory:
    tab = request.GET.get("view", "users")
    tab = tab if tab in DIRECTORY_KINDS else "users"
    find = request.GET.get("find", "").strip()[:255]
    kind = DIRECTORY_KINDS[tab]
    rows = scope_directory(project=project, kind=kind, starts_with=find)
    return Directory(kind, tab, rows, scope_counts(project=project), find)


def _listing(access: Access, form: MemoryFilterForm, request: HttpRequest) -> dict[str, Any]:
    project = access.current_project
    try:
        filters: ParsedFilters = parse_filters(project.id, form.raw_filters(), require_scope=False)
    except InvalidInput as exc:
        return {"filter_error": exc.message}
    query = form.cleaned_data.get("q") or ""
    started = time.perf_counter()
    listing = memories_for_staff(
        project=project,
        filters=filters,
        page=page_number(request),
        page_size=PAGE_SIZE,
        visibility=Visibility(latest_only=not form.cleaned_data.get("superseded")),
        query=query,
        actor=access.actor,
    )
    if query:
        record_request(project.id, "console search", (time.perf_counter() - started) * 1000)
    page = page_number(request)
    return {
        "listing": listing,
        "page": page,
        "has_next": not listing.searched and page * PAGE_SIZE < listing.count,
        "has_previous": page > 1,
        "query_string": query_without_page(request.GET),
    }


@console_view
@require_GET
def memories_view(request: HttpRequest, project_id: str) -> HttpResponse:
    access = console_access(request, project_id)
    form = MemoryFilterForm(request.GET)
    context: dict[str, Any] = {"form": form}
    if form.is_valid() and form.scoped():
        context.update(_listing(access, form, request))
    else:
        context["directory"] = _directory(request, access.current_project)
    return render_page(request, "memory/memories.html", access, context, section="memories")


@console_view
@require_GET
def memory_detail_view(request: HttpRequest, project_id: str, memory_id: str) -> HttpResponse:
    access = console_access(request, project_id)
    detail = memory_detail_for_staff(
        project=access.current_project, memory_id=memory_id, actor=access.actor
    )
    context = {"detail": detail, "record": detail.record}
    return render_page(request, "memory/memory_detail.html", access, context, section="memories")

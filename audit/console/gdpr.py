"""GDPR data-subject requests in the console: create an export or an erasure for a user,
agent or session; follow its progress; download the export; read the proof of erasure."""

import json
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from audit.gdpr import gdpr_export_read, gdpr_request_create
from audit.gdpr.download import export_available
from audit.models import AuditEvent, DataSubjectRequest, SubjectType
from audit.selectors import audit_events_filter, dsr_is_overdue, gdpr_request_get, gdpr_request_list
from config.errors import InvalidInput
from tenants.console.access import Access, console_access, console_view
from tenants.console.forms import ConsoleForm, add_domain_error
from tenants.console.pages import render_page, render_partial

Kind = DataSubjectRequest.Kind
SUBJECT_LABELS = {SubjectType.USER: "User", SubjectType.AGENT: "Agent", SubjectType.RUN: "Session"}
OPEN = {DataSubjectRequest.Status.RECEIVED, DataSubjectRequest.Status.RUNNING}


class GdprRequestForm(ConsoleForm):
    kind = forms.ChoiceField(
        label="Request",
        choices=[(Kind.EXPORT, "Export (access, Art. 15/20)"), (Kind.ERASURE, "Erasure (Art. 17)")],
        widget=forms.RadioSelect,
        initial=Kind.EXPORT,
    )
    subject_type = forms.ChoiceField(label="Subject", choices=list(SUBJECT_LABELS.items()))
    subject_id = forms.CharField(
        label="Subject id",
        max_length=255,
        strip=False,
        help_text="Exactly as your application sends it to the API.",
    )
    confirm = forms.BooleanField(
        label="I understand that an erasure permanently deletes everything held about this "
        "subject and cannot be undone.",
        required=False,
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("kind") == Kind.ERASURE and not data.get("confirm"):
            self.add_error("confirm", "Tick the box to confirm the erasure.")
        return data


@dataclass(frozen=True)
class RequestRow:
    request: DataSubjectRequest
    overdue: bool
    days_left: int
    is_open: bool


def request_row(item: DataSubjectRequest) -> RequestRow:
    days_left = (item.due_at - timezone.now()).days
    return RequestRow(item, dsr_is_overdue(item), days_left, item.status in OPEN)


def _create(access: Access, form: GdprRequestForm) -> DataSubjectRequest:
    data = form.cleaned_data
    access.require("erase" if data["kind"] == Kind.ERASURE else "export")
    return gdpr_request_create(
        project=access.current_project,
        kind=data["kind"],
        subject_type=data["subject_type"],
        subject_id=data["subject_id"],
        actor=access.actor,
    )


@console_view
@require_http_methods(["GET", "POST"])
def gdpr_view(request: HttpRequest, project_id: str) -> HttpResponse:
    access = console_access(request, project_id)
    form = GdprRequestForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if not (access.can("export") or access.can("erase")):
            access.require("export")
        if form.is_valid():
            try:
                item = _create(access, form)
            except InvalidInput as exc:
                add_domain_error(form, exc)
            else:
                messages.success(request, f"{item.get_kind_display()} request received.")
                return redirect("console:gdpr-request", project_id=project_id, request_id=item.id)
    show = request.GET.get("show", "")
    items = gdpr_request_list(project=access.current_project, overdue_only=show == "overdue")
    rows = [request_row(item) for item in items]
    if show == "open":
        rows = [row for row in rows if row.is_open]
    context = {
        "form": form,
        "rows": rows,
        "show": show,
        "overdue_count": sum(1 for row in rows if row.overdue and row.is_open),
    }
    return render_page(request, "audit/gdpr.html", access, context, section="gdpr")


def _request_events(access: Access, item: DataSubjectRequest) -> list[AuditEvent]:
    events = audit_events_filter(
        project=access.current_project, target=f"gdpr_request:{item.id}", limit=50
    )
    return list(reversed(events))


def _proof(events: list[AuditEvent]) -> AuditEvent | None:
    return next((e for e in events if e.action == "gdpr.erasure_completed"), None)


def flat_counts(counts: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """{"rows": {"memory_memory": 3}} -> [("rows.memory_memory", 3)], for a table."""
    rows: list[tuple[str, Any]] = []
    for key, value in counts.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            rows.extend(flat_counts(value, name))
        else:
            rows.append((name, value))
    return rows


def _remaining_total(proof: AuditEvent | None) -> int | None:
    remaining = proof.extra.get("remaining") if proof else None
    if not isinstance(remaining, dict):
        return None
    return sum(value for _, value in flat_counts(remaining) if isinstance(value, int))


@console_view
@require_GET
def gdpr_request_view(request: HttpRequest, project_id: str, request_id: str) -> HttpResponse:
    access = console_access(request, project_id)
    item = gdpr_request_get(project=access.current_project, request_id=request_id)
    events = _request_events(access, item)
    proof = _proof(events)
    context = {
        "row": request_row(item),
        "item": item,
        "events": events,
        "proof": proof,
        "proof_json": json.dumps(proof.extra, indent=2) if proof else "",
        "remaining_total": _remaining_total(proof),
        "downloadable": export_available(item),
        "counts": flat_counts(item.counts or {}),
    }
    if request.GET.get("partial") == "detail":
        partial = {**context, "perms": access.perms, "project": access.project}
        return render_partial(request, "audit/_gdpr_detail.html", partial)
    return render_page(request, "audit/gdpr_request.html", access, context, section="gdpr")


@console_view
@require_GET
def gdpr_download_view(request: HttpRequest, project_id: str, request_id: str) -> HttpResponse:
    """The export file, decrypted for a staff member allowed to export (audited)."""
    access = console_access(request, project_id, need="export")
    document = gdpr_export_read(
        project=access.current_project, request_id=request_id, actor=access.actor
    )
    payload = json.dumps(document, ensure_ascii=False, indent=1)
    response = HttpResponse(payload, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="engram-export-{request_id}.json"'
    return response

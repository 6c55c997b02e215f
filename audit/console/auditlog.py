"""The audit log in the console: filter a project's events, verify its chain (and the
signed checkpoints), export a range as JSONL; the organization's own chain (sign-ins,
memberships) with its verification."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.checkpoints import CheckpointVerdict, checkpoint_verify
from audit.models import AuditEvent
from audit.selectors import audit_checkpoints_latest, audit_events_filter, audit_export_jsonl
from audit.services import Actor, audit_record
from audit.verification import ChainVerdict, chain_verify
from tenants.console.access import Access, console_access, console_view, org_access
from tenants.console.forms import ConsoleForm
from tenants.console.pages import is_htmx, render_page, render_partial
from tenants.context import organization_context, tenant_context
from tenants.models import Organization, Project

EVENT_LIMIT = 200


class AuditFilterForm(ConsoleForm):
    actor = forms.CharField(
        label="Actor",
        required=False,
        max_length=200,
        help_text='"staff:alice@example.com", "api_key:eng_…" or a type',
    )
    action = forms.CharField(
        label="Action",
        required=False,
        max_length=64,
        help_text='Exact, or a prefix ending in "." such as "gdpr."',
    )
    target = forms.CharField(
        label="Target",
        required=False,
        max_length=200,
        help_text='"memory:ID", "api_key:eng_…" or a type',
    )
    since = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="Until (inclusive)", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


def day_start(day: date | None) -> datetime | None:
    return datetime.combine(day, time.min, tzinfo=UTC) if day else None


def day_end(day: date | None) -> datetime | None:
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC) if day else None


@dataclass(frozen=True)
class Verification:
    chain: ChainVerdict
    checkpoints: CheckpointVerdict

    @property
    def ok(self) -> bool:
        return self.chain.ok and self.checkpoints.ok


def project_chain_verify(*, project: Project, actor: Actor) -> Verification:
    """Recompute the chain and check its signed checkpoints; the check is itself audited."""
    with tenant_context(project.id, project.organization_id):
        result = Verification(chain_verify(project.id), checkpoint_verify(project.id))
        audit_record(
            org_id=project.organization_id,
            project_id=project.id,
            actor=actor,
            action="audit.chain_verified",
            target_type="audit_chain",
            target_id=str(project.id),
            extra={"ok": result.ok, "events_checked": result.chain.events_checked},
        )
    return result


def _event_rows(events: list[AuditEvent]) -> list[dict[str, Any]]:
    return [{"event": event, "extra": _compact(event.extra)} for event in events]


def _compact(extra: dict[str, Any]) -> str:
    parts = []
    for key, value in sorted(extra.items()):
        text = str(value)
        parts.append(f"{key}={text if len(text) <= 80 else text[:77] + '…'}")
    return ", ".join(parts)


@console_view
@require_GET
def audit_view(request: HttpRequest, project_id: str) -> HttpResponse:
    access = console_access(request, project_id)
    project = access.current_project
    form = AuditFilterForm(request.GET)
    events: list[AuditEvent] = []
    if form.is_valid():
        data = form.cleaned_data
        events = audit_events_filter(
            project=project,
            actor=data["actor"] or None,
            action=data["action"] or None,
            target=data["target"] or None,
            since=day_start(data["since"]),
            until=day_end(data["until"]),
            limit=EVENT_LIMIT,
        )
    context = {
        "form": form,
        "rows": _event_rows(events),
        "limit": EVENT_LIMIT,
        "checkpoints": audit_checkpoints_latest(project=project, limit=5),
        "export_query": request.GET.urlencode(),
    }
    return render_page(request, "audit/audit_log.html", access, context, section="audit")


@console_view
@require_http_methods(["GET", "POST"])
def audit_verify_view(request: HttpRequest, project_id: str) -> HttpResponse:
    access = console_access(request, project_id)
    if request.method == "GET":
        return render_page(request, "audit/audit_verify.html", access, {}, section="audit")
    result = project_chain_verify(project=access.current_project, actor=access.actor)
    if is_htmx(request):
        return render_partial(request, "audit/_verify_result.html", {"result": result})
    context = {"result": result}
    return render_page(request, "audit/audit_verify.html", access, context, section="audit")


def _export_audited(access: Access, since: datetime | None, until: datetime | None) -> None:
    project = access.current_project
    with tenant_context(project.id, project.organization_id):
        audit_record(
            org_id=project.organization_id,
            project_id=project.id,
            actor=access.actor,
            action="audit.exported",
            target_type="audit_chain",
            target_id=str(project.id),
            extra={
                "since": since.isoformat() if since else None,
                "until": until.isoformat() if until else None,
            },
        )


@console_view
@require_GET
def audit_export_view(request: HttpRequest, project_id: str) -> StreamingHttpResponse:
    """The range as JSONL in chain order (each line keeps its hashes, so it verifies
    offline). Streams in chunks, each read in its own tenant transaction."""
    access = console_access(request, project_id, need="export")
    form = AuditFilterForm(request.GET)
    data = form.cleaned_data if form.is_valid() else {}
    since, until = day_start(data.get("since")), day_end(data.get("until"))
    _export_audited(access, since, until)
    lines = audit_export_jsonl(project=access.current_project, since=since, until=until)
    response = StreamingHttpResponse(lines, content_type="application/x-ndjson")
    name = f"engram-audit-{access.current_project.id}.jsonl"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# --- the organization's chain ---------------------------------------------------------------


def org_events(*, organization: Organization, limit: int = EVENT_LIMIT) -> list[AuditEvent]:
    with organization_context(organization.id):
        return list(
            AuditEvent.objects.filter(chain_id=organization.id, org_id=organization.id).order_by(
                "-seq"
            )[:limit]
        )


def org_chain_verify(*, organization: Organization) -> Verification:
    with organization_context(organization.id):
        return Verification(chain_verify(organization.id), checkpoint_verify(organization.id))


@console_view
@require_GET
def org_audit_view(request: HttpRequest, org_id: str) -> HttpResponse:
    access = org_access(request, org_id)
    context = {
        "rows": _event_rows(org_events(organization=access.organization)),
        "limit": EVENT_LIMIT,
    }
    return render_page(request, "audit/org_audit.html", access, context, section="org-audit")


@console_view
@require_POST
def org_audit_verify_view(request: HttpRequest, org_id: str) -> HttpResponse:
    access = org_access(request, org_id)
    result = org_chain_verify(organization=access.organization)
    if is_htmx(request):
        return render_partial(request, "audit/_verify_result.html", {"result": result})
    context = {
        "rows": _event_rows(org_events(organization=access.organization)),
        "limit": EVENT_LIMIT,
        "result": result,
    }
    return render_page(request, "audit/org_audit.html", access, context, section="org-audit")

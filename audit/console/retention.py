"""Retention policy and legal holds of a project: view (every role) and edit (owner, admin,
compliance)."""

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods, require_POST

from audit.models import LegalHold
from audit.retention import (
    TIER_FIELDS,
    legal_hold_place,
    legal_hold_release,
    retention_policy_data,
    retention_policy_get,
    retention_policy_update,
)
from audit.selectors import legal_hold_list
from config.errors import Conflict, InvalidInput
from tenants.console.access import console_access, console_view
from tenants.console.forms import ConsoleForm, add_domain_error
from tenants.console.pages import render_page
from tenants.context import tenant_context

TIER_LABELS = {
    "long_term": "Long-term memories",
    "episodic": "Episodes (conversations)",
    "working_state": "Working state (per session)",
    "short_term": "Short-term window",
    "ingestion_payloads": "Ingestion payloads",
    "exports": "GDPR export files",
    "expired_grace": "Grace after a memory's expiration date",
}
DURATION_HELP = 'A duration such as "365d", "12w", "36h" or "90m".'


class RetentionForm(ConsoleForm):
    categories = forms.CharField(
        label="By category",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='One rule per line: "health = 30d". The shortest matching rule wins.',
    )
    agents = forms.CharField(
        label="By agent",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='One rule per line: "support-bot = 90d".',
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, label in TIER_LABELS.items():
            self.fields[name] = forms.CharField(label=label, max_length=20, help_text=DURATION_HELP)
        self.order_fields([*TIER_LABELS, "categories", "agents"])

    def changes(self) -> dict[str, Any]:
        data = self.cleaned_data
        changes: dict[str, Any] = {name: data[name].strip() for name in TIER_FIELDS}
        changes["categories"] = rules_parse(data["categories"])
        changes["agents"] = rules_parse(data["agents"])
        return changes


def rules_parse(text: str) -> dict[str, str]:
    rules = {}
    for line in text.splitlines():
        name, sep, duration = line.partition("=")
        if name.strip():
            rules[name.strip()] = duration.strip() if sep else ""
    return rules


def rules_format(rules: dict[str, str]) -> str:
    return "\n".join(f"{name} = {duration}" for name, duration in rules.items())


def _initial(data: dict[str, Any]) -> dict[str, Any]:
    initial = {name: data[name] for name in TIER_FIELDS}
    initial["categories"] = rules_format(data["categories"])
    initial["agents"] = rules_format(data["agents"])
    return initial


class HoldForm(ConsoleForm):
    scope = forms.ChoiceField(
        label="Covers",
        choices=[
            ("project", "The whole project"),
            ("user", "One user"),
            ("agent", "One agent"),
            ("run", "One session"),
        ],
    )
    subject_id = forms.CharField(
        label="Subject id (not for the whole project)", required=False, max_length=255, strip=False
    )
    reason = forms.CharField(
        label="Reason", required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


@console_view
@require_http_methods(["GET", "POST"])
def retention_view(request: HttpRequest, project_id: str) -> HttpResponse:
    access = console_access(request, project_id)
    project = access.current_project
    data = retention_policy_data(retention_policy_get(project=project))
    action = request.POST.get("action", "")
    form = RetentionForm(request.POST if action == "policy" else None, initial=_initial(data))
    hold_form = HoldForm(request.POST if action == "hold" else None)
    if request.method == "POST":
        access.require("govern")
        bound = form if action == "policy" else hold_form
        try:
            if action == "policy" and form.is_valid():
                retention_policy_update(project=project, changes=form.changes(), actor=access.actor)
                messages.success(request, "Retention policy saved.")
                return redirect("console:retention", project_id=project.id)
            if action == "hold" and hold_form.is_valid():
                # legal_hold_place hashes the subject (key ring) before opening its own
                # tenant transaction; a project's first index key needs one already.
                with tenant_context(project.id, project.organization_id):
                    legal_hold_place(project=project, actor=access.actor, **hold_form.cleaned_data)
                messages.success(request, "Legal hold placed: nothing it covers is deleted.")
                return redirect("console:retention", project_id=project.id)
        except (InvalidInput, Conflict) as exc:
            add_domain_error(bound, InvalidInput(exc.message))
    show_released = request.GET.get("released") == "1"
    holds: list[LegalHold] = legal_hold_list(project=project, include_released=show_released)
    context = {
        "policy": data,
        "form": form,
        "hold_form": hold_form,
        "holds": holds,
        "show_released": show_released,
        "tier_labels": TIER_LABELS,
    }
    return render_page(request, "audit/retention.html", access, context, section="retention")


@console_view
@require_POST
def hold_release_view(request: HttpRequest, project_id: str, hold_id: str) -> HttpResponse:
    access = console_access(request, project_id, need="govern")
    legal_hold_release(project=access.current_project, hold_id=hold_id, actor=access.actor)
    messages.success(request, "Legal hold released.")
    return redirect("console:retention", project_id=access.current_project.id)

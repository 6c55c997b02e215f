"""The project's limits (config/quotas.py): defaults, overrides and today's usage."""

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from config.errors import InvalidInput
from config.quotas import LIMIT_NAMES, default_limits, quota_usage
from tenants.console.access import console_access, console_view
from tenants.console.forms import ConsoleForm, add_domain_error
from tenants.console.pages import render_page
from tenants.services import project_limits_update

USAGE_OF = {
    "memories": "memories",
    "jobs_in_flight": "jobs_in_flight",
    "llm_tokens_per_day": "llm_tokens_today",
    "embedding_tokens_per_day": "embedding_tokens_today",
    "requests_per_minute_per_project": "project_requests_this_window",
}


class LimitsForm(ConsoleForm):
    """One optional whole number per limit: empty follows the platform default."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        defaults = default_limits()
        for name in LIMIT_NAMES:
            self.fields[name] = forms.IntegerField(
                required=False,
                min_value=0,
                label=name.replace("_", " "),
                help_text=f"Default {getattr(defaults, name)}; 0 means no limit.",
            )

    def overrides(self) -> dict[str, int]:
        return {name: value for name, value in self.cleaned_data.items() if value is not None}


def _rows(usage: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "value": usage["limits"][name],
            "overridden": name in usage["overridden"],
            "used": usage["usage"].get(USAGE_OF.get(name, ""), None),
        }
        for name in LIMIT_NAMES
    ]


@console_view
@require_http_methods(["GET", "POST"])
def project_limits_view(request: HttpRequest, project_id: str) -> HttpResponse:
    access = console_access(request, project_id)
    project = access.current_project
    current = (project.options or {}).get("limits") or {}
    form = LimitsForm(request.POST if request.method == "POST" else None, initial=current)
    if request.method == "POST":
        access.require("manage_project")
        if form.is_valid():
            try:
                project_limits_update(project=project, limits=form.overrides(), actor=access.actor)
            except InvalidInput as exc:
                add_domain_error(form, exc)
            else:
                messages.success(request, "Limits saved.")
                return redirect("console:project-limits", project_id=project.id)
    context = {"form": form, "rows": _rows(quota_usage(project))}
    return render_page(request, "tenants/project_limits.html", access, context, section="settings")

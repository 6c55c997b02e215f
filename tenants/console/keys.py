"""API keys of a project: list, create (the secret is in that one response only), revoke
after a confirmation step."""

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from tenants.console.access import console_access, console_view
from tenants.console.forms import ConsoleForm
from tenants.console.pages import render_page
from tenants.models import ALL_SCOPES, ApiKey, Project, Scope
from tenants.selectors import api_key_list
from tenants.services import api_key_create, api_key_revoke

NONCES_KEY = "console_key_form_nonces"
MAX_NONCES = 20


class KeyCreateForm(ConsoleForm):
    name = forms.CharField(label="Name", max_length=200, help_text="Where the key is used.")
    scopes = forms.MultipleChoiceField(
        label="Scopes",
        choices=Scope.choices,
        initial=ALL_SCOPES,
        widget=forms.CheckboxSelectMultiple,
    )
    # One form, one key: a reload that re-posts it (or a double click) creates nothing more.
    nonce = forms.CharField(widget=forms.HiddenInput, max_length=64)
    expires_in_days = forms.IntegerField(
        label="Expires after (days)",
        required=False,
        min_value=1,
        max_value=3650,
        help_text="Leave empty for a key that does not expire.",
    )


def _nonce_used(request: HttpRequest, nonce: str) -> bool:
    """Remember the last few create forms submitted in this session."""
    used: list[str] = request.session.get(NONCES_KEY, [])
    if nonce in used:
        return True
    request.session[NONCES_KEY] = [*used[-(MAX_NONCES - 1) :], nonce]
    return False


@dataclass(frozen=True)
class KeyRow:
    key: ApiKey
    status: str


def key_status(key: ApiKey) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= timezone.now():
        return "expired"
    return "active"


@console_view
@require_http_methods(["GET", "POST"])
def keys_view(request: HttpRequest, project_id: str) -> HttpResponse:
    access = console_access(request, project_id)
    project = access.current_project
    form = KeyCreateForm(request.POST if request.method == "POST" else None)
    issued = None
    if request.method == "POST":
        access.require("manage_keys")
        if form.is_valid() and not _nonce_used(request, form.cleaned_data["nonce"]):
            days = form.cleaned_data["expires_in_days"]
            issued = api_key_create(
                project=project,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                expires_at=timezone.now() + timedelta(days=days) if days else None,
                actor=access.actor,
            )
        elif form.is_valid():
            messages.info(request, "That key was already created; its secret is not shown again.")
    if request.method == "GET" or issued is not None or form.is_valid():
        form = KeyCreateForm(initial={"nonce": secrets.token_urlsafe(24)})
    rows = [KeyRow(key, key_status(key)) for key in api_key_list(project=project)]
    context = {"rows": rows, "form": form, "issued": issued}
    return render_page(request, "tenants/keys.html", access, context, section="keys")


def _key(project: Project, key_id: str) -> ApiKey:
    for key in api_key_list(project=project):
        if key.key_id == key_id:
            return key
    raise Http404("No such key.")


@console_view
@require_http_methods(["GET", "POST"])
def key_revoke_view(request: HttpRequest, project_id: str, key_id: str) -> HttpResponse:
    access = console_access(request, project_id, need="manage_keys")
    project = access.current_project
    key = _key(project, key_id)
    if request.method == "POST":
        api_key_revoke(project=project, key_id=key.key_id, actor=access.actor)
        messages.success(request, f"Key {key.prefix} is revoked: requests with it now fail.")
        return redirect("console:keys", project_id=project.id)
    context = {"key": key, "status": key_status(key)}
    return render_page(request, "tenants/key_revoke.html", access, context, section="keys")

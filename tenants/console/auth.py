"""Signing in and out of the console, password change and optional TOTP two-factor.

A user with a confirmed TOTP device is not logged in (Django `login`) until the code is
checked: the password step only leaves a short-lived "pending" marker in the session. Every
sign-in, sign-out and failed attempt is an audit event in each organization the user
belongs to (the organization's own chain: project_id=None).
"""

import hashlib
import time
from base64 import b32encode
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import login, logout, update_session_auth_hash
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.contrib.auth.models import User
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods
from django_otp import devices_for_user
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.services import audit_record
from tenants.console.access import console_view, staff_actor, with_console_headers
from tenants.console.forms import ConsoleForm
from tenants.console.pages import render_page
from tenants.context import organization_context
from tenants.models import Membership

PENDING_KEY = "console_pending_login"
PENDING_SECONDS = 300
MAX_CODE_ATTEMPTS = 5
FAILURE_LIMIT = 10
FAILURE_WINDOW = 900
THROTTLED = "Too many failed sign-in attempts. Wait a few minutes and try again."


def audit_staff_event(user: User, action: str, extra: dict[str, Any] | None = None) -> int:
    """One event per organization of the user, in that organization's chain."""
    org_ids = list(Membership.objects.filter(user=user).values_list("organization_id", flat=True))
    for org_id in org_ids:
        with organization_context(org_id):
            audit_record(
                org_id=org_id,
                project_id=None,
                actor=staff_actor(user),
                action=action,
                target_type="user",
                target_id=str(user.pk),
                extra=extra or {},
            )
    return len(org_ids)


def _safe_next(request: HttpRequest, candidate: str | None) -> str:
    allowed = url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return candidate if candidate and allowed else str(settings.LOGIN_REDIRECT_URL)


def _failure_key(username: str) -> str:
    digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return f"console:login-failures:{digest}"


def _throttled(username: str) -> bool:
    return int(cache.get(_failure_key(username), 0)) >= FAILURE_LIMIT


def _count_failure(username: str) -> None:
    key = _failure_key(username)
    if not cache.add(key, 1, FAILURE_WINDOW):
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, FAILURE_WINDOW)
    known = User.objects.filter(username=username.strip()).first()
    if known is not None:
        audit_staff_event(known, "console.login_failed", {"reason": "password"})


def confirmed_device(user: User) -> TOTPDevice | None:
    devices = [d for d in devices_for_user(user, confirmed=True) if isinstance(d, TOTPDevice)]
    return devices[0] if devices else None


def _complete_login(
    request: HttpRequest, user: User, next_url: str, *, two_factor: bool
) -> HttpResponse:
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    cache.delete(_failure_key(user.get_username()))
    audit_staff_event(user, "console.login", {"two_factor": two_factor})
    return HttpResponseRedirect(next_url)


@with_console_headers
@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if request.user.is_authenticated:
        return HttpResponseRedirect(next_url)
    form = AuthenticationForm(request, data=request.POST if request.method == "POST" else None)
    if request.method == "POST":
        username = request.POST.get("username", "")
        if _throttled(username):
            form.add_error(None, THROTTLED)
        elif form.is_valid():
            return _password_accepted(request, form.get_user(), next_url)
        else:
            _count_failure(username)
    context = {"form": form, "next": next_url}
    return render_page(request, "console/login.html", None, context)


def _password_accepted(request: HttpRequest, user: User, next_url: str) -> HttpResponse:
    if confirmed_device(user) is None:
        return _complete_login(request, user, next_url, two_factor=False)
    request.session.cycle_key()
    request.session[PENDING_KEY] = {"user": user.pk, "at": time.time(), "next": next_url, "n": 0}
    return redirect("console:login-verify")


class CodeForm(ConsoleForm):
    code = forms.RegexField(
        label="Authentication code",
        regex=r"^\s*\d{6}\s*$",
        error_messages={"invalid": "Enter the 6-digit code from your authenticator app."},
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "maxlength": 8}
        ),
    )


def _pending_user(request: HttpRequest) -> tuple[User | None, dict[str, Any]]:
    pending: dict[str, Any] = request.session.get(PENDING_KEY) or {}
    if not pending or time.time() - float(pending.get("at", 0)) > PENDING_SECONDS:
        return None, {}
    user_pk = int(pending.get("user") or 0)
    return User.objects.filter(pk=user_pk, is_active=True).first(), pending


@with_console_headers
@sensitive_post_parameters("code")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login_verify_view(request: HttpRequest) -> HttpResponse:
    user, pending = _pending_user(request)
    device = confirmed_device(user) if user else None
    if user is None or device is None:
        request.session.pop(PENDING_KEY, None)
        return redirect("console:login")
    form = CodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        allowed, _ = device.verify_is_allowed()
        if not allowed:
            form.add_error("code", "Too many wrong codes: wait a few seconds, then try again.")
        elif device.verify_token(form.cleaned_data["code"].strip()):
            request.session.pop(PENDING_KEY, None)
            return _complete_login(request, user, pending["next"], two_factor=True)
        else:
            _code_failed(request, user, pending)
            form.add_error("code", "That code is not valid. Try the current one.")
        if PENDING_KEY not in request.session:
            return redirect("console:login")
    return render_page(request, "console/login_verify.html", None, {"form": form})


def _code_failed(request: HttpRequest, user: User, pending: dict[str, Any]) -> None:
    """Audit the wrong code; after MAX_CODE_ATTEMPTS the password step starts over."""
    pending["n"] = int(pending.get("n", 0)) + 1
    audit_staff_event(user, "console.login_failed", {"reason": "two_factor"})
    if pending["n"] >= MAX_CODE_ATTEMPTS:
        request.session.pop(PENDING_KEY, None)
    else:
        request.session[PENDING_KEY] = pending


@with_console_headers
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def logout_view(request: HttpRequest) -> HttpResponse:
    """GET asks for confirmation (a link must never sign anyone out); POST signs out."""
    if request.method == "GET":
        if not request.user.is_authenticated:
            return redirect("console:login")
        return render_page(request, "console/logout.html", None)
    user = request.user
    if isinstance(user, User) and user.is_authenticated:
        audit_staff_event(user, "console.logout")
    logout(request)
    return HttpResponseRedirect(reverse("console:login") + "?signed_out=1")


@sensitive_post_parameters()
@console_view
@require_http_methods(["GET", "POST"])
def password_change_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    data = request.POST if request.method == "POST" else None
    form = PasswordChangeForm(user, data, label_suffix="")
    done = False
    if request.method == "POST" and form.is_valid():
        form.save()
        update_session_auth_hash(request, form.user)
        audit_staff_event(user, "console.password_changed")
        done = True
        form = PasswordChangeForm(user, label_suffix="")
    return render_page(request, "console/password_change.html", None, {"form": form, "done": done})


def totp_setup_data(device: TOTPDevice) -> dict[str, str]:
    return {"secret": b32encode(device.bin_key).decode(), "uri": device.config_url}

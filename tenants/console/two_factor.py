"""Optional TOTP two-factor for a staff account: set up (scan or type the key, confirm with
a code), or turn off (password and a current code)."""

from django import forms
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods
from django_otp.plugins.otp_totp.models import TOTPDevice

from tenants.console.access import console_view
from tenants.console.auth import CodeForm, audit_staff_event, confirmed_device, totp_setup_data
from tenants.console.pages import render_page

DEVICE_NAME = "Engram console"


class DisableForm(CodeForm):
    password = forms.CharField(
        label="Your password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


def _unconfirmed(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()


def _start(user: User) -> TOTPDevice:
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)


def _confirm(user: User, form: CodeForm) -> str:
    device = _unconfirmed(user)
    if device is None:
        return "Start the set-up again."
    if not form.is_valid():
        return "Enter the 6-digit code."
    if not device.verify_token(form.cleaned_data["code"].strip()):
        return "That code is not valid. Check the time on your phone and try again."
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    audit_staff_event(user, "console.two_factor_enabled")
    return ""


def _disable(user: User, form: DisableForm) -> str:
    device = confirmed_device(user)
    if device is None:
        return ""
    if not form.is_valid() or not user.check_password(form.cleaned_data["password"]):
        return "Your password or the code is not correct."
    if not device.verify_token(form.cleaned_data["code"].strip()):
        return "Your password or the code is not correct."
    TOTPDevice.objects.filter(user=user).delete()
    audit_staff_event(user, "console.two_factor_disabled")
    return ""


@sensitive_post_parameters("password", "code")
@console_view
@require_http_methods(["GET", "POST"])
def two_factor_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    action = request.POST.get("action", "")
    error, notice = "", ""
    if action == "start" and confirmed_device(user) is None:
        _start(user)
    elif action == "confirm":
        error = _confirm(user, CodeForm(request.POST))
        notice = "" if error else "Two-factor sign-in is on."
    elif action == "disable":
        error = _disable(user, DisableForm(request.POST))
        notice = "" if error else "Two-factor sign-in is off."
    enabled = confirmed_device(user) is not None
    pending = None if enabled else _unconfirmed(user)
    context = {
        "enabled": enabled,
        "setup": totp_setup_data(pending) if pending else None,
        "code_form": CodeForm(),
        "disable_form": DisableForm(),
        "error": error,
        "notice": notice,
    }
    return render_page(request, "console/two_factor.html", None, context)

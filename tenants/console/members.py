"""Members of an organization and their roles: add (an existing staff account or a new one
with an initial password), change role, remove."""

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from config.errors import InvalidInput
from tenants.console.access import Access, console_view, org_access
from tenants.console.forms import ConsoleForm, add_domain_error
from tenants.console.pages import render_page
from tenants.models import Membership, Role
from tenants.selectors import organization_members
from tenants.services import (
    membership_change_check,
    membership_remove,
    membership_set,
    staff_user_for_membership,
)


class MemberAddForm(ConsoleForm):
    email = forms.EmailField(label="Email")
    role = forms.ChoiceField(label="Role", choices=Role.choices, initial=Role.VIEWER)
    password = forms.CharField(
        label="Initial password (new accounts only)",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="Needed only when this email has no Engram account yet.",
    )


def _membership(access: Access, membership_id: str) -> Membership:
    for membership in organization_members(organization=access.organization):
        if str(membership.pk) == membership_id:
            return membership
    raise Http404("No such member.")


def _add(access: Access, form: MemberAddForm) -> str:
    role = form.cleaned_data["role"]
    membership_change_check(
        organization=access.organization, acting_role=access.role, target=None, new_role=role
    )
    user = staff_user_for_membership(
        email=form.cleaned_data["email"], password=form.cleaned_data["password"]
    )
    existing = Membership.objects.filter(organization=access.organization, user=user).first()
    membership_change_check(
        organization=access.organization, acting_role=access.role, target=existing, new_role=role
    )
    membership_set(organization=access.organization, user=user, role=role, actor=access.actor)
    return f"{user.get_username()} is now {Role(role).label}."


def _change(access: Access, request: HttpRequest) -> str:
    target = _membership(access, request.POST.get("membership", ""))
    role = request.POST.get("role", "")
    if request.POST.get("action") == "remove":
        membership_change_check(
            organization=access.organization,
            acting_role=access.role,
            target=target,
            new_role="",
        )
        membership_remove(organization=access.organization, membership=target, actor=access.actor)
        return f"{target.user.get_username()} was removed."
    membership_change_check(
        organization=access.organization, acting_role=access.role, target=target, new_role=role
    )
    membership_set(
        organization=access.organization, user=target.user, role=role, actor=access.actor
    )
    return f"{target.user.get_username()} is now {Role(role).label}."


@sensitive_post_parameters("password")
@console_view
@require_http_methods(["GET", "POST"])
def members_view(request: HttpRequest, org_id: str) -> HttpResponse:
    access = org_access(request, org_id)
    action = request.POST.get("action", "")
    form = MemberAddForm(request.POST if action == "add" else None)
    if request.method == "POST":
        access.require("manage_members")
        try:
            if action == "add" and form.is_valid():
                messages.success(request, _add(access, form))
                return redirect("console:org-members", org_id=access.organization.id)
            if action in {"role", "remove"}:
                messages.success(request, _change(access, request))
                return redirect("console:org-members", org_id=access.organization.id)
        except InvalidInput as exc:
            if action == "add":
                add_domain_error(form, exc)
            else:
                messages.error(request, exc.message.partition(": ")[2] or exc.message)
                return redirect("console:org-members", org_id=access.organization.id)
    context = {
        "members": organization_members(organization=access.organization),
        "form": form,
        "roles": Role.choices,
    }
    return render_page(request, "tenants/members.html", access, context, section="members")

"""Organization and project pages: the home list, creating and renaming organizations and
projects, the Mem0 project settings, and members with their roles."""

from django import forms
from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from audit.services import Actor
from config.errors import InvalidInput
from tenants.console.access import console_access, console_view, org_access, staff_actor
from tenants.console.forms import ConsoleForm, add_domain_error, categories_format, categories_parse
from tenants.console.pages import render_page
from tenants.models import Project
from tenants.selectors import organization_projects
from tenants.services import (
    organization_create_owned,
    organization_rename,
    project_create,
    project_rename,
    project_settings_update,
)


class NameForm(ConsoleForm):
    name = forms.CharField(label="Name", max_length=200)


class ProjectSettingsForm(ConsoleForm):
    name = forms.CharField(label="Project name", max_length=200)
    custom_instructions = forms.CharField(
        label="Custom instructions",
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="What the extractor should remember or ignore for end users.",
    )
    agent_custom_instructions = forms.CharField(
        label="Agent custom instructions", required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    custom_categories = forms.CharField(
        label="Custom categories",
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text='One per line: "name: description". Empty for the default categories.',
    )


@console_view
@require_http_methods(["GET", "POST"])
def home_view(request: HttpRequest) -> HttpResponse:
    """The staff member's organizations and projects; creating a new organization."""
    user = request.user
    assert isinstance(user, User)
    form = NameForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            organization = organization_create_owned(
                name=form.cleaned_data["name"], user=user, actor=staff_actor(user)
            )
        except InvalidInput as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, f"Organization {organization.name} created.")
            return redirect("console:org", org_id=organization.id)
    return render_page(request, "tenants/home.html", None, {"form": form}, section="home")


@console_view
@require_http_methods(["GET", "POST"])
def org_view(request: HttpRequest, org_id: str) -> HttpResponse:
    access = org_access(request, org_id)
    action = request.POST.get("action", "")
    rename = NameForm(
        request.POST if action == "rename" else None,
        prefix="org",
        initial={"name": access.organization.name},
    )
    create = NameForm(request.POST if action == "create" else None, prefix="project")
    if request.method == "POST":
        access.require("manage_project")
        try:
            if action == "rename" and rename.is_valid():
                organization_rename(
                    organization=access.organization,
                    name=rename.cleaned_data["name"],
                    actor=access.actor,
                )
                messages.success(request, "Organization renamed.")
                return redirect("console:org", org_id=access.organization.id)
            if action == "create" and create.is_valid():
                project = project_create(
                    organization=access.organization,
                    name=create.cleaned_data["name"],
                    actor=access.actor,
                )
                messages.success(request, f"Project {project.name} created.")
                return redirect("console:overview", project_id=project.id)
        except InvalidInput as exc:
            add_domain_error(rename if action == "rename" else create, exc)
    context = {
        "projects": organization_projects(organization=access.organization),
        "rename_form": rename,
        "create_form": create,
    }
    return render_page(request, "tenants/org.html", access, context, section="org")


def _settings_initial(project: Project) -> dict[str, str]:
    return {
        "name": project.name,
        "custom_instructions": project.custom_instructions,
        "agent_custom_instructions": project.agent_custom_instructions,
        "custom_categories": categories_format(project.custom_categories),
    }


@console_view
@require_http_methods(["GET", "POST"])
def project_settings_view(request: HttpRequest, project_id: str) -> HttpResponse:
    access = console_access(request, project_id)
    project = access.current_project
    data = request.POST if request.method == "POST" else None
    form = ProjectSettingsForm(data, initial=_settings_initial(project))
    if request.method == "POST":
        access.require("manage_project")
        if form.is_valid():
            try:
                _settings_save(project, form.cleaned_data, access.actor)
            except InvalidInput as exc:
                add_domain_error(form, exc)
            else:
                messages.success(request, "Project settings saved.")
                return redirect("console:project-settings", project_id=project.id)
    context = {"form": form}
    return render_page(
        request, "tenants/project_settings.html", access, context, section="settings"
    )


def _settings_save(project: Project, data: dict[str, str], actor: Actor) -> None:
    if data["name"].strip() != project.name:
        project_rename(project=project, name=data["name"], actor=actor)
    changes = {
        "custom_instructions": data["custom_instructions"],
        "agent_custom_instructions": data["agent_custom_instructions"],
        "custom_categories": categories_parse(data["custom_categories"]),
    }
    project_settings_update(project=project, changes=changes, actor=actor)

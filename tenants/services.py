"""Writes for tenancy: organizations, projects, memberships and API keys."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.services import Actor, audit_record
from config.errors import InvalidInput, NotFound
from config.quotas import limits_validate
from tenants.accepted_keys import tenancy_changed
from tenants.api_keys import new_key_material
from tenants.context import organization_context, tenant_context
from tenants.models import ALL_SCOPES, ApiKey, Membership, Organization, Project, Role


@dataclass(frozen=True)
class IssuedApiKey:
    """The only moment the plaintext key exists outside the client's hands."""

    api_key: ApiKey
    plaintext: str


def organization_create(*, name: str, actor: Actor) -> Organization:
    with transaction.atomic():
        organization = Organization.objects.create(name=name.strip())
        with organization_context(organization.id):
            audit_record(
                org_id=organization.id,
                project_id=None,
                actor=actor,
                action="organization.created",
                target_type="organization",
                target_id=str(organization.id),
            )
    return organization


def project_create(*, organization: Organization, name: str, actor: Actor) -> Project:
    name = name.strip()
    if not name:
        raise InvalidInput("name: a project needs a name.")
    with transaction.atomic():
        if Project.objects.filter(organization=organization, name=name).exists():
            raise InvalidInput(f"name: a project named {name!r} already exists.")
        project = Project.objects.create(organization=organization, name=name)
        with tenant_context(project.id, organization.id):
            audit_record(
                org_id=organization.id,
                project_id=project.id,
                actor=actor,
                action="project.created",
                target_type="project",
                target_id=str(project.id),
            )
    return project


def _validated_scopes(scopes: list[str] | None) -> list[str]:
    chosen = list(dict.fromkeys(scopes or ALL_SCOPES))
    unknown = [scope for scope in chosen if scope not in ALL_SCOPES]
    if unknown:
        raise InvalidInput(f"scopes: unknown scope(s) {unknown}; choose from {ALL_SCOPES}.")
    return chosen


def api_key_create(
    *,
    project: Project,
    name: str,
    actor: Actor,
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
) -> IssuedApiKey:
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput("expires_at: must be in the future.")
    material = new_key_material()
    with tenant_context(project.id, project.organization_id):
        api_key = ApiKey.objects.create(
            project=project,
            key_id=material.key_id,
            secret_hash=material.secret_hash,
            name=name.strip() or "unnamed key",
            scopes=_validated_scopes(scopes),
            expires_at=expires_at,
            created_by=f"{actor.type}:{actor.id}",
        )
        audit_record(
            org_id=project.organization_id,
            project_id=project.id,
            actor=actor,
            action="api_key.created",
            target_type="api_key",
            target_id=api_key.prefix,
            extra={"scopes": api_key.scopes, "name_length": len(api_key.name)},
        )
    return IssuedApiKey(api_key=api_key, plaintext=material.plaintext)


def api_key_revoke(*, project: Project, key_id: str, actor: Actor) -> ApiKey:
    with tenant_context(project.id, project.organization_id):
        api_key = ApiKey.objects.select_for_update().filter(project=project, key_id=key_id).first()
        if api_key is None:
            raise NotFound(f"No API key eng_{key_id} in this project.")
        if api_key.revoked_at is None:
            api_key.revoked_at = timezone.now()
            api_key.save(update_fields=["revoked_at"])
            audit_record(
                org_id=project.organization_id,
                project_id=project.id,
                actor=actor,
                action="api_key.revoked",
                target_type="api_key",
                target_id=api_key.prefix,
            )
    return api_key


def api_key_touch(*, api_key: ApiKey) -> None:
    """Record use at most once a minute, so reads do not turn into a write per request."""
    now = timezone.now()
    if api_key.last_used_at and (now - api_key.last_used_at).total_seconds() < 60:
        return
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now  # the row may be remembered (tenants/accepted_keys.py)


def membership_set(
    *, organization: Organization, user: User, role: str, actor: Actor
) -> Membership:
    if role not in Role.values:
        raise InvalidInput(f"role: unknown role {role!r}; choose from {Role.values}.")
    with organization_context(organization.id):
        membership, _ = Membership.objects.update_or_create(
            organization=organization, user=user, defaults={"role": role}
        )
        audit_record(
            org_id=organization.id,
            project_id=None,
            actor=actor,
            action="membership.role_set",
            target_type="user",
            target_id=str(user.pk),
            extra={"role": role},
        )
    return membership


def project_settings_update(*, project: Project, changes: dict[str, Any], actor: Actor) -> Project:
    """Mem0's project settings: custom instructions and categories used by later adds."""
    allowed = {"custom_instructions", "agent_custom_instructions", "custom_categories"}
    for field in allowed & changes.keys():
        setattr(project, field, changes[field])
    options = {key: value for key, value in changes.items() if key not in allowed}
    project.options = {**project.options, **options}
    with tenant_context(project.id, project.organization_id):
        project.save()
        audit_record(
            org_id=project.organization_id,
            project_id=project.id,
            actor=actor,
            action="project.settings_updated",
            target_type="project",
            target_id=str(project.id),
            extra={"fields": sorted(changes)},
        )
    return project


def tenant_bootstrap(
    *, org_name: str, project_name: str, actor: Actor, key_name: str = "default"
) -> tuple[Organization, Project, IssuedApiKey]:
    """One organization, one project and a full-scope key: what `engram_tenant create` does."""
    with transaction.atomic():
        organization = organization_create(name=org_name, actor=actor)
        project = project_create(organization=organization, name=project_name, actor=actor)
        issued = api_key_create(project=project, name=key_name, actor=actor)
    return organization, project, issued


def project_id_parse(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError as exc:
        raise InvalidInput(f"project: {value!r} is not a project id.") from exc


def project_limits_update(*, project: Project, limits: dict[str, Any], actor: Actor) -> Project:
    """Per-project overrides of the platform limits (0 = no limit); unset ones follow the
    settings defaults. Audited with the names and values (limits are not user content)."""
    clean = limits_validate(limits)
    with tenant_context(project.id, project.organization_id):
        project.options = {**(project.options or {}), "limits": clean}
        project.save(update_fields=["options", "updated_at"])
        audit_record(
            org_id=project.organization_id,
            project_id=project.id,
            actor=actor,
            action="project.limits_updated",
            target_type="project",
            target_id=str(project.id),
            extra={"limits": clean},
        )
    return project


def organization_create_owned(*, name: str, user: User, actor: Actor) -> Organization:
    """A new organization whose creator is its first owner."""
    if not name.strip():
        raise InvalidInput("name: an organization needs a name.")
    with transaction.atomic():
        organization = organization_create(name=name, actor=actor)
        membership_set(organization=organization, user=user, role=Role.OWNER, actor=actor)
    return organization


def organization_rename(*, organization: Organization, name: str, actor: Actor) -> Organization:
    name = name.strip()
    if not name:
        raise InvalidInput("name: an organization needs a name.")
    with organization_context(organization.id):
        Organization.objects.filter(pk=organization.pk).update(name=name)
        tenancy_changed()
        audit_record(
            org_id=organization.id,
            project_id=None,
            actor=actor,
            action="organization.renamed",
            target_type="organization",
            target_id=str(organization.id),
        )
    organization.name = name
    return organization


def project_rename(*, project: Project, name: str, actor: Actor) -> Project:
    name = name.strip()
    if not name:
        raise InvalidInput("name: a project needs a name.")
    taken = Project.objects.filter(organization_id=project.organization_id, name=name)
    if taken.exclude(pk=project.pk).exists():
        raise InvalidInput(f"name: a project named {name!r} already exists.")
    with tenant_context(project.id, project.organization_id):
        Project.objects.filter(pk=project.pk).update(name=name)
        tenancy_changed()
        audit_record(
            org_id=project.organization_id,
            project_id=project.id,
            actor=actor,
            action="project.renamed",
            target_type="project",
            target_id=str(project.id),
        )
    project.name = name
    return project


def _owners(organization: Organization) -> int:
    return Membership.objects.filter(organization=organization, role=Role.OWNER).count()


def membership_change_check(
    *, organization: Organization, acting_role: str, target: Membership | None, new_role: str
) -> None:
    """Only owners grant or take away ownership; the last owner cannot be demoted or removed."""
    touches_owner = new_role == Role.OWNER or (target is not None and target.role == Role.OWNER)
    if touches_owner and acting_role != Role.OWNER:
        raise InvalidInput("role: only an owner can grant, change or remove the owner role.")
    last_owner = target is not None and target.role == Role.OWNER and _owners(organization) == 1
    if last_owner and new_role != Role.OWNER:
        raise InvalidInput("role: an organization must keep at least one owner.")


def staff_user_for_membership(*, email: str, password: str) -> User:
    """The existing account with this email, or a new one with the given initial password."""
    email = email.strip().lower()
    user = User.objects.filter(username=email).first()
    if user is not None:
        return user
    if not password:
        raise InvalidInput("password: a new account needs an initial password.")
    candidate = User(username=email, email=email)
    try:
        validate_password(password, candidate)
    except ValidationError as exc:
        raise InvalidInput("password: " + " ".join(exc.messages)) from exc
    return User.objects.create_user(username=email, email=email, password=password)


def membership_remove(*, organization: Organization, membership: Membership, actor: Actor) -> None:
    with organization_context(organization.id):
        Membership.objects.filter(pk=membership.pk, organization=organization).delete()
        audit_record(
            org_id=organization.id,
            project_id=None,
            actor=actor,
            action="membership.removed",
            target_type="user",
            target_id=str(membership.user_id),
        )

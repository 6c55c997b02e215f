"""Console writes and reads on organizations, projects and members that tenants/services.py
does not offer (renames, member removal, staff account creation). Each is audited in the
organization's (or project's) chain, like the services it sits next to."""

from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from audit.services import Actor, audit_record
from config.errors import InvalidInput
from tenants.context import organization_context, tenant_context
from tenants.models import Membership, Organization, Project, Role
from tenants.services import membership_set, organization_create


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


def organization_members(*, organization: Organization) -> list[Membership]:
    return list(
        Membership.objects.filter(organization=organization)
        .select_related("user")
        .order_by("user__username")
    )


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

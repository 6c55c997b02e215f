"""Console staff accounts from the command line.

    manage.py engram_staff create --email E --password P --org-id ORG --role owner
    manage.py engram_staff create --email E --password-stdin --org-id ORG --role viewer
    manage.py engram_staff set-role --email E --org-id ORG --role compliance
    manage.py engram_staff list --org-id ORG

`create` makes the account if it does not exist yet (the password is checked against the
password validators) and gives it the role in the organization; an existing account keeps
its password unless --reset-password is given. Every role change is audited.
"""

import sys
from argparse import ArgumentParser
from typing import Any
from uuid import UUID

from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from audit.services import CLI_ACTOR
from config.errors import EngramError
from tenants.models import Membership, Organization, Role
from tenants.services import membership_set


class Command(BaseCommand):
    help = "Create console staff accounts and set their role in an organization."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create an account (if new) and set its role")
        _common(create)
        secret = create.add_mutually_exclusive_group()
        secret.add_argument("--password", help="initial password (visible in shell history)")
        secret.add_argument(
            "--password-stdin", action="store_true", help="read the password from standard input"
        )
        create.add_argument(
            "--reset-password",
            action="store_true",
            help="also set the password of an existing account",
        )
        _common(sub.add_parser("set-role", help="change the role of an existing account"))
        listing = sub.add_parser("list", help="list the members of an organization")
        listing.add_argument("--org-id", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] == "list":
                self._list(_organization(options["org_id"]))
            elif options["action"] == "create":
                self._create(options)
            else:
                self._set_role(options)
        except EngramError as exc:
            raise CommandError(exc.message) from exc

    def _create(self, options: dict[str, Any]) -> None:
        organization = _organization(options["org_id"])
        email = options["email"].strip().lower()
        password = (
            sys.stdin.readline().rstrip("\n") if options["password_stdin"] else options["password"]
        )
        with transaction.atomic():
            user = User.objects.filter(username=email).first()
            created = user is None
            if user is None:
                user = User(username=email, email=email)
                _set_password(user, password, required=True)
            elif options["reset_password"]:
                _set_password(user, password, required=True)
            membership_set(
                organization=organization, user=user, role=options["role"], actor=CLI_ACTOR
            )
        verb = "created" if created else "updated"
        self.stdout.write(f"{verb} {email}: {options['role']} of {organization.name}")

    def _set_role(self, options: dict[str, Any]) -> None:
        organization = _organization(options["org_id"])
        user = User.objects.filter(username=options["email"].strip().lower()).first()
        if user is None:
            raise CommandError(f"no staff account {options['email']!r}; use `create`")
        membership_set(organization=organization, user=user, role=options["role"], actor=CLI_ACTOR)
        self.stdout.write(f"{user.username}: {options['role']} of {organization.name}")

    def _list(self, organization: Organization) -> None:
        rows = Membership.objects.filter(organization=organization).select_related("user")
        for membership in rows.order_by("user__username"):
            self.stdout.write(f"{membership.user.username}\t{membership.role}")


def _common(parser: ArgumentParser) -> None:
    parser.add_argument("--email", required=True, help="the staff member's email (username)")
    parser.add_argument("--org-id", required=True, help="organization id")
    parser.add_argument("--role", required=True, choices=Role.values)


def _organization(value: str) -> Organization:
    try:
        org_id = UUID(value)
    except ValueError as exc:
        raise CommandError(f"--org-id: {value!r} is not an organization id") from exc
    organization = Organization.objects.filter(pk=org_id).first()
    if organization is None:
        raise CommandError(f"no organization {value}")
    return organization


def _set_password(user: User, password: str | None, *, required: bool) -> None:
    if not password:
        if required:
            raise CommandError("a password is needed: --password or --password-stdin")
        return
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise CommandError("password: " + " ".join(exc.messages)) from exc
    user.set_password(password)
    user.save()

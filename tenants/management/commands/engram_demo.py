"""`manage.py engram_demo`: the demo tenant that `make run` creates once.

The key and the console password are printed only when they are created; later runs say
where the demo project is and how to issue another key, because neither is ever stored in
a readable form.
"""

import os
import secrets
from typing import Any

from django.core.management.base import BaseCommand

from audit.services import CLI_ACTOR
from tenants.models import Organization, Project, Role
from tenants.services import membership_set, staff_user_for_membership, tenant_bootstrap

DEMO_ORG = "Demo organization"
DEMO_PROJECT = "Demo project"
DEMO_STAFF_EMAIL = "owner@demo.engram.local"


class Command(BaseCommand):
    help = "Create the demo organization, project and API key once."

    def handle(self, *args: Any, **options: Any) -> None:
        existing = Project.objects.filter(name=DEMO_PROJECT, organization__name=DEMO_ORG).first()
        if existing is not None:
            self.stdout.write(
                f"Demo project exists: {existing.id}. Its key was printed when it was created; "
                f"issue another with: .venv/bin/python manage.py engram_key create "
                f"--project {existing.id}"
            )
            return
        org, project, issued = tenant_bootstrap(
            org_name=DEMO_ORG, project_name=DEMO_PROJECT, actor=CLI_ACTOR, key_name="demo"
        )
        self.stdout.write(self.style.SUCCESS("Created the demo tenant."))
        self.stdout.write(f"  org_id:     {org.id}")
        self.stdout.write(f"  project_id: {project.id}")
        self.stdout.write(f"  API key (shown once): {issued.plaintext}")
        password = _demo_owner_create(org)
        port = os.environ.get("PORT", "8000")
        self.stdout.write(f"  console:    http://127.0.0.1:{port}/console/ as {DEMO_STAFF_EMAIL}")
        self.stdout.write(f"  password (shown once): {password}")


def _demo_owner_create(organization: Organization) -> str:
    password = secrets.token_urlsafe(12)
    user = staff_user_for_membership(email=DEMO_STAFF_EMAIL, password=password)
    membership_set(organization=organization, user=user, role=Role.OWNER, actor=CLI_ACTOR)
    return password

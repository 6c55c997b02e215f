"""`manage.py engram_demo`: the demo tenant that `make run` creates once.

The key is printed only when it is created; later runs say where the demo project is and
how to issue another key, because the plaintext key is never stored.
"""

from typing import Any

from django.core.management.base import BaseCommand

from audit.services import CLI_ACTOR
from tenants.models import Project
from tenants.services import tenant_bootstrap

DEMO_ORG = "Demo organization"
DEMO_PROJECT = "Demo project"


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

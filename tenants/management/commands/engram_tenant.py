"""`manage.py engram_tenant create --org NAME --project NAME [--json]`"""

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit.services import CLI_ACTOR
from config.errors import EngramError
from tenants.models import Organization
from tenants.services import api_key_create, project_create, tenant_bootstrap


class Command(BaseCommand):
    help = "Create an organization (or reuse one by name with --existing-org) and a project."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create an organization, project and API key")
        create.add_argument("--org", required=True, help="organization name")
        create.add_argument("--project", required=True, help="project name")
        create.add_argument("--key-name", default="default", help="name of the first API key")
        create.add_argument(
            "--existing-org",
            action="store_true",
            help="add the project to the existing organization of that name",
        )
        create.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            org, project, issued = self._create(options)
        except EngramError as exc:
            raise CommandError(exc.message) from exc
        result = {"org_id": str(org.id), "project_id": str(project.id), "api_key": issued.plaintext}
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        self.stdout.write(f"organization {org.name}: {org.id}")
        self.stdout.write(f"project      {project.name}: {project.id}")
        self.stdout.write(f"API key (shown once, keep it secret): {issued.plaintext}")

    def _create(self, options: dict[str, Any]) -> Any:
        if not options["existing_org"]:
            return tenant_bootstrap(
                org_name=options["org"],
                project_name=options["project"],
                actor=CLI_ACTOR,
                key_name=options["key_name"],
            )
        org = Organization.objects.filter(name=options["org"]).order_by("created_at").first()
        if org is None:
            raise CommandError(f"no organization named {options['org']!r}")
        project = project_create(organization=org, name=options["project"], actor=CLI_ACTOR)
        issued = api_key_create(project=project, name=options["key_name"], actor=CLI_ACTOR)
        return org, project, issued

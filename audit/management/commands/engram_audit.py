"""`manage.py engram_audit verify [--project ID]`: recompute every hash chain."""

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit.verification import ChainVerdict, chain_verify
from config.errors import EngramError
from tenants.context import organization_context, tenant_context
from tenants.models import Organization, Project
from tenants.services import project_id_parse


class Command(BaseCommand):
    help = "Verify the audit hash chains; exits non-zero naming the first broken link."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        verify = sub.add_parser("verify", help="verify chains")
        verify.add_argument("--project", help="only this project's chain")

    def handle(self, *args: Any, **options: Any) -> None:
        verdicts = list(self._verify(options.get("project")))
        broken = [verdict for verdict in verdicts if not verdict.ok]
        for verdict in verdicts:
            state = "ok" if verdict.ok else f"BROKEN at seq {verdict.broken_seq}: {verdict.reason}"
            self.stdout.write(f"chain {verdict.chain_id}: {verdict.events_checked} events, {state}")
        if broken:
            first = broken[0]
            raise CommandError(
                f"audit chain {first.chain_id} is broken at seq {first.broken_seq}: {first.reason}"
            )
        self.stdout.write(self.style.SUCCESS(f"{len(verdicts)} chain(s) verified"))

    def _verify(self, project_id: str | None) -> Any:
        projects = Project.objects.all()
        if project_id:
            try:
                projects = projects.filter(pk=project_id_parse(project_id))
            except EngramError as exc:
                raise CommandError(exc.message) from exc
            if not projects.exists():
                raise CommandError(f"no project {project_id}")
        for project in projects.order_by("created_at"):
            with tenant_context(project.id, project.organization_id):
                yield chain_verify(project.id)
        if project_id:
            return
        for org in Organization.objects.order_by("created_at"):
            with organization_context(org.id):
                yield chain_verify(org.id)


__all__ = ["ChainVerdict"]

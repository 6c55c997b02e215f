"""`manage.py engram_audit verify [--project ID]`: recompute every hash chain and check its
signed checkpoints.
`manage.py engram_audit checkpoint`: sign every chain's head now (the beat job does hourly).
`manage.py engram_audit export --project ID [--since DATE] [--until DATE] [--output FILE]`:
the project's events as JSONL (chain order, with hashes, so a range verifies offline).
`manage.py engram_audit sweep [--project ID]`: run the retention sweep now (beat runs it
every ENGRAM_RETENTION_SWEEP_SECONDS)."""

from argparse import ArgumentParser
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime

from audit.checkpoints import CheckpointVerdict, checkpoint_verify, checkpoints_write_all
from audit.selectors import audit_export_jsonl
from audit.sweeper import retention_sweep_project
from audit.verification import ChainVerdict, chain_verify
from tenants.context import organization_context, tenant_context
from tenants.models import Organization, Project


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None and (day := parse_date(value)) is not None:
        parsed = datetime(day.year, day.month, day.day, tzinfo=UTC)
    if parsed is None:
        raise CommandError(f"{value!r} is not an ISO date or datetime")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Verify, checkpoint or export the audit hash chains."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        verify = sub.add_parser("verify", help="verify chains and their signed checkpoints")
        verify.add_argument("--project", help="only this project's chain")
        sub.add_parser("checkpoint", help="sign every chain's head now")
        export = sub.add_parser("export", help="a project's events as JSONL")
        export.add_argument("--project", required=True)
        export.add_argument("--since", help="ISO date or datetime (inclusive)")
        export.add_argument("--until", help="ISO date or datetime (exclusive)")
        export.add_argument("--output", help="file to write (default: stdout)")
        sweep = sub.add_parser("sweep", help="run the retention sweep now")
        sweep.add_argument("--project", help="only this project")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _verify(self, options: dict[str, Any]) -> None:
        results = list(self._verdicts(options.get("project")))
        problems = []
        for chain, signed in results:
            state = "ok" if chain.ok else f"BROKEN at seq {chain.broken_seq}: {chain.reason}"
            signed_state = (
                f"{signed.checkpoints_checked} checkpoint(s) ok"
                if signed.ok
                else f"CHECKPOINT FAILURE: {signed.reason}"
            )
            self.stdout.write(
                f"chain {chain.chain_id}: {chain.events_checked} events, {state}; {signed_state}"
            )
            if not chain.ok:
                problems.append(f"is broken at seq {chain.broken_seq}: {chain.reason}")
            if not signed.ok:
                problems.append(f"fails its signed checkpoint: {signed.reason}")
        if problems:
            first = next(chain for chain, signed in results if not (chain.ok and signed.ok))
            raise CommandError(f"audit chain {first.chain_id} {problems[0]}")
        self.stdout.write(self.style.SUCCESS(f"{len(results)} chain(s) verified"))

    def _verdicts(self, project_id: str | None) -> Iterator[tuple[ChainVerdict, CheckpointVerdict]]:
        projects = Project.objects.all()
        if project_id:
            projects = projects.filter(pk=project_id)
            if not projects.exists():
                raise CommandError(f"no project {project_id}")
        for project in projects.order_by("created_at"):
            with tenant_context(project.id, project.organization_id):
                yield chain_verify(project.id), checkpoint_verify(project.id)
        if project_id:
            return
        for org in Organization.objects.order_by("created_at"):
            with organization_context(org.id):
                yield chain_verify(org.id), checkpoint_verify(org.id)

    def _checkpoint(self, options: dict[str, Any]) -> None:
        written = checkpoints_write_all()
        for checkpoint in written:
            self.stdout.write(f"chain {checkpoint.chain_id}: signed head at seq {checkpoint.seq}")
        self.stdout.write(self.style.SUCCESS(f"{len(written)} checkpoint(s) written"))

    def _sweep(self, options: dict[str, Any]) -> None:
        projects = Project.objects.select_related("organization").order_by("created_at")
        if options.get("project"):
            projects = projects.filter(pk=options["project"])
        for project in projects:
            report = retention_sweep_project(project=project)
            state = "skipped (legal hold)" if report.held else dict(report.removed) or "nothing"
            self.stdout.write(f"project {project.id}: {state}")

    def _export(self, options: dict[str, Any]) -> None:
        project = Project.objects.select_related("organization").filter(pk=options["project"])
        found = project.first()
        if found is None:
            raise CommandError(f"no project {options['project']}")
        lines = audit_export_jsonl(
            project=found, since=_when(options.get("since")), until=_when(options.get("until"))
        )
        count = 0
        if options.get("output"):
            with open(options["output"], "w", encoding="utf-8") as out:
                for count, line in enumerate(lines, start=1):  # noqa: B007 - counted
                    out.write(line)
        else:
            for count, line in enumerate(lines, start=1):  # noqa: B007 - counted
                self.stdout.write(line, ending="")
        self.stderr.write(f"{count} event(s) exported")


__all__ = ["ChainVerdict"]

"""`manage.py engram_import_mem0 --project ID --file export.json [--dry-run]`

Imports memories exported from Mem0 (see integrations/mem0_import.py for the formats) into
one project, with a progress bar on stderr. Safe to run again: duplicates are skipped.
"""

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from audit.services import Actor
from config.errors import EngramError
from integrations.mem0_import import ImportFormatError, mem0_import, records_load
from tenants.selectors import project_get
from tenants.services import project_id_parse

IMPORT_ACTOR = Actor("cli", "engram_import_mem0")


class Command(BaseCommand):
    help = "Import memories from a Mem0 export (JSON / JSON Lines) into a project."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--project", required=True, help="project id")
        parser.add_argument("--file", required=True, type=Path, help="the Mem0 export")
        parser.add_argument("--dry-run", action="store_true", help="validate, store nothing")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            project = project_get(project_id=project_id_parse(options["project"]))
            records = records_load(options["file"])
        except (EngramError, ImportFormatError, OSError, ValueError) as exc:
            raise CommandError(str(getattr(exc, "message", exc))) from exc
        with tqdm(
            total=len(records), unit="memory", disable=options["no_progress"], file=self.stderr
        ) as bar:
            report = mem0_import(
                project=project,
                records=records,
                actor=IMPORT_ACTOR,
                dry_run=options["dry_run"],
                progress=bar.update,
            )
        verb = "would import" if options["dry_run"] else "imported"
        self.stdout.write(
            f"read {report.read}, {verb} {report.imported}, duplicates {report.duplicates}, "
            f"skipped {report.skipped}"
        )
        for problem in report.problems:
            self.stderr.write(f"  skipped {problem}")

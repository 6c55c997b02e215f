"""`manage.py engram_keys rotate --project ID [--wait] | rotate-master | status --project ID`

rotate         a new data-key version takes over writes now; rows sealed with older
               versions are re-encrypted in the background (Celery), or here with --wait.
rotate-master  re-wrap every data key under ENGRAM_MASTER_KEY (the old master must still be
               listed in ENGRAM_MASTER_KEY_PREVIOUS); no content row is touched.
status         key versions and ciphertexts still waiting for re-encryption.
"""

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from audit.services import CLI_ACTOR, audit_record
from config.errors import EngramError
from tenants.context import tenant_context
from tenants.keyring import data_key_rotate
from tenants.models import DataKey, Project
from tenants.selectors import project_get
from tenants.services import project_id_parse
from tenants.tasks import (
    data_reencrypt_task,
    master_key_rewrap,
    project_reencrypt,
    stale_ciphertexts,
)


class Command(BaseCommand):
    help = "Rotate a project's data key (re-encrypting old rows) or the master key."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        rotate = sub.add_parser("rotate", help="new data-key version, re-encrypt old rows")
        rotate.add_argument("--project", required=True, help="project id")
        rotate.add_argument("--wait", action="store_true", help="re-encrypt here, not in Celery")
        sub.add_parser("rotate-master", help="re-wrap all data keys under the current master")
        status = sub.add_parser("status", help="key versions and rows left to re-encrypt")
        status.add_argument("--project", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] == "rotate-master":
                self._rotate_master()
                return
            project = project_get(project_id=project_id_parse(options["project"]))
            getattr(self, f"_{options['action']}")(project, options)
        except (EngramError, ValueError) as exc:
            raise CommandError(getattr(exc, "message", str(exc))) from exc

    def _rotate(self, project: Project, options: dict[str, Any]) -> None:
        with tenant_context(project.id, project.organization_id):
            key = data_key_rotate(project.id)
            audit_record(
                org_id=project.organization_id,
                project_id=project.id,
                actor=CLI_ACTOR,
                action="keyring.data_key_rotated",
                target_type="data_key",
                target_id=str(key.pk),
                extra={"version": key.version},
            )
            if not options["wait"]:
                transaction.on_commit(lambda: data_reencrypt_task.delay(str(project.id)))
        self.stdout.write(f"data key version {key.version} is now active for writes")
        if not options["wait"]:
            self.stdout.write("re-encryption of older rows queued (Celery)")
            return
        done = project_reencrypt(project=project, actor=CLI_ACTOR, progress=self._progress)
        self.stdout.write(f"re-encrypted {sum(done.values())} value(s)")
        self._print_stale(project)

    def _progress(self, label: str, count: int) -> None:
        self.stdout.write(f"  {label}: {count} re-encrypted")

    def _print_stale(self, project: Project) -> None:
        left = {
            label: count for label, count in stale_ciphertexts(project=project).items() if count
        }
        if left:
            self.stdout.write(f"still on retired key versions: {left}")
        else:
            self.stdout.write(self.style.SUCCESS("no ciphertext uses a retired data key"))

    def _status(self, project: Project, options: dict[str, Any]) -> None:
        with tenant_context(project.id, project.organization_id):
            keys = list(
                DataKey.objects.filter(project=project)
                .exclude(purpose=DataKey.Purpose.SUBJECT)
                .order_by("purpose", "version")
            )
            subject_keys = DataKey.objects.filter(
                project=project, purpose=DataKey.Purpose.SUBJECT
            ).count()
        for key in keys:
            self.stdout.write(f"{key.purpose} v{key.version}: {key.state} (master {key.kek_id})")
        self.stdout.write(f"subject keys: {subject_keys}")
        self._print_stale(project)

    def _rotate_master(self) -> None:
        rewrapped = master_key_rewrap(actor=CLI_ACTOR)
        total = sum(rewrapped.values())
        self.stdout.write(f"re-wrapped {total} data key(s) in {len(rewrapped)} project(s)")

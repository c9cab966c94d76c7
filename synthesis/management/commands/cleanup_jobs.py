from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from synthesis.models import Job
from synthesis.orphans import sweep_orphan_files


class Command(BaseCommand):
    help = (
        f"Delete jobs past retention with their audio: completed and failed after TTS_RETENTION_DAYS "
        f"(now {settings.TTS_RETENTION_DAYS}), cancelled after TTS_CANCELLED_RETENTION_DAYS "
        f"(now {settings.TTS_CANCELLED_RETENTION_DAYS}), counted from when they ended. A missing file is "
        f"not an error; a job whose file cannot be deleted is kept for the next run. Also forgets API "
        f"Idempotency-Keys older than TTS_IDEMPOTENCY_KEY_HOURS (now {settings.TTS_IDEMPOTENCY_KEY_HOURS}). "
        f"Also deletes stored files no job references (and temporary partial files) older than "
        f"TTS_ORPHAN_GRACE_SECONDS (now {settings.TTS_ORPHAN_GRACE_SECONDS}); -v 2 lists them. "
        f"Also runs daily from the worker's schedule."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=500,
            help="Jobs fetched per batch (default 500); each row is deleted in its own short transaction.",
        )

    def handle(self, *args, dry_run=False, batch_size=500, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        counts = Job.objects.delete_expired(batch_size=batch_size, dry_run=dry_run)
        keys = Job.objects.expire_idempotency_keys(dry_run=dry_run)
        hours = settings.TTS_IDEMPOTENCY_KEY_HOURS
        grace = _duration(settings.TTS_ORPHAN_GRACE_SECONDS)

        def report(name, size) -> None:
            if options["verbosity"] >= 2:
                self.stdout.write(f"  orphan {name} ({size} bytes)")

        if dry_run:
            about = "" if counts["exact"] else "about "  # past 1,000: PostgreSQL's estimate
            self.stdout.write(f"would delete {about}{counts['would_delete']} expired job(s) (dry run, nothing deleted)")
            self.stdout.write(f"would forget {keys} idempotency key(s) older than {hours} h")
            orphans = sweep_orphan_files(dry_run=True, report=report)
            self.stdout.write(
                f"would delete {orphans['orphans']} orphan file(s), {orphans['bytes']} bytes, older than {grace}"
                + _uploads(orphans, "would be aborted")
            )
            return
        self.stdout.write(f"deleted {counts['deleted']} expired job(s), {counts['errors']} kept after a storage error")
        self.stdout.write(f"forgot {keys} idempotency key(s) older than {hours} h")
        if counts["errors"]:
            self.stderr.write(
                "some audio files could not be deleted; those jobs were kept and the next run retries"
                + (" (stopped early: a whole batch failed)" if counts["stopped_early"] else "")
            )
        if counts["stopped_early"]:
            self.stderr.write("orphan files not swept: the storage is failing")
            return
        orphans = sweep_orphan_files(report=report)
        self.stdout.write(
            f"deleted {orphans['deleted']} orphan file(s), {orphans['bytes']} bytes, older than {grace}, "
            f"{orphans['errors']} failed" + _uploads(orphans, "aborted")
        )


def _duration(seconds: int) -> str:
    return f"{seconds // 3600} h" if seconds % 3600 == 0 else f"{seconds} s"


def _uploads(orphans: dict, verb: str) -> str:
    n = orphans["unfinished_uploads"]
    return f"; {n} unfinished S3 upload(s) {verb}" if n else ""

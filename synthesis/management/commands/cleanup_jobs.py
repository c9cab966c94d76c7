from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from synthesis.models import Job


class Command(BaseCommand):
    help = (
        f"Delete jobs past retention with their audio: completed and failed after TTS_RETENTION_DAYS "
        f"(now {settings.TTS_RETENTION_DAYS}), cancelled after TTS_CANCELLED_RETENTION_DAYS "
        f"(now {settings.TTS_CANCELLED_RETENTION_DAYS}), counted from when they ended. A missing file is "
        f"not an error; a job whose file cannot be deleted is kept for the next run. Also forgets API "
        f"Idempotency-Keys older than TTS_IDEMPOTENCY_KEY_HOURS (now {settings.TTS_IDEMPOTENCY_KEY_HOURS}). "
        f"Also runs daily from the worker's schedule."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=500,
            help="Jobs fetched per batch (default 500); each row is deleted in its own short transaction.",
        )

    def handle(self, *args, dry_run=False, batch_size=500, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        counts = Job.objects.delete_expired(batch_size=batch_size, dry_run=dry_run)
        keys = Job.objects.expire_idempotency_keys(dry_run=dry_run)
        hours = settings.TTS_IDEMPOTENCY_KEY_HOURS
        if dry_run:
            self.stdout.write(f"would delete {counts['would_delete']} expired job(s) (dry run, nothing deleted)")
            self.stdout.write(f"would forget {keys} idempotency key(s) older than {hours} h")
            return
        self.stdout.write(f"deleted {counts['deleted']} expired job(s), {counts['errors']} kept after a storage error")
        self.stdout.write(f"forgot {keys} idempotency key(s) older than {hours} h")
        if counts["errors"]:
            self.stderr.write(
                "some audio files could not be deleted; those jobs were kept and the next run retries"
                + (" (stopped early: a whole batch failed)" if counts["stopped_early"] else "")
            )

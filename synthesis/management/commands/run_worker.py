from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from synthesis.models import Job
from synthesis.redelivery import release_stranded_tasks
from synthesis.tasks import ensure_schedules


class Command(BaseCommand):
    help = (
        "Start the synthesis worker: fail the jobs this worker name left in "
        "processing when it last stopped, make sure the schedules exist, then "
        "run the django-q2 cluster."
    )

    def handle(self, *args, **options):
        # django-q2 has no cluster start-up signal, so this wrapper is where
        # orphans of a previous run (killed, OOM, deploy) are ended.
        interrupted = Job.objects.fail_interrupted(settings.TTS_WORKER_NAME)
        # Tasks the dead run had pulled but not claimed stay locked in the
        # queue for django-q2's `retry` (13 minutes): hand them back now.
        released = release_stranded_tasks()
        schedules = ensure_schedules()
        self.stdout.write(
            f"worker {settings.TTS_WORKER_NAME}: {interrupted} interrupted job(s) failed, "
            f"{released} stranded task(s) released, {schedules} schedule(s) ensured"
        )
        call_command("qcluster")

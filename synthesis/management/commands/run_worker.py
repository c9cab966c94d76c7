import signal

from django.conf import settings
from django.core.management.base import BaseCommand
from django_q.cluster import Cluster

from synthesis.models import Job
from synthesis.redelivery import release_stranded_tasks
from synthesis.tasks import ensure_schedules


class Command(BaseCommand):
    help = (
        "Start the synthesis worker: fail the jobs this worker name left in "
        "processing when it last stopped, make sure the schedules exist, then "
        "run the django-q2 cluster."
    )

    def handle(self, *args, **options) -> None:
        try:
            # django-q2 has no cluster start-up signal, so this wrapper is where
            # orphans of a previous run (killed, OOM, deploy) are ended.
            interrupted = Job.objects.fail_interrupted(settings.TTS_WORKER_NAME)
            # Tasks the dead run had pulled but not claimed stay locked in the
            # queue for django-q2's `retry` (13 minutes): hand them back now.
            released = release_stranded_tasks()
            schedules = ensure_schedules()
        except KeyboardInterrupt:
            return  # Ctrl-C before the cluster started: nothing to stop, nothing to say
        self.stdout.write(
            f"worker {settings.TTS_WORKER_NAME}: {interrupted} interrupted job(s) failed, "
            f"{released} stranded task(s) released, {schedules} schedule(s) ensured"
        )
        # What `manage.py qcluster` does, with a cluster that stops only once.
        OneStopCluster().start()


class OneStopCluster(Cluster):
    def sig_handler(self, signum, frame) -> None:
        # django-q2 stops from inside its signal handler, waiting there for the
        # sentinel; each further SIGINT/SIGTERM in that wait started the stop
        # again, one level deeper (`make run`'s old `kill 0` trap sent a storm
        # of them: a RecursionError). The first signal is enough.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        super().sig_handler(signum, frame)

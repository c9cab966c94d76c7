import signal

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connections
from django_q.cluster import Cluster

from synthesis import pipeline
from synthesis.models import Job
from synthesis.redelivery import release_stranded_tasks
from synthesis.tasks import ensure_schedules


class Command(BaseCommand):
    help = (
        "Start the synthesis worker: release (to resume) the jobs this worker "
        "name left in processing when it last stopped, make sure the schedules "
        "exist, then run the django-q2 cluster. SIGTERM stops it gracefully: "
        "running jobs are handed back with their kept turns."
    )

    def handle(self, *args, **options) -> None:
        try:
            # django-q2 has no cluster start-up signal, so this wrapper is where
            # orphans of a previous run (killed, OOM, deploy) are released.
            interrupted = Job.objects.release_interrupted(settings.TTS_WORKER_NAME)
            # Tasks the dead run had pulled but not claimed stay locked in the
            # queue for django-q2's `retry` (13 minutes): hand them back now.
            released = release_stranded_tasks()
            schedules = ensure_schedules()
        except KeyboardInterrupt:
            return  # Ctrl-C before the cluster started: nothing to stop, nothing to say
        self.stdout.write(
            f"worker {settings.TTS_WORKER_NAME}: {interrupted} interrupted job(s) released to resume, "
            f"{released} stranded task(s) released, {schedules} schedule(s) ensured"
        )
        self.stdout.flush()
        # The cluster's processes are forked from this one: none of them may
        # inherit (and later close) this process's connection.
        connections.close_all()
        # What `manage.py qcluster` does, with a cluster that stops only once
        # and first tells the runs to hand their jobs back.
        OneStopCluster().start()


class OneStopCluster(Cluster):
    def sig_handler(self, signum, frame) -> None:
        # Every process of the cluster shares this event (it was created
        # before django-q2 forked them): each run sees it within a fraction of
        # a second, gives its job back with its kept turns and returns, so
        # django-q2's stop, which waits for the workers, is over in seconds
        # instead of when the jobs would have finished.
        pipeline.shutdown.set()
        # django-q2 stops from inside its signal handler, waiting there for the
        # sentinel; each further SIGINT/SIGTERM in that wait started the stop
        # again, one level deeper (`make run`'s old `kill 0` trap sent a storm
        # of them: a RecursionError). The first signal is enough.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        super().sig_handler(signum, frame)

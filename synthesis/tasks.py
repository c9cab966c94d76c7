"""django-q2 task entry points. Thin: they call model methods."""

from django.conf import settings
from django.db import connection, transaction
from django_q.models import Schedule

from synthesis.models import Job
from synthesis.orphans import sweep_orphan_files
from synthesis.pipeline import SynthesisRun
from synthesis.redelivery import release_stranded_tasks


def run_synthesis(job_id: str):
    # The ORM broker delivers at least once: a second delivery finds nothing
    # pending and returns here.
    job = Job.objects.claim(job_id, settings.TTS_WORKER_NAME)
    if job is None:
        return "not claimed"
    SynthesisRun(job).run()
    return job.status


def reap_jobs():
    return {**Job.objects.reap(), "released_tasks": release_stranded_tasks()}


def cleanup_jobs():
    return {
        **Job.objects.delete_expired(),
        "idempotency_keys_expired": Job.objects.expire_idempotency_keys(),
        "orphan_files": sweep_orphan_files(),
    }


# Schedule rows have no unique name in django-q2, and every cluster ensures
# them at start-up: two clusters starting at once (a deploy, a host reboot)
# each found none and each created one, and from then on every start-up died
# in update_or_create's get() on the duplicate (bench/soak.py found it). So
# the check and the insert run under one lock, and duplicates already made
# are merged into the oldest row.
SCHEDULES = [
    {"name": "reap_jobs", "func": "synthesis.tasks.reap_jobs", "schedule_type": "I", "minutes": 1},
    {"name": "cleanup_jobs", "func": "synthesis.tasks.cleanup_jobs", "schedule_type": "D", "minutes": None},
]
# Any constant: the key of the PostgreSQL advisory lock start-ups take.
SCHEDULES_LOCK = 0x7474_736A_6F62  # "ttsjob"


def ensure_schedules() -> int:
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SCHEDULES_LOCK])
        # (SQLite: the IMMEDIATE transaction already holds the write lock.)
        for spec in SCHEDULES:
            spec = dict(spec)
            name = spec.pop("name")
            rows = list(Schedule.objects.filter(name=name).order_by("pk"))
            if not rows:
                Schedule.objects.create(name=name, repeats=-1, **spec)
                continue
            Schedule.objects.filter(pk__in=[row.pk for row in rows[1:]]).delete()
            Schedule.objects.filter(pk=rows[0].pk).update(repeats=-1, **spec)
    return len(SCHEDULES)

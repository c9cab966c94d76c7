"""django-q2 task entry points. Thin: they call model methods."""

from django.conf import settings
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


# Schedule rows have no unique name in django-q2: update_or_create on the name
# keeps start-up idempotent however many times the worker restarts.
SCHEDULES = [
    {"name": "reap_jobs", "func": "synthesis.tasks.reap_jobs", "schedule_type": "I", "minutes": 1},
    {"name": "cleanup_jobs", "func": "synthesis.tasks.cleanup_jobs", "schedule_type": "D", "minutes": None},
]


def ensure_schedules() -> int:
    for spec in SCHEDULES:
        spec = dict(spec)
        name = spec.pop("name")
        Schedule.objects.update_or_create(name=name, defaults={**spec, "repeats": -1})
    return len(SCHEDULES)

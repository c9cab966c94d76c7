from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from synthesis.models import Job
from tests.factories import make_job

pytestmark = pytest.mark.django_db


def test_reap_jobs_fails_stuck_jobs_and_prints_counts(alice, settings):
    now = timezone.now()
    stale = make_job(alice, Job.Status.PROCESSING, heartbeat_at=now - timedelta(minutes=5), attempts=3)
    resumable = make_job(alice, Job.Status.PROCESSING, heartbeat_at=now - timedelta(minutes=5), attempts=1)
    healthy = make_job(alice, Job.Status.PROCESSING)
    late = make_job(alice, Job.Status.PENDING, ended_days_ago=None, created_at=now - timedelta(hours=25))
    out = StringIO()
    with time_machine.travel(now, tick=False):
        call_command("reap_jobs", stdout=out)
    # "stale" counts both: one released to resume, one failed with its attempts used up.
    assert out.getvalue().strip() == "timeout: 0, stale: 2, pending_expired: 1, released_tasks: 0"
    stale.refresh_from_db(), healthy.refresh_from_db(), late.refresh_from_db(), resumable.refresh_from_db()
    assert (stale.status, stale.error_code) == ("failed", "WORKER_LOST")
    assert (resumable.status, resumable.error_code) == ("pending", "")
    assert (late.status, late.error_code) == ("failed", "QUEUE_EXPIRED")
    assert healthy.status == "processing"


def reap_queries(n, alice, now):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(n):
        make_job(alice, Job.Status.PENDING, ended_days_ago=None, created_at=now - timedelta(hours=25))
    with time_machine.travel(now, tick=False), CaptureQueriesContext(connection) as captured:
        counts = Job.objects.reap()
    assert counts["pending_expired"] == n
    return len(captured)


def test_a_backlog_of_expired_jobs_is_failed_in_batches(alice, settings, monkeypatch):
    """A day without workers leaves thousands of pending jobs to expire at
    once: the reaper's queries grow with the batches, not the jobs."""
    monkeypatch.setattr(Job.objects.__class__, "REAP_BATCH", 10, raising=False)
    now = timezone.now()
    assert reap_queries(3, alice, now) == reap_queries(9, alice, now)
    assert Job.objects.filter(status=Job.Status.PENDING).count() == 0
    # Past a batch, one batch more.
    assert reap_queries(25, alice, now) > reap_queries(9, alice, now)
    assert Job.objects.filter(status=Job.Status.FAILED, error_code="QUEUE_EXPIRED").count() == 3 + 9 + 25 + 9


def test_reaping_deletes_the_segments_of_failed_jobs(alice, settings):
    from django.core.files.base import ContentFile

    from synthesis.models import Segment

    now = timezone.now()
    late = make_job(alice, Job.Status.PENDING, ended_days_ago=None, created_at=now - timedelta(hours=25))
    kept = make_job(alice, Job.Status.PENDING, ended_days_ago=None)
    for job in (late, kept):
        segment = Segment(job=job, turn_index=0, content_key="k", frames=1, sample_rate=22050)
        segment.file.save(f"{job.pk}-0.flac", ContentFile(b"x"), save=True)
    name = Segment.objects.get(job=late).file.name
    with time_machine.travel(now, tick=False):
        assert Job.objects.reap()["pending_expired"] == 1
    assert list(Segment.objects.values_list("job_id", flat=True)) == [kept.pk]
    assert not Segment._meta.get_field("file").storage.exists(name)

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

import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from synthesis.models import Job
from tests.factories import make_job

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def stats(*args) -> str:
    out = StringIO()
    with time_machine.travel(NOW, tick=False):
        call_command("job_stats", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def jobs(alice, bob):
    with time_machine.travel(NOW, tick=False):
        make_job(alice, Job.Status.PENDING, ended_days_ago=None, created_at=NOW - timedelta(minutes=5))
        make_job(bob, Job.Status.PENDING, ended_days_ago=None, created_at=NOW - timedelta(seconds=30))
        make_job(bob, Job.Status.PROCESSING)
        # Finished within the hour, submission-to-ready latencies 10 s, 20 s, 60 s: median 20 s.
        for latency in (10, 20, 60):
            make_job(
                alice,
                Job.Status.COMPLETED,
                ended_days_ago=None,
                audio=True,
                created_at=NOW - timedelta(minutes=10, seconds=latency),
                completed_at=NOW - timedelta(minutes=10),
            )
        make_job(
            alice,
            Job.Status.FAILED,
            ended_days_ago=None,
            created_at=NOW - timedelta(minutes=3),
            completed_at=NOW - timedelta(minutes=2),
        )
        # Finished two hours ago: counted by status, not in the last hour.
        make_job(
            bob,
            Job.Status.COMPLETED,
            ended_days_ago=None,
            created_at=NOW - timedelta(hours=2, seconds=1),
            completed_at=NOW - timedelta(hours=2),
        )


def test_json_gives_every_figure(jobs):
    data = json.loads(stats("--json"))
    assert data["jobs_by_status"] == {"pending": 2, "processing": 1, "completed": 4, "failed": 1, "cancelled": 0}
    assert data["jobs_total"] == 8
    assert data["oldest_pending_age_seconds"] == 300
    assert data["finished_last_hour"] == {"completed": 3, "failed": 1, "cancelled": 0}
    assert data["median_latency_ms_last_hour"] == 20_000
    # Three completed jobs have a file (1,000 bytes each, as recorded by the worker).
    assert data["storage_files"] == 3
    assert data["storage_bytes"] == 3000


def test_table_is_readable(jobs):
    output = stats()
    assert "jobs pending" in output and "2" in output
    assert "oldest pending            5 min" in output
    assert "3 completed, 1 failed, 0 cancelled" in output
    assert "20.0 s" in output
    assert "3 files, 2.9 KB (3000 bytes)" in output


def test_empty_table_has_no_figures_to_divide(db):
    data = json.loads(stats("--json"))
    assert data["jobs_total"] == 0
    assert data["oldest_pending_age_seconds"] is None
    assert data["median_latency_ms_last_hour"] is None
    assert data["storage_bytes"] == 0

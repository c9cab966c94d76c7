import re
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django_q.models import Schedule

from synthesis.models import Job
from synthesis.storage import AtomicFileSystemStorage
from synthesis.tasks import ensure_schedules
from tests.factories import make_job

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class DeleteFailsStorage(AtomicFileSystemStorage):
    """The real local storage, except that deleting fails the way an
    unreachable bucket does."""

    def delete(self, name):
        raise OSError("storage unavailable")


def cleanup(*args) -> str:
    out = StringIO()
    call_command("cleanup_jobs", *args, stdout=out, stderr=out)
    return out.getvalue()


@pytest.fixture
def jobs(alice, bob):
    """Jobs on both sides of each retention boundary (30 days, 7 for cancelled)."""
    with time_machine.travel(NOW, tick=False):
        return {
            "completed_old": make_job(alice, Job.Status.COMPLETED, ended_days_ago=31, audio=True),
            "completed_recent": make_job(alice, Job.Status.COMPLETED, ended_days_ago=29, audio=True),
            "failed_old": make_job(bob, Job.Status.FAILED, ended_days_ago=30.01),
            "failed_recent": make_job(bob, Job.Status.FAILED, ended_days_ago=20),
            "cancelled_old": make_job(alice, Job.Status.CANCELLED, ended_days_ago=8),
            "cancelled_recent": make_job(alice, Job.Status.CANCELLED, ended_days_ago=6),
            "pending_ancient": make_job(
                bob, Job.Status.PENDING, ended_days_ago=None, created_at=NOW - timedelta(days=90)
            ),
            "processing": make_job(bob, Job.Status.PROCESSING),
        }


EXPIRED = {"completed_old", "failed_old", "cancelled_old"}


def test_cleanup_deletes_exactly_the_expired_jobs_and_their_files(jobs):
    old_file = jobs["completed_old"].audio.name
    kept_file = jobs["completed_recent"].audio.name
    with time_machine.travel(NOW, tick=False):
        output = cleanup()
    assert "deleted 3 expired job(s), 0 kept" in output
    remaining = set(Job.objects.values_list("pk", flat=True))
    assert remaining == {job.pk for name, job in jobs.items() if name not in EXPIRED}
    assert not default_storage.exists(old_file)
    assert default_storage.exists(kept_file)


def test_dry_run_counts_and_deletes_nothing(jobs):
    with time_machine.travel(NOW, tick=False):
        output = cleanup("--dry-run")
    assert "would delete 3 expired job(s)" in output
    assert Job.objects.count() == len(jobs)
    assert default_storage.exists(jobs["completed_old"].audio.name)


def test_a_job_whose_file_is_already_gone_is_still_deleted(jobs):
    default_storage.delete(jobs["completed_old"].audio.name)
    with time_machine.travel(NOW, tick=False):
        output = cleanup()
    assert "deleted 3" in output
    assert not Job.objects.filter(pk=jobs["completed_old"].pk).exists()


def test_a_storage_failure_keeps_the_row_for_the_next_run(jobs, settings):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "tests.test_cleanup_jobs.DeleteFailsStorage"}}
    with time_machine.travel(NOW, tick=False):
        output = cleanup()
    # The two expired jobs without audio go; the one with a file stays, file and all.
    assert "deleted 2 expired job(s), 1 kept after a storage error" in output
    assert Job.objects.filter(pk=jobs["completed_old"].pk).exists()
    assert default_storage.exists(jobs["completed_old"].audio.name)
    assert not Job.objects.filter(pk__in=[jobs["failed_old"].pk, jobs["cancelled_old"].pk]).exists()

    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "synthesis.storage.AtomicFileSystemStorage"}}
    with time_machine.travel(NOW, tick=False):
        assert "deleted 1 expired" in cleanup()
    assert not Job.objects.filter(pk=jobs["completed_old"].pk).exists()


def test_a_storage_outage_stops_after_one_failed_batch(alice, settings):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "tests.test_cleanup_jobs.DeleteFailsStorage"}}
    with time_machine.travel(NOW, tick=False):
        for _ in range(5):
            make_job(alice, Job.Status.COMPLETED, ended_days_ago=40, audio=True)
        output = cleanup("--batch-size", "2")
    assert "deleted 0 expired job(s), 2 kept" in output
    assert "stopped early" in output
    assert Job.objects.count() == 5


def test_batches_cover_every_expired_job(alice):
    with time_machine.travel(NOW, tick=False):
        # Same completed_at for several rows: the keyset must not skip ties.
        for _ in range(7):
            make_job(alice, Job.Status.FAILED, ended_days_ago=45)
        make_job(alice, Job.Status.FAILED, ended_days_ago=1)
        output = cleanup("--batch-size", "3")
    assert "deleted 7 expired" in output
    assert Job.objects.count() == 1


def test_batch_size_must_be_positive(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        cleanup("--batch-size", "0")


def test_retention_follows_the_settings(alice, settings):
    settings.TTS_RETENTION_DAYS = 3
    with time_machine.travel(NOW, tick=False):
        make_job(alice, Job.Status.COMPLETED, ended_days_ago=4)
        make_job(alice, Job.Status.COMPLETED, ended_days_ago=2)
        assert "deleted 1" in cleanup()
    assert Job.objects.count() == 1


def test_the_daily_schedule_exists_once_however_often_the_worker_starts(db):
    ensure_schedules()
    ensure_schedules()
    schedule = Schedule.objects.get(name="cleanup_jobs")
    assert schedule.func == "synthesis.tasks.cleanup_jobs"
    assert schedule.schedule_type == Schedule.DAILY


@pytest.mark.django_db(transaction=True)
def test_start_ups_at_the_same_moment_make_each_schedule_once():
    """Two clusters starting together each found no schedule and each made
    one; every later start-up then died on the duplicate (bench/soak.py)."""
    import threading

    from django.db import connection

    barrier = threading.Barrier(6)
    errors = []

    def start_up():
        try:
            barrier.wait()
            ensure_schedules()
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=start_up) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(Schedule.objects.values_list("name", flat=True)) == ["cleanup_jobs", "reap_jobs"]


def test_duplicate_schedules_are_merged_into_the_oldest(db):
    ensure_schedules()
    oldest = Schedule.objects.get(name="reap_jobs")
    Schedule.objects.create(name="reap_jobs", func="synthesis.tasks.reap_jobs", schedule_type="I", minutes=1)
    ensure_schedules()
    assert list(Schedule.objects.filter(name="reap_jobs")) == [oldest]


def test_help_text_names_the_options():
    from synthesis.management.commands.cleanup_jobs import Command

    parser = Command().create_parser("manage.py", "cleanup_jobs")
    text = parser.format_help()
    assert "--dry-run" in text and "--batch-size" in text and "retention" in text.lower()


def test_dry_run_counts_a_large_backlog_only_so_far(alice):
    # Past 1,000 the figure is PostgreSQL's estimate (said as such), not a
    # count of every expired row; SQLite, for small installations, counts.
    long_ago = timezone.now() - timedelta(days=90)
    Job.objects.bulk_create(
        Job(owner=alice, status=Job.Status.FAILED, provider="espeak", input_params={}, completed_at=long_ago)
        for _ in range(1200)
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE synthesis_job")
    output = cleanup("--dry-run")
    if connection.vendor == "postgresql":
        assert re.search(r"would delete about \d+ expired job\(s\)", output), output
        assert int(re.search(r"about (\d+)", output)[1]) > 1000
    else:
        assert "would delete 1200 expired job(s)" in output

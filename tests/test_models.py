"""Job state machine, per-user limit and the reaper."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from synthesis.models import Job, JobLimitExceeded
from synthesis.validation import clean_job_request
from tests.conftest import dialogue


def params():
    return clean_job_request(dialogue())[1]


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_submits_admit_exactly_three(alice):
    barrier = threading.Barrier(50)
    outcomes = []

    def submit():
        try:
            barrier.wait()
            Job.objects.submit(alice, params(), provider="espeak")
            outcomes.append("accepted")
        except JobLimitExceeded:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("accepted") == 3
    assert outcomes.count("refused") == 47
    assert Job.objects.for_user(alice).active().count() == 3


@pytest.mark.django_db
def test_limits_are_per_user(alice, bob):
    for _ in range(3):
        Job.objects.submit(alice, params(), provider="espeak")
    Job.objects.submit(bob, params(), provider="espeak")
    with pytest.raises(JobLimitExceeded) as refused:
        Job.objects.submit(alice, params(), provider="espeak")
    assert (refused.value.current_jobs, refused.value.max_jobs) == (3, 3)


@pytest.mark.django_db
def test_only_legal_moves(alice):
    job = Job.objects.submit(alice, params(), provider="espeak")
    assert job.complete("x.mp3", {}) is False  # pending cannot complete
    assert job.fail("X", "x") is False  # nor fail from the worker side
    assert job.mark_failed_by_staff() is False
    claimed = Job.objects.claim(job.pk, "w1")
    assert Job.objects.claim(job.pk, "w2") is None
    assert claimed.complete("x.mp3", {"duration_ms": 1}) is True
    assert claimed.fail("X", "x") is False
    assert claimed.cancel() is False  # completed: too late
    claimed.refresh_from_db()
    assert claimed.status == Job.Status.COMPLETED


@pytest.mark.django_db
def test_a_stale_run_token_cannot_move_the_job(alice):
    job = Job.objects.submit(alice, params(), provider="espeak")
    claimed = Job.objects.claim(job.pk, "w1")
    Job.objects.filter(pk=job.pk).update(status=Job.Status.PENDING)
    Job.objects.claim(job.pk, "w2")  # a second run now owns it
    assert claimed.record_progress(1) is False
    assert claimed.complete("x.mp3", {}) is False


@pytest.mark.django_db
def test_reaper(alice, bob, settings):
    settings.TTS_MAX_ACTIVE_JOBS_PER_USER = 10
    settings.TTS_MAX_ATTEMPTS = 1  # no attempt left: a stale run fails
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        old_pending = Job.objects.submit(bob, params(), provider="espeak")
        fresh = Job.objects.claim(Job.objects.submit(alice, params(), provider="espeak").pk, "w1")
        silent = Job.objects.claim(Job.objects.submit(alice, params(), provider="espeak").pk, "w1")
        overdue = Job.objects.claim(Job.objects.submit(alice, params(), provider="espeak").pk, "w1")
    with time_machine.travel(start + timedelta(seconds=settings.TTS_JOB_DEADLINE_SECONDS - 10), tick=False):
        fresh.record_progress(1)
        overdue.record_progress(1)
    with time_machine.travel(start + timedelta(seconds=settings.TTS_JOB_DEADLINE_SECONDS - 5), tick=False):
        counts = Job.objects.reap()
        assert counts == {"timeout": 0, "stale": 1, "pending_expired": 0}
    with time_machine.travel(start + timedelta(hours=24, seconds=1), tick=False):
        counts = Job.objects.reap()
    for job in (old_pending, fresh, silent, overdue):
        job.refresh_from_db()
    assert silent.error_code == "WORKER_LOST"
    assert {fresh.error_code, overdue.error_code} == {"TIMEOUT"}
    assert (old_pending.status, old_pending.error_code) == (Job.Status.FAILED, "QUEUE_EXPIRED")
    assert counts == {"timeout": 2, "stale": 0, "pending_expired": 1}


@pytest.mark.django_db
def test_reaper_leaves_healthy_jobs_alone(alice):
    pending = Job.objects.submit(alice, params(), provider="espeak")
    running = Job.objects.claim(Job.objects.submit(alice, params(), provider="espeak").pk, "w1")
    assert Job.objects.reap() == {"timeout": 0, "stale": 0, "pending_expired": 0}
    pending.refresh_from_db()
    running.refresh_from_db()
    assert (pending.status, running.status) == (Job.Status.PENDING, Job.Status.PROCESSING)


@pytest.mark.django_db
def test_start_up_releases_only_this_workers_orphans(alice):
    from django_q.models import OrmQ

    mine = Job.objects.claim(Job.objects.submit(alice, params(), provider="espeak").pk, "host-a")
    theirs = Job.objects.claim(Job.objects.submit(alice, params(), provider="espeak").pk, "host-b")
    tasks = OrmQ.objects.count()
    assert Job.objects.release_interrupted("host-a") == 1
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.status, mine.error_code, mine.attempts, mine.run_token) == (Job.Status.PENDING, "", 1, None)
    assert theirs.status == Job.Status.PROCESSING
    # Exactly one new task, and the job points at it.
    assert OrmQ.objects.count() == tasks + 1
    assert Job.objects.release_interrupted("host-a") == 0
    assert OrmQ.objects.count() == tasks + 1


@pytest.mark.django_db
def test_a_job_interrupted_max_attempts_times_fails_worker_lost(alice, settings):
    settings.TTS_MAX_ATTEMPTS = 2
    job = Job.objects.submit(alice, params(), provider="espeak")
    for expected in (Job.Status.PENDING, Job.Status.FAILED):
        Job.objects.claim(job.pk, "host-a")
        Job.objects.release_interrupted("host-a")
        job.refresh_from_db()
        assert job.status == expected
    assert (job.error_code, job.attempts) == ("WORKER_LOST", 2)
    assert "interrupted 2 times" in job.error_message


@pytest.mark.django_db
def test_a_dead_process_on_this_host_is_released_at_once(alice):
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid that no longer exists
    dead = Job.objects.claim(Job.objects.submit(alice, params(), provider="espeak").pk, "host-a")
    alive = Job.objects.claim(Job.objects.submit(alice, params(), provider="espeak").pk, "host-a")
    elsewhere = Job.objects.claim(Job.objects.submit(alice, params(), provider="espeak").pk, "host-b")
    Job.objects.filter(pk__in=[dead.pk, elsewhere.pk]).update(worker_pid=gone.pid)
    assert Job.objects.release_dead_runs("host-a") == 1
    statuses = dict(Job.objects.values_list("pk", "status"))
    assert statuses[dead.pk] == Job.Status.PENDING
    # Our own process runs the other one; another host's pids mean nothing here.
    assert statuses[alive.pk] == statuses[elsewhere.pk] == Job.Status.PROCESSING


@pytest.mark.django_db
def test_a_redelivered_task_takes_over_a_stale_run(alice, settings):
    job = Job.objects.submit(alice, params(), provider="espeak")
    first = Job.objects.claim(job.pk, "host-a")
    assert Job.objects.claim(job.pk, "host-b") is None  # alive: not taken over
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    second = Job.objects.claim(job.pk, "host-b")
    assert (second.worker_name, second.attempts) == ("host-b", 2)
    assert first.record_progress(1) is False  # the dead run's token is void


@pytest.mark.django_db
def test_titles_and_expiry(alice, settings):
    job = Job.objects.submit(alice, params(), provider="espeak")
    assert job.title == "Hello there, Bob. Hi Alice. How are you? …"
    assert job.speakers == ["Alice", "Bob", "Carol"]
    assert job.expires_at is None
    job.cancel()
    assert job.expires_at == job.completed_at + timedelta(days=settings.TTS_CANCELLED_RETENTION_DAYS)


@pytest.mark.django_db
def test_results_stored_in_the_old_shape_read_as_the_original_contracts(alice):
    """Jobs completed before migration 0004 (or by a worker still on older
    code during a deploy) stored ``turns: [{index, …}]``."""
    old = {"duration_ms": 900, "turns": [{"index": 0, "speaker": "Alice", "start_ms": 0, "end_ms": 900}]}
    job = Job(owner=alice, provider="espeak", input_params=params(), status=Job.Status.COMPLETED, result_metadata=old)
    assert job.turn_timings == [{"turn_index": 0, "speaker": "Alice", "start_ms": 0, "end_ms": 900}]


@pytest.mark.django_db
def test_migration_0004_converts_stored_results_and_gives_audio_an_id(alice):
    from importlib import import_module

    from django.apps import apps

    migration = import_module("synthesis.migrations.0004_original_contract_results")
    old = {"duration_ms": 900, "turns": [{"index": 0, "speaker": "Alice", "start_ms": 0, "end_ms": 900}]}
    job = Job.objects.create(
        owner=alice,
        provider="espeak",
        input_params=params(),
        status=Job.Status.COMPLETED,
        result_metadata=old,
        audio="audio/old.mp3",
    )
    pending = Job.objects.create(owner=alice, provider="espeak", input_params=params())
    migration.to_turn_timings(apps, None)
    job.refresh_from_db()
    assert job.result_metadata == {
        "duration_ms": 900,
        "turn_timings": [{"turn_index": 0, "speaker": "Alice", "start_ms": 0, "end_ms": 900}],
    }
    assert job.audio_file_id is not None
    pending.refresh_from_db()
    assert pending.audio_file_id is None and pending.result_metadata == {}
    migration.to_turns(apps, None)
    job.refresh_from_db()
    assert job.result_metadata == old


def test_resubmit_validates_the_input_like_a_new_submission(alice, settings):
    from synthesis.validation import JobRequestInvalid
    from tests.factories import make_job

    old = make_job(alice, Job.Status.FAILED)
    settings.TTS_MAX_TURNS = 1
    with pytest.raises(JobRequestInvalid) as refused:
        old.resubmit()
    assert refused.value.errors == {"turns": "At most 1 turns; got 3."}
    assert Job.objects.count() == 1

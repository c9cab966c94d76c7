"""Tasks pulled by a cluster that died before claiming them go back to the
queue after a short grace, not after django-q2's `retry` (780 s).

The unit tests pull tasks with the real ORM broker (as a cluster's pusher
does) and move the clock; the cluster test kills a real cluster holding a
pulled task."""

import os
import signal
import time
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import OrmQ

from synthesis.models import Job
from synthesis.redelivery import release_stranded_tasks
from tests.cluster import wait_for
from tests.factories import input_params


def pull(broker):
    """What a cluster's pusher does: lock the next task for `retry` seconds."""
    pulled = broker.dequeue()
    assert pulled, "the queue was empty"
    return pulled[0][0]


@pytest.fixture
def broker(db):
    return get_broker()


def test_a_task_pulled_and_never_claimed_is_released_after_the_grace(alice, broker, settings):
    assert settings.TTS_QUEUE_RELEASE_GRACE_SECONDS == 10  # the documented default
    job = Job.objects.submit(alice, input_params(), provider="espeak")
    row_id = pull(broker)
    now = timezone.now()
    assert OrmQ.objects.get(pk=row_id).lock > now + timedelta(seconds=700)
    assert broker.dequeue() is None  # locked: no cluster sees it

    with time_machine.travel(now + timedelta(seconds=5), tick=False):
        assert release_stranded_tasks() == 0  # its cluster may still be about to claim it
    with time_machine.travel(now + timedelta(seconds=11)):
        assert release_stranded_tasks() == 1
        # The next poll of any cluster delivers it again.
        assert pull(broker) == row_id
    job.refresh_from_db()
    assert job.status == Job.Status.PENDING


def test_a_claimed_or_ended_job_keeps_its_task_locked(alice, broker, settings):
    settings.TTS_MAX_ACTIVE_JOBS_PER_USER = 10
    claimed = Job.objects.submit(alice, input_params(), provider="espeak")
    cancelled = Job.objects.submit(alice, input_params(), provider="espeak")
    rows = [pull(broker), pull(broker)]
    Job.objects.claim(claimed.pk, "host-a")
    cancelled.cancel()
    with time_machine.travel(timezone.now() + timedelta(seconds=60)):
        assert release_stranded_tasks() == 0
        now = timezone.now()
        assert all(lock > now for lock in OrmQ.objects.filter(pk__in=rows).values_list("lock", flat=True))


def test_other_tasks_are_left_alone(db, broker):
    from django_q.tasks import async_task

    async_task("synthesis.tasks.reap_jobs")
    pull(broker)
    with time_machine.travel(timezone.now() + timedelta(seconds=60)):
        assert release_stranded_tasks() == 0


def test_the_reaper_releases_them_too(alice, broker):
    Job.objects.submit(alice, input_params(), provider="espeak")
    pull(broker)
    out = StringIO()
    with time_machine.travel(timezone.now() + timedelta(seconds=30)):
        call_command("reap_jobs", stdout=out)
    assert "released_tasks: 1" in out.getvalue()


@pytest.mark.cluster
@pytest.mark.skipif(
    django_settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3",
    reason="the production set-up this pins is PostgreSQL (CI runs this suite on PostgreSQL too)",
)
def test_a_job_pulled_by_a_killed_cluster_runs_within_30_s_of_its_restart(worker_cluster, alice, settings):
    settings.TTS_MAX_ACTIVE_JOBS_PER_USER = 10
    # One worker process, busy with a slow job; the cluster's pusher then
    # pulls the next task into its local queue, where it waits.
    busy = Job.objects.submit(alice, input_params(), provider="scripted")
    cluster = worker_cluster(
        name="durops-redelivery",
        extra_env={"Q_WORKERS": "1", "TTS_TEST_TURN_DELAY": "3", "DJANGO_SETTINGS_MODULE": "tests.worker_settings"},
    )
    wait_for(lambda: Job.objects.filter(pk=busy.pk, status="processing").exists(), timeout=60, message="the claim")
    waiting = Job.objects.submit(alice, input_params(), provider="espeak")

    def pulled():
        locked = OrmQ.objects.filter(lock__gt=timezone.now() + timedelta(seconds=60))
        return any(tuple(row.task.get("args", ())) == (str(waiting.pk),) for row in locked)

    wait_for(pulled, timeout=30, message="the cluster to pull the second task")
    assert Job.objects.get(pk=waiting.pk).status == Job.Status.PENDING
    # Like an OOM kill of the whole cluster: no chance to hand anything back.
    os.killpg(cluster.process.pid, signal.SIGKILL)
    cluster.stop()

    restarted_at = time.monotonic()
    worker_cluster(name="durops-redelivery")
    job = wait_for(
        lambda: Job.objects.filter(pk=waiting.pk, status="completed").first(),
        timeout=45,
        interval=0.2,
        message="the stranded job to complete",
    )
    took = time.monotonic() - restarted_at
    print(f"the stranded job completed {took:.1f} s after the restart")
    assert took < 30, f"the stranded job completed {took:.1f} s after the restart"
    assert job.audio

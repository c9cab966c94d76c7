"""Scaling out: two worker clusters (as on two hosts) share one PostgreSQL
database. The ORM broker may hand a task out more than once, so what keeps a
job from being processed twice is the claim: one conditional UPDATE
pending→processing that only one process can win."""

import re
from collections import Counter

import pytest
from django.conf import settings as django_settings
from django_q.models import Failure, Success
from django_q.tasks import async_task

from synthesis.models import ClusterHeartbeat, Job
from tests.cluster import wait_for
from tests.factories import input_params

JOBS = 50

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(
        django_settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3",
        reason="needs PostgreSQL: SQLite serialises all writers in one file, so two clusters on it test "
        "nothing about the claim (CI runs this suite on PostgreSQL too)",
    ),
]


def test_two_clusters_process_each_of_50_jobs_exactly_once(worker_cluster, alice, settings):
    settings.TTS_MAX_ACTIVE_JOBS_PER_USER = JOBS
    clusters = [worker_cluster(name=name, extra_env={"Q_WORKERS": "2"}) for name in ("host-a", "host-b")]
    wait_for(lambda: ClusterHeartbeat.objects.count() == 2, timeout=60, message="both clusters to report")

    ids = set()
    for _ in range(JOBS):
        job = Job.objects.submit(alice, input_params(), provider="espeak")
        # Deliver every task twice, back to back, as the ORM broker does after a
        # lost lock: the two copies go to different workers at nearly the same
        # moment, and the claim must let exactly one of them run the job.
        async_task("synthesis.tasks.run_synthesis", str(job.pk), group="synthesis")
        ids.add(str(job.pk))
    wait_for(
        lambda: Job.objects.filter(status="completed").count() == JOBS,
        timeout=240,
        interval=0.5,
        message=f"{JOBS} completed jobs",
    )
    # Every delivery ran and none crashed: one per job did the work, its
    # duplicate found nothing to claim.
    synthesis_runs = {"func": "synthesis.tasks.run_synthesis"}
    wait_for(
        lambda: Success.objects.filter(**synthesis_runs).count() + Failure.objects.count() == 2 * JOBS,
        timeout=30,
        message="both deliveries of every task to be acknowledged",
    )
    # (Read after the acknowledgements: each log line was written before its task returned.)
    logs = {cluster.name: cluster.output() for cluster in clusters}
    claims = Counter()
    claimed_by = {}
    completions = Counter()
    for name, text in logs.items():
        for job_id in re.findall(r"job claimed job_id=([0-9a-f-]{36}) worker=" + re.escape(name), text):
            claims[job_id] += 1
            claimed_by[job_id] = name
        completions.update(re.findall(r"job completed job_id=([0-9a-f-]{36})", text))

    assert set(claims) == ids
    assert max(claims.values()) == 1, "a job was claimed twice"
    assert set(completions) == ids and max(completions.values()) == 1, "a job was completed twice"
    # The rows agree with the logs, and both clusters took part.
    for job in Job.objects.all():
        assert job.status == "completed" and job.audio
        assert job.worker_name == claimed_by[str(job.pk)]
    assert set(claimed_by.values()) == {"host-a", "host-b"}
    results = Counter(Success.objects.filter(**synthesis_runs).values_list("result", flat=True))
    assert results == {"completed": JOBS, "not claimed": JOBS}
    assert not Failure.objects.exists()
    for cluster in clusters:
        cluster.stop()

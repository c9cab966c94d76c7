"""Each move of a job writes one structured log line, ``job <event> job_id=<id>``,
so an operator can follow a job through every process by grepping its id."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from synthesis.models import Job
from synthesis.tasks import run_synthesis
from tests.engines import permanent, transient
from tests.factories import input_params, make_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def job_log(caplog):
    caplog.set_level(logging.INFO, logger="synthesis.jobs")

    def events(job_id) -> list[str]:
        return [
            r.getMessage().split()[1]
            for r in caplog.records
            if r.name == "synthesis.jobs" and f"job_id={job_id}" in r.getMessage()
        ]

    return events


def test_a_job_that_retries_then_completes(alice, scripted_provider, job_log):
    scripted_provider.script = [transient()]
    job = Job.objects.submit(
        alice,
        {
            **input_params(),
            "voice_assignments": [
                {"speaker": s, "voice_id": "en-us", "voice_name": ""} for s in ("Alice", "Bob", "Carol")
            ],
        },
        provider="scripted",
    )
    run_synthesis(str(job.pk))
    assert job_log(job.pk) == ["submitted", "claimed", "retried", "completed"]


def test_a_job_that_fails(alice, scripted_provider, job_log):
    scripted_provider.script = [permanent()]
    job = Job.objects.submit(
        alice,
        {
            **input_params(),
            "voice_assignments": [
                {"speaker": s, "voice_id": "en-us", "voice_name": ""} for s in ("Alice", "Bob", "Carol")
            ],
        },
        provider="scripted",
    )
    run_synthesis(str(job.pk))
    assert job_log(job.pk) == ["submitted", "claimed", "failed"]


def test_cancelled_and_reaped_jobs(alice, job_log):
    job = Job.objects.submit(alice, input_params(), provider="espeak")
    job.cancel()
    assert job_log(job.pk) == ["submitted", "cancelled"]
    stuck = make_job(alice, Job.Status.PROCESSING, heartbeat_at=timezone.now() - timedelta(hours=1))
    Job.objects.reap()
    assert job_log(stuck.pk) == ["released"]  # to resume: it has attempts left
    lost = make_job(alice, Job.Status.PROCESSING, heartbeat_at=timezone.now() - timedelta(hours=1), attempts=3)
    Job.objects.reap()
    assert job_log(lost.pk) == ["reaped"]


def test_log_lines_carry_the_job_id_as_a_key_value_pair(alice, caplog):
    caplog.set_level(logging.INFO, logger="synthesis.jobs")
    job = Job.objects.submit(alice, input_params(), provider="espeak")
    [line] = [r.getMessage() for r in caplog.records if r.name == "synthesis.jobs"]
    assert line.startswith(f"job submitted job_id={job.pk} ")
    assert f"owner={alice.pk}" in line

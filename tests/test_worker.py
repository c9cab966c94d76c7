"""The real django-q2 cluster, in another process, against the real database."""

import json
import os
import signal
import time

import pytest
from django.test import Client

from synthesis.audio import decode
from synthesis.models import Job
from synthesis.providers import get_provider
from tests.cluster import wait_for
from tests.conftest import dialogue

pytestmark = pytest.mark.cluster


def final(job_id):
    job = Job.objects.get(pk=job_id)
    return job if job.status in Job.FINAL_STATUSES else None


def test_a_submitted_dialogue_becomes_stored_audio(worker_cluster, alice):
    client = Client()
    client.force_login(alice)
    worker_cluster()
    # Everyone says the same words, so the turns can differ only by their voice.
    words = "The same words, said by everyone."
    body = dialogue()
    body["turns"] = [turn | {"text": words} for turn in body["turns"]]
    response = client.post("/api/v1/jobs", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 201
    job_id = response.json()["id"]

    seen = set()

    def done():
        job = Job.objects.get(pk=job_id)
        seen.add(job.status)
        return job if job.status in Job.FINAL_STATUSES else None

    job = wait_for(done, timeout=60, interval=0.01, message="the job to finish")
    assert job.status == Job.Status.COMPLETED, (job.error_code, job.error_message)
    assert seen <= {"pending", "processing", "completed"}
    assert job.started_at and job.completed_at and job.worker_name

    download = client.get(f"/api/v1/jobs/{job_id}/download")
    audio = decode(b"".join(download.streaming_content))
    assert abs(audio.duration_ms - job.result_metadata["duration_ms"]) <= 50

    # Distinct speakers got distinct voices: each turn in the file is as long
    # as its own speaker's voice says those words (eSpeak is deterministic,
    # and these three voices take different times), and no two are equal.
    espeak = get_provider("espeak")
    voice_of = {a["speaker"]: a["voice_id"] for a in body["voice_assignments"]}
    lengths = [t["end_ms"] - t["start_ms"] for t in job.result_metadata["turn_timings"]]
    expected = [
        espeak.synthesize(words, voice_of[t["speaker"]], "en").duration_ms for t in job.result_metadata["turn_timings"]
    ]
    assert lengths == pytest.approx(expected, abs=2)
    assert len(set(lengths)) == 3


def test_worker_start_up_fails_the_jobs_its_previous_run_left(worker_cluster, alice):
    job = Job.objects.submit(alice, dialogue_params(), provider="espeak")
    Job.objects.claim(job.pk, "crashed-host")
    other = Job.objects.claim(Job.objects.submit(alice, dialogue_params(), provider="espeak").pk, "other-host")
    # Running means its start-up is over: the orphan is failed, the other host's job is left alone.
    cluster = worker_cluster(name="crashed-host")
    job.refresh_from_db()
    assert (job.status, job.error_code) == (Job.Status.FAILED, "INTERRUPTED")
    other.refresh_from_db()
    assert other.status == Job.Status.PROCESSING
    assert "1 interrupted job(s) failed" in cluster.output()


def test_start_up_ensures_schedules_once(worker_cluster):
    from django_q.models import Schedule

    first = worker_cluster()
    assert Schedule.objects.count() == 2
    first.stop()
    worker_cluster()  # running, so its start-up has ensured them again
    assert sorted(Schedule.objects.values_list("name", flat=True)) == ["cleanup_jobs", "reap_jobs"]


def test_a_killed_worker_leaves_no_job_stuck(worker_cluster, alice, scripted_provider):
    """SIGKILL mid-run: the restarted worker fails the orphan (same name)."""
    job = Job.objects.submit(alice, dialogue_params(turns=40), provider="scripted")
    cluster = worker_cluster(
        name="kill-me", extra_env={"TTS_TEST_TURN_DELAY": "0.2", "DJANGO_SETTINGS_MODULE": "tests.worker_settings"}
    )
    wait_for(lambda: Job.objects.filter(pk=job.pk, status="processing").exists(), timeout=30, message="the claim")
    cluster.kill()
    worker_cluster(name="kill-me")
    job = wait_for(lambda: final(job.pk), timeout=30, message="the orphan to be failed")
    assert (job.status, job.error_code) == (Job.Status.FAILED, "INTERRUPTED")
    assert not job.audio


def dialogue_params(turns=3):
    from synthesis.validation import clean_job_request

    body = dialogue()
    body["turns"] = [dict(body["turns"][i % 3], index=i) for i in range(turns)]
    return clean_job_request(body)[1]


def test_signals_during_the_stop_neither_restart_it_nor_make_noise(worker_cluster):
    """The old `make run` sent a storm of SIGTERMs; django-q2 began its stop
    again on each one, nesting until a RecursionError."""
    cluster = worker_cluster()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGTERM, signal.SIGINT, signal.SIGTERM):
        os.kill(cluster.process.pid, signum)  # the main process, as a terminal or supervisor would
        time.sleep(0.05)  # separate deliveries: pending signals of one kind merge into one
    assert cluster.process.wait(60) == 0
    output = cluster.output()
    assert output.count("stopping.") == 1 and output.count("has stopped.") == 1, output
    assert "Traceback" not in output, output

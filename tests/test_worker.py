"""The real django-q2 cluster, in another process, against the real database."""

import json
import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.test import Client

from synthesis.audio import assemble_dialogue, decode, encode
from synthesis.models import Job, Segment
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


def test_worker_start_up_resumes_the_jobs_its_previous_run_left(worker_cluster, alice):
    job = Job.objects.submit(alice, dialogue_params(), provider="espeak")
    Job.objects.claim(job.pk, "crashed-host")
    other = Job.objects.claim(Job.objects.submit(alice, dialogue_params(), provider="espeak").pk, "other-host")
    # Running means its start-up is over: the orphan is failed, the other host's job is left alone.
    cluster = worker_cluster(name="crashed-host")
    job = wait_for(lambda: final(job.pk), timeout=60, message="the orphan to be resumed")
    assert (job.status, job.attempts) == (Job.Status.COMPLETED, 2), (job.error_code, job.error_message)
    other.refresh_from_db()
    assert other.status == Job.Status.PROCESSING  # alive elsewhere, as far as anyone knows
    assert "1 interrupted job(s) released to resume" in cluster.output()


def test_start_up_ensures_schedules_once(worker_cluster):
    from django_q.models import Schedule

    first = worker_cluster()
    assert Schedule.objects.count() == 2
    first.stop()
    worker_cluster()  # running, so its start-up has ensured them again
    assert sorted(Schedule.objects.values_list("name", flat=True)) == ["cleanup_jobs", "reap_jobs"]


def test_a_worker_starts_when_an_earlier_start_up_left_duplicate_schedules(worker_cluster):
    """Two clusters started at the same moment once made each schedule twice,
    and from then on every start-up died on it: after a SIGKILL a cluster
    could not come back (bench/soak.py)."""
    from django_q.models import Schedule

    for name, func, kind in (("reap_jobs", "reap_jobs", "I"), ("cleanup_jobs", "cleanup_jobs", "D")):
        for _ in range(2):
            Schedule.objects.create(name=name, func=f"synthesis.tasks.{func}", schedule_type=kind, repeats=-1)
    worker_cluster()  # running: its start-up got through
    assert sorted(Schedule.objects.values_list("name", flat=True)) == ["cleanup_jobs", "reap_jobs"]


SLOW_TURNS = {"TTS_TEST_TURN_DELAY": "0.25", "DJANGO_SETTINGS_MODULE": "tests.worker_settings"}


def kept(job_id) -> dict[int, int]:
    """turn index -> segment id"""
    return dict(Segment.objects.filter(job_id=job_id).values_list("turn_index", "pk"))


def assert_audio_is_its_segments(job):
    """The stored dialogue is, sample for sample, its kept turns assembled."""
    segments = list(job.segments.order_by("turn_index"))
    assert [s.turn_index for s in segments] == list(range(job.progress_total))
    params = job.input_params
    whole, timings = assemble_dialogue([s.load() for s in segments], params["gap_ms"], params["crossfade_ms"])
    with job.audio.open("rb") as f:
        stored = decode(f.read())
    assert np.array_equal(stored.samples, decode(encode(whole, "wav")).samples)
    assert [(t["start_ms"], t["end_ms"]) for t in job.result_metadata["turn_timings"]] == [
        (round(a), round(b)) for a, b in timings
    ]


def test_a_killed_cluster_resumes_its_job_where_it_stopped(worker_cluster, alice):
    """SIGKILL of the whole cluster mid-job (a crash, an OOM kill of the
    group): the restarted worker releases the job and resumes it; the turns
    kept before the kill are not spoken again."""
    job = Job.objects.submit(alice, dialogue_params(turns=40, output_format="wav"), provider="scripted")
    cluster = worker_cluster(name="kill-me", extra_env=SLOW_TURNS)
    wait_for(lambda: len(kept(job.pk)) >= 5, timeout=60, message="five kept turns")
    cluster.kill()
    before = kept(job.pk)
    assert Job.objects.get(pk=job.pk).status == Job.Status.PROCESSING
    worker_cluster(name="kill-me", extra_env=SLOW_TURNS)
    job = wait_for(lambda: final(job.pk), timeout=120, message="the job to finish")
    assert (job.status, job.attempts) == (Job.Status.COMPLETED, 2), (job.error_code, job.error_message)
    after = kept(job.pk)
    assert {i: after[i] for i in before} == before  # the same rows: not synthesized again
    assert_audio_is_its_segments(job)


def test_a_killed_synthesis_process_is_running_again_within_seconds(worker_cluster, alice):
    """SIGKILL of the worker process running the job (the OOM killer's usual
    pick): django-q2 replaces the process, and the cluster releases the job
    at once instead of waiting for its heartbeat to go stale."""
    job = Job.objects.submit(alice, dialogue_params(turns=40, output_format="wav"), provider="scripted")
    worker_cluster(extra_env=SLOW_TURNS)
    wait_for(lambda: len(kept(job.pk)) >= 3, timeout=60, message="three kept turns")
    pid = Job.objects.get(pk=job.pk).worker_pid
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    wait_for(
        lambda: Job.objects.filter(pk=job.pk, status="processing", attempts=2).exists(),
        timeout=30,
        interval=0.05,
        message="the job running again",
    )
    assert time.monotonic() - killed < 30
    job = wait_for(lambda: final(job.pk), timeout=120, message="the job to finish")
    assert (job.status, job.attempts) == (Job.Status.COMPLETED, 2), (job.error_code, job.error_message)
    assert job.worker_pid != pid
    assert_audio_is_its_segments(job)


def test_sigterm_hands_the_job_back_and_the_worker_exits_within_ten_seconds(worker_cluster, alice):
    job = Job.objects.submit(alice, dialogue_params(turns=40), provider="scripted")
    cluster = worker_cluster(extra_env=SLOW_TURNS)
    wait_for(lambda: len(kept(job.pk)) >= 3, timeout=60, message="three kept turns")
    asked = time.monotonic()
    os.kill(cluster.process.pid, signal.SIGTERM)
    cluster.process.wait(timeout=30)
    assert time.monotonic() - asked < 10
    job.refresh_from_db()
    assert (job.status, job.attempts) == (Job.Status.PENDING, 0)
    before = kept(job.pk)
    assert len(before) >= 3
    # The next worker (after the deploy) finishes it from there.
    worker_cluster(extra_env=SLOW_TURNS)
    job = wait_for(lambda: final(job.pk), timeout=120, message="the job to finish")
    assert job.status == Job.Status.COMPLETED, (job.error_code, job.error_message)
    assert {i: kept(job.pk)[i] for i in before} == before


def test_an_engine_crash_fails_only_its_job_and_the_worker_serves_on(worker_cluster, alice):
    """A native crash in the engine (a real SIGSEGV, as libespeak-ng 1.52 has
    on a few texts) fails its job at once with ENGINE_CRASHED; the worker
    process is not replaced and serves the next job."""
    from tests.engines import CRASH_WORD

    params = dialogue_params(turns=2)
    params["turns"][1]["text"] = f"This line makes it {CRASH_WORD}."
    crash = Job.objects.submit(alice, params, provider="crashing")
    fine = Job.objects.submit(alice, dialogue_params(), provider="crashing")
    cluster = worker_cluster(extra_env={"Q_WORKERS": "1", "DJANGO_SETTINGS_MODULE": "tests.worker_settings"})
    crash = wait_for(lambda: final(crash.pk), timeout=60, message="the crashing job to end")
    assert (crash.status, crash.error_code, crash.attempts) == (Job.Status.FAILED, "ENGINE_CRASHED", 1)
    assert "turn 2" in crash.error_message
    assert crash.completed_at - crash.started_at < timedelta(seconds=10)
    fine = wait_for(lambda: final(fine.pk), timeout=60, message="the other job")
    assert fine.status == Job.Status.COMPLETED
    assert fine.worker_pid == crash.worker_pid  # the same worker process
    assert "reincarnated" not in cluster.output()


def test_a_killed_engine_process_resumes_its_job_instead_of_failing_it(worker_cluster, alice):
    """SIGKILL of the engine's child process (the OOM killer, an operator) is
    not the engine crashing on the text: the job is released and resumes from
    its kept turns (bench/soak.py found such jobs failed ENGINE_CRASHED). A
    child killed while it waits between jobs is replaced before the next one."""
    job = Job.objects.submit(alice, dialogue_params(turns=12, output_format="wav"), provider="crashing")
    env = {"Q_WORKERS": "1", "DJANGO_SETTINGS_MODULE": "tests.worker_settings", "TTS_TEST_TURN_DELAY": "0.25"}
    worker_cluster(extra_env=env)
    wait_for(lambda: len(kept(job.pk)) >= 3, timeout=60, message="three kept turns")
    before = kept(job.pk)
    os.kill(engine_child(Job.objects.get(pk=job.pk).worker_pid), signal.SIGKILL)
    job = wait_for(lambda: final(job.pk), timeout=120, message="the job to finish")
    assert (job.status, job.attempts) == (Job.Status.COMPLETED, 2), (job.error_code, job.error_message)
    after = kept(job.pk)
    assert {i: after[i] for i in before} == before  # not synthesized again
    assert_audio_is_its_segments(job)

    # The worker keeps its child for the next job; kill it while it waits.
    os.kill(engine_child(job.worker_pid), signal.SIGKILL)
    following = Job.objects.submit(alice, dialogue_params(), provider="crashing")
    following = wait_for(lambda: final(following.pk), timeout=60, message="the next job")
    assert (following.status, following.attempts) == (Job.Status.COMPLETED, 1), following.error_message


def engine_child(worker_pid: int) -> int:
    """The live engine child process of a worker process."""

    def find():
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == worker_pid and fields[0] != "Z":
                return int(stat.parent.name)
        return None

    return wait_for(find, timeout=30, interval=0.05, message=f"an engine child of {worker_pid}")


def dialogue_params(turns=3, **overrides):
    from synthesis.validation import clean_job_request

    body = dialogue(**overrides)
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

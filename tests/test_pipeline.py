"""The worker's run of one job: claim, retries, deadline, completion, cleanup."""

import os
import signal
import time
from pathlib import Path

import pytest
import time_machine
from django.utils import timezone

from synthesis.audio import decode
from synthesis.models import Job
from synthesis.pipeline import SynthesisRun, batches_for
from synthesis.providers.base import Capabilities
from synthesis.tasks import run_synthesis
from tests.cluster import wait_for
from tests.conftest import dialogue
from tests.engines import permanent, transient

pytestmark = pytest.mark.django_db


@pytest.fixture
def scripted(scripted_provider):
    return scripted_provider


def submit(user, **overrides):
    from synthesis.validation import clean_job_request

    provider, params = clean_job_request(dialogue(**overrides))
    return Job.objects.submit(user, params, provider=provider)


def stored_files(media_root):
    return [p for p in media_root.rglob("*") if p.is_file()] if media_root.exists() else []


def test_completed_job_has_exact_metadata(alice, _media_root):
    job = submit(alice, output_format="flac")
    run_synthesis(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.COMPLETED
    meta = job.result_metadata
    with job.audio.open("rb") as f:
        audio = decode(f.read())
    assert abs(audio.duration_ms - meta["duration_ms"]) <= 50
    assert meta["latency_ms"] >= 0 and meta["synthesis_mode"] == "segmented"
    turns = meta["turn_timings"]
    assert [t["turn_index"] for t in turns] == [0, 1, 2]
    assert turns[0]["start_ms"] == 0
    assert turns[-1]["end_ms"] == meta["duration_ms"]
    for before, after in zip(turns, turns[1:]):
        # gap 300 ms, crossfade 50 ms at both ends of the silence: each turn
        # starts 200 ms after the last ended.
        assert after["start_ms"] - before["end_ms"] == pytest.approx(200, abs=1)
    assert job.progress_done == 3 and job.heartbeat_at and job.started_at <= job.completed_at
    # The audio, and each turn kept as a segment of the job.
    segments = [_media_root / s.file.name for s in job.segments.all()]
    assert [s.turn_index for s in job.segments.all()] == [0, 1, 2]
    assert sorted(stored_files(_media_root)) == sorted([_media_root / job.audio.name, *segments])
    # Not guessable from the job id alone.
    assert len(os.path.basename(job.audio.name)) > len(str(job.pk)) + 10


def test_distinct_speakers_get_distinct_voices(alice):
    job = submit(
        alice,
        turns=[{"speaker": s, "text": "The same words.", "index": i} for i, s in enumerate("AB")],
        voice_assignments=[{"speaker": "A", "voice_id": "en-us"}, {"speaker": "B", "voice_id": "en-us+f3"}],
        gap_ms=0,
        crossfade_ms=0,
        output_format="wav",
    )
    run_synthesis(job.pk)
    job.refresh_from_db()
    with job.audio.open("rb") as f:
        audio = decode(f.read())
    a, b = job.result_metadata["turn_timings"]
    sr = audio.sample_rate
    first = audio.samples[a["start_ms"] * sr // 1000 : a["end_ms"] * sr // 1000]
    second = audio.samples[b["start_ms"] * sr // 1000 : b["end_ms"] * sr // 1000]
    assert len(first) != len(second) or not (first == second).all()


def test_second_delivery_does_nothing(alice):
    job = submit(alice)
    assert run_synthesis(job.pk) == "completed"
    job.refresh_from_db()
    first_audio, first_completed = job.audio.name, job.completed_at
    assert run_synthesis(job.pk) == "not claimed"
    job.refresh_from_db()
    assert (job.audio.name, job.completed_at) == (first_audio, first_completed)


def test_claim_and_cancel_have_one_winner(alice):
    job = submit(alice)
    claimed = Job.objects.claim(job.pk, "w1")
    assert claimed is not None
    # A claimed job can still be cancelled; the run then finds it gone.
    assert job.cancel() is True
    assert job.error_message == "Cancelled while it was running."
    SynthesisRun(claimed).run()
    job.refresh_from_db()
    assert (job.status, job.audio.name) == (Job.Status.CANCELLED, "")

    other = submit(alice)
    assert other.cancel() is True
    assert Job.objects.claim(other.pk, "w1") is None
    other.refresh_from_db()
    assert other.status == Job.Status.CANCELLED


def test_transient_errors_are_retried_with_the_configured_backoff(alice, scripted):
    scripted.script = [transient(), transient()]
    job = submit(alice, provider="scripted")
    claimed = Job.objects.claim(job.pk, "w1")
    sleeps = []
    SynthesisRun(claimed, sleep=sleeps.append).run()
    job.refresh_from_db()
    assert job.status == Job.Status.COMPLETED
    assert job.retry_count == 2
    assert sleeps == [0.001, 0.002]


def test_retry_after_from_the_provider_is_honoured(alice, scripted):
    scripted.script = [transient(retry_after=0.5)]
    claimed = Job.objects.claim(submit(alice, provider="scripted").pk, "w1")
    sleeps = []
    SynthesisRun(claimed, sleep=sleeps.append).run()
    assert sleeps == [0.5]


def test_retry_after_is_capped_at_a_minute(alice, scripted):
    # A service asking for an hour should not park a worker process for one.
    scripted.script = [transient(retry_after=3600)]
    claimed = Job.objects.claim(submit(alice, provider="scripted").pk, "w1")
    sleeps = []
    SynthesisRun(claimed, sleep=sleeps.append).run()
    assert sleeps == [60]
    claimed.refresh_from_db()
    assert claimed.status == Job.Status.COMPLETED


def test_transient_errors_past_the_last_retry_fail_the_job(alice, scripted, _media_root):
    scripted.script = [transient("Engine overloaded.")] * 4
    job = submit(alice, provider="scripted")
    run_synthesis(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.retry_count == 3
    assert (job.error_code, job.error_message) == ("ENGINE_BUSY", "Engine overloaded.")
    assert scripted.calls == 4
    assert stored_files(_media_root) == []


def test_permanent_errors_fail_at_once(alice, scripted, _media_root):
    scripted.script = [permanent()]
    job = submit(alice, provider="scripted")
    run_synthesis(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.retry_count == 0 and scripted.calls == 1
    assert job.error_message == "That voice cannot read this text."
    assert not job.audio and stored_files(_media_root) == []


def test_unknown_voice_at_run_time_fails_clearly(alice):
    job = submit(alice)
    params = dict(job.input_params, voice_assignments=[{"speaker": s, "voice_id": "xx-nope"} for s in job.speakers])
    Job.objects.filter(pk=job.pk).update(input_params=params)
    run_synthesis(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.error_code == "VOICE_NOT_FOUND" and "xx-nope" in job.error_message


def test_deadline_stops_the_run_with_timeout(alice, scripted, settings, _media_root):
    settings.TTS_JOB_DEADLINE_SECONDS = 0.5
    # The clock stands still but for 0.3 s per engine call, so however slow
    # this machine is, the third turn is the first to start after the deadline.
    with time_machine.travel(timezone.now(), tick=False) as clock:
        scripted.on_call = lambda: clock.shift(0.3)
        job = submit(alice, provider="scripted")
        run_synthesis(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.error_code == "TIMEOUT"
    assert "limit" in job.error_message
    assert job.progress_done == 2
    assert stored_files(_media_root) == []


def test_a_retry_that_would_wait_past_the_deadline_times_out_at_once(alice, scripted, settings):
    settings.TTS_JOB_DEADLINE_SECONDS = 2
    settings.TTS_RETRY_DELAYS = [5, 10, 20]
    scripted.script = [transient()]
    job = submit(alice, provider="scripted")
    claimed = Job.objects.claim(job.pk, "w1")
    sleeps = []
    SynthesisRun(claimed, sleep=sleeps.append).run()
    job.refresh_from_db()
    assert (job.status, job.error_code, sleeps) == (Job.Status.FAILED, "TIMEOUT", [])


def test_django_q_hard_timeout_inside_a_provider_call_ends_the_job_with_timeout(alice, scripted, _media_root):
    from django_q.exceptions import TimeoutException
    from django_q.timeout import TimeoutHandler

    scripted.delay = 1.5  # one call outlasts django-q2's alarm below
    job = submit(alice, provider="scripted")
    claimed = Job.objects.claim(job.pk, "w1")
    with pytest.raises(TimeoutException), TimeoutHandler(1):
        SynthesisRun(claimed).run()
    job.refresh_from_db()
    assert (job.status, job.error_code) == (Job.Status.FAILED, "TIMEOUT")
    assert stored_files(_media_root) == []


def test_a_run_that_lost_its_job_to_the_reaper_stores_nothing(alice, scripted, _media_root):
    job = submit(alice, provider="scripted")
    claimed = Job.objects.claim(job.pk, "w1")
    # The reaper fails the job while the worker is between turns.
    Job.objects.filter(pk=job.pk).update(status=Job.Status.FAILED, error_code="WORKER_LOST")
    SynthesisRun(claimed).run()
    job.refresh_from_db()
    assert (job.status, job.error_code) == (Job.Status.FAILED, "WORKER_LOST")
    assert stored_files(_media_root) == []


def test_storage_failure_fails_the_job_and_leaves_no_file(alice, settings, _media_root):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "tests.test_pipeline.FullDiskStorage"}}
    job = submit(alice)
    run_synthesis(job.pk)
    job.refresh_from_db()
    assert (job.status, job.error_code) == (Job.Status.FAILED, "INTERNAL_ERROR")
    assert stored_files(_media_root) == []


from synthesis.storage import AtomicFileSystemStorage  # noqa: E402


class FullDiskStorage(AtomicFileSystemStorage):
    """The disk fills up halfway through writing the file."""

    def _save(self, name, content):
        class HalfWritten:
            def chunks(self):
                data = content.read()
                yield data[: len(data) // 2]
                raise OSError(28, "No space left on device")

        return super()._save(name, HalfWritten())


def test_batches_split_at_turn_boundaries():
    caps = Capabilities(native_multi_speaker=True, max_speakers=2, max_chars_per_request=10)
    turns = [{"speaker": s, "text": t} for s, t in [("A", "12345"), ("B", "1234"), ("A", "123"), ("C", "1")]]
    assert [[t["text"] for t in b] for b in batches_for(turns, caps)] == [["12345", "1234"], ["123", "1"]]
    caps = Capabilities(native_multi_speaker=True, max_speakers=2, max_chars_per_request=100)
    assert [[t["speaker"] for t in b] for b in batches_for(turns, caps)] == [["A", "B", "A"], ["C"]]


@pytest.mark.django_db(transaction=True)
def test_a_long_provider_call_keeps_the_heartbeat_fresh(alice, scripted, settings):
    import threading

    settings.TTS_HEARTBEAT_STALE_SECONDS = 1
    settings.TTS_HEARTBEAT_INTERVAL_SECONDS = 0.2
    scripted.delay = 1.6  # one call, longer than the staleness threshold
    job = submit(
        alice,
        provider="scripted",
        turns=[{"speaker": "A", "text": "One long request.", "index": 0}],
        voice_assignments=[{"speaker": "A", "voice_id": "en-us"}],
    )
    claimed = Job.objects.claim(job.pk, "w1")
    reaped = []

    def reaper():
        from django.db import connection

        time.sleep(1.3)  # the call is still running, and the last turn-end beat is 1.3 s old
        reaped.append(Job.objects.reap())
        connection.close()

    thread = threading.Thread(target=reaper)
    thread.start()
    SynthesisRun(claimed).run()
    thread.join()
    job.refresh_from_db()
    assert reaped == [{"timeout": 0, "stale": 0, "pending_expired": 0}]
    assert job.status == Job.Status.COMPLETED


# --- durable runs: engine crashes, cancel while running, graceful stop -------


def test_a_segfault_is_contained_in_the_engine_process():
    from synthesis.isolation import ChildEngine, EngineCrashed
    from tests.engines import CRASH_WORD, CrashingEspeak

    engine = ChildEngine(CrashingEspeak())
    assert engine.synthesize("Hello.", "en-us", None, lambda: None).duration_ms > 100
    with pytest.raises(EngineCrashed) as crashed:
        engine.synthesize(f"Now {CRASH_WORD}.", "en-us", None, lambda: None)
    assert crashed.value.how == "killed by SIGSEGV"
    # A new engine process serves the next call.
    assert engine.synthesize("Hello.", "en-us", None, lambda: None).duration_ms > 100
    engine.kill()


def test_an_engine_process_killed_from_outside_is_not_a_crash_of_the_engine():
    """SIGKILL (the OOM killer, an operator) says nothing about the text: the
    run is interrupted, not failed (synthesis.pipeline.RunInterrupted)."""
    from synthesis.isolation import ChildEngine, EngineCrashed
    from tests.engines import CrashingEspeak

    provider = CrashingEspeak()
    provider.delay = 30  # in the child: the kill lands mid-call
    engine = ChildEngine(provider)
    engine.prepare()
    with pytest.raises(EngineCrashed) as killed:
        engine.synthesize("Hello.", "en-us", None, lambda: os.kill(engine.pid, signal.SIGKILL))
    assert (killed.value.how, killed.value.killed_from_outside) == ("killed by SIGKILL", True)
    engine.kill()


def test_an_engine_process_killed_while_idle_is_replaced_before_the_next_run():
    from synthesis.isolation import ChildEngine
    from tests.engines import CrashingEspeak

    engine = ChildEngine(CrashingEspeak())
    engine.prepare()
    idle = engine.pid
    os.kill(idle, signal.SIGKILL)
    wait_for(lambda: _state(idle) in ("Z", None), timeout=10, message="the child to die")
    engine.prepare()  # what a run does first
    assert engine.pid != idle
    assert engine.synthesize("Hello.", "en-us", None, lambda: None).duration_ms > 100
    engine.kill()


def _state(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def test_an_engine_crash_fails_its_job_at_once_and_the_worker_goes_on(alice, scripted_provider, _media_root):
    from tests.engines import CRASH_WORD

    job = submit(
        alice,
        provider="crashing",
        turns=[
            {"speaker": "A", "text": "Hello.", "index": 0},
            {"speaker": "B", "text": f"This line makes it {CRASH_WORD}.", "index": 1},
        ],
        voice_assignments=[{"speaker": "A", "voice_id": "en-us"}, {"speaker": "B", "voice_id": "en-us"}],
    )
    started = time.monotonic()
    run_synthesis(job.pk)  # in this very process: it would die if the crash were not contained
    job.refresh_from_db()
    assert (job.status, job.error_code) == (Job.Status.FAILED, "ENGINE_CRASHED")
    assert "turn 2 (B)" in job.error_message
    assert time.monotonic() - started < 10
    assert stored_files(_media_root) == []
    # The same process serves the next job.
    other = submit(alice)
    assert run_synthesis(other.pk) == "completed"


@pytest.mark.django_db(transaction=True)
def test_cancel_stops_a_running_job_within_seconds(alice, scripted, settings, _media_root):
    import threading

    settings.TTS_HEARTBEAT_INTERVAL_SECONDS = 0.2
    scripted.delay = 0.3
    job = submit(
        alice,
        provider="scripted",
        turns=[{"speaker": "A", "text": f"Line {i}.", "index": i} for i in range(30)],
        voice_assignments=[{"speaker": "A", "voice_id": "en-us"}],
    )
    claimed = Job.objects.claim(job.pk, "w1")
    runner = threading.Thread(target=SynthesisRun(claimed).run)
    runner.start()
    wait_until(lambda: job.segments.count() >= 2, "two kept turns")
    cancelled_at = time.monotonic()
    assert Job.objects.get(pk=job.pk).cancel() is True
    runner.join(timeout=5)
    assert not runner.is_alive(), "the run went on after the cancel"
    assert time.monotonic() - cancelled_at < 5
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED and not job.audio
    assert not job.segments.exists() and stored_files(_media_root) == []
    assert scripted.calls < 30


def test_a_stop_request_hands_the_job_back_with_its_segments(alice, scripted, _media_root):
    import threading

    from django_q.models import OrmQ

    from synthesis import pipeline

    scripted.delay = 0.2
    job = submit(
        alice,
        provider="scripted",
        turns=[{"speaker": "A", "text": f"Line {i}.", "index": i} for i in range(20)],
        voice_assignments=[{"speaker": "A", "voice_id": "en-us"}],
    )
    claimed = Job.objects.claim(job.pk, "w1")
    tasks = OrmQ.objects.count()
    asked = []

    def sigterm_reached_the_cluster():
        asked.append(time.monotonic())
        pipeline.shutdown.set()

    timer = threading.Timer(0.9, sigterm_reached_the_cluster)
    timer.start()
    try:
        SynthesisRun(claimed).run()
        stopped_at = time.monotonic()
    finally:
        timer.join()
        pipeline.shutdown.clear()
    job.refresh_from_db()
    kept = job.segments.count()
    assert job.status == Job.Status.PENDING and 1 <= kept < 20
    assert job.attempts == 0  # a graceful stop gives its attempt back
    assert OrmQ.objects.count() == tasks + 1  # one new task for the next run
    assert len(stored_files(_media_root)) == kept
    # The turn under way was given up, not waited for.
    assert stopped_at - asked[0] < 1.5

    scripted.calls = 0
    assert run_synthesis(job.pk) == "completed"
    assert scripted.calls == 20 - kept


def wait_until(predicate, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.django_db(transaction=True)
def test_a_run_whose_database_connection_drops_reconnects_and_completes(alice, scripted, caplog):
    import threading

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("dropping one backend's connection needs PostgreSQL")
    scripted.delay = 0.2
    job = submit(
        alice,
        provider="scripted",
        turns=[{"speaker": "A", "text": f"Line {i}.", "index": i} for i in range(10)],
        voice_assignments=[{"speaker": "A", "voice_id": "en-us"}],
    )
    claimed = Job.objects.claim(job.pk, "w1")
    dropped = []

    def drop_the_runs_connection():
        # What a PostgreSQL restart or a fail-over does to the worker's connection.
        try:
            wait_until(lambda: job.segments.count() >= 2, "two kept turns")
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                dropped.extend(cursor.fetchall())
        finally:
            connection.close()

    dropper = threading.Thread(target=drop_the_runs_connection)
    dropper.start()
    SynthesisRun(claimed).run()
    dropper.join()
    assert dropped, "no connection was dropped"
    job.refresh_from_db()
    assert (job.status, job.attempts) == (Job.Status.COMPLETED, 1), (job.error_code, job.error_message)
    assert scripted.calls == 10
    assert "database unavailable" in caplog.text

"""Kept segments: each turn stored as it is spoken, a resumed run speaks only
the turns it has not kept, and segments go with their job."""

import numpy as np
import pytest
from django.core.management import call_command

from synthesis.audio import Audio, decode
from synthesis.models import Job, Segment
from synthesis.pipeline import SynthesisRun
from synthesis.providers import get_provider
from synthesis.segments import content_key, decode_lossless, encode_lossless
from synthesis.tasks import run_synthesis
from synthesis.validation import clean_job_request
from tests.conftest import dialogue

pytestmark = pytest.mark.django_db


def submit(user, turns=4, **overrides):
    body = dialogue(**overrides)
    body["turns"] = [dict(body["turns"][i % 3], index=i, text=f"This is line number {i + 1}.") for i in range(turns)]
    provider, params = clean_job_request(body)
    return Job.objects.submit(user, params, provider=provider)


def files_under(root):
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def samples_of(job):
    with job.audio.open("rb") as f:
        return decode(f.read()).samples


def test_lossless_round_trip_is_exact_for_16_bit_and_float_audio():
    espeak = get_provider("espeak").synthesize("Exactly the same.", "en-us")
    data, ext = encode_lossless(espeak)
    assert ext == "flac" and len(data) < 2 * len(espeak.samples)
    back = decode_lossless(data)
    assert back.sample_rate == espeak.sample_rate and np.array_equal(back.samples, espeak.samples)

    cloud = Audio(np.sin(np.arange(24000, dtype=np.float32) / 7).astype(np.float32) * 0.3, 24000)
    data, ext = encode_lossless(cloud)
    assert ext == "wav"
    assert np.array_equal(decode_lossless(data).samples, cloud.samples)


def test_content_key_changes_with_everything_that_shapes_the_sound():
    base = {
        "provider": "espeak",
        "engine_version": "1.52",
        "voice_id": "en-us",
        "language": "en",
        "text": "Hi.",
        "mode": "segmented",
    }
    key = content_key(**base)
    assert key == content_key(**base)
    for field, other in [
        ("provider", "piper"),
        ("engine_version", "1.53"),
        ("voice_id", "en-gb"),
        ("language", "fr"),
        ("text", "Hi!"),
        ("mode", "native"),
    ]:
        assert content_key(**{**base, field: other}) != key, field


def test_each_turn_is_kept_as_a_segment_of_its_job(alice, _media_root):
    job = submit(alice, turns=3, output_format="wav")
    run_synthesis(job.pk)
    job.refresh_from_db()
    segments = list(job.segments.all())
    assert [s.turn_index for s in segments] == [0, 1, 2]
    espeak = get_provider("espeak")
    voices = {a["speaker"]: a["voice_id"] for a in job.input_params["voice_assignments"]}
    for segment, turn in zip(segments, job.input_params["turns"]):
        # eSpeak's output shifts by a few samples with what it spoke before
        # (its state is global), so the turn is compared by length, not sample.
        spoken = espeak.synthesize(turn["text"], voices[turn["speaker"]])
        loaded = segment.load()
        assert (len(loaded.samples), loaded.sample_rate) == (segment.frames, segment.sample_rate)
        assert segment.duration_ms == pytest.approx(spoken.duration_ms, abs=25)
        assert segment.file.name.startswith(f"segments/{job.pk}/")


def test_a_resumed_run_speaks_only_the_turns_it_had_not_kept(alice, scripted_provider):
    from synthesis.audio import assemble_dialogue, encode

    spoken = {}  # turn text -> the Audio the engine gave for it
    speak = scripted_provider.synthesize

    def recording(text, voice_id, language=None):
        spoken[text] = speak(text, voice_id, language)
        return spoken[text]

    scripted_provider.synthesize = recording
    # A run that kept two turns, then died (its process killed): start-up
    # releases the job, and the next run goes on from there.
    job = submit(alice, turns=4, provider="scripted", output_format="wav")
    first = Job.objects.claim(job.pk, "host-a")
    run = SynthesisRun(first)
    keys = run.turn_keys(scripted_provider, run.spoken_turns())
    for index in (0, 2):
        turn = first.input_params["turns"][index]
        voice = first.voice_for_speaker[turn["speaker"]]["voice_id"]
        run.keep({}, index, keys[index], recording(turn["text"], voice), turn["text"])
    assert Job.objects.release_interrupted("host-a") == 1

    scripted_provider.calls = 0
    assert run_synthesis(job.pk) == "completed"
    job.refresh_from_db()
    assert scripted_provider.calls == 2
    assert job.attempts == 2 and job.result_metadata["attempts"] == 2
    # Sample for sample the dialogue of everything the engine said, as one
    # uninterrupted run would have assembled it.
    pieces = [spoken[turn["text"]] for turn in job.input_params["turns"]]
    whole, timings = assemble_dialogue(pieces, job.input_params["gap_ms"], job.input_params["crossfade_ms"])
    assert [(t["start_ms"], t["end_ms"]) for t in job.result_metadata["turn_timings"]] == [
        (round(a), round(b)) for a, b in timings
    ]
    expected = decode(encode(whole, "wav")).samples
    assert np.array_equal(samples_of(job), expected)


def test_a_segment_whose_key_no_longer_matches_is_spoken_again(alice, scripted_provider, _media_root):
    job = submit(alice, turns=2, provider="scripted")
    run_synthesis(job.pk)
    job.refresh_from_db()
    stale = job.segments.get(turn_index=1)
    stale_file = _media_root / stale.file.name
    # As if the engine had been upgraded since that turn was kept.
    Segment.objects.filter(pk=stale.pk).update(content_key="0" * 64)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.PENDING, audio="")
    scripted_provider.calls = 0
    run_synthesis(job.pk)
    assert scripted_provider.calls == 1
    assert not stale_file.exists()
    assert job.segments.get(turn_index=1).content_key != "0" * 64


def test_segments_belong_to_one_job_and_never_serve_another(alice, bob, scripted_provider):
    run_synthesis(submit(alice, turns=2, provider="scripted").pk)
    scripted_provider.calls = 0
    # Bob's job says exactly the same lines with the same voices.
    bobs = submit(bob, turns=2, provider="scripted")
    run_synthesis(bobs.pk)
    assert scripted_provider.calls == 2
    assert {s.job_id for s in Segment.objects.filter(job__owner=bob)} == {bobs.pk}


def test_a_failed_job_leaves_no_segment(alice, scripted_provider, _media_root):
    from tests.engines import permanent

    job = submit(alice, turns=3, provider="scripted")
    claimed = Job.objects.claim(job.pk, "w1")
    original = scripted_provider.synthesize

    def second_turn_refused(text, voice_id, language=None):
        if scripted_provider.calls == 1:
            scripted_provider.calls += 1
            raise permanent()
        return original(text, voice_id, language)

    scripted_provider.synthesize = second_turn_refused
    SynthesisRun(claimed).run()
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and job.error_code == "ENGINE_REFUSED"
    assert not Segment.objects.filter(job=job).exists()
    assert files_under(_media_root) == []


def test_deleting_a_job_deletes_its_segments_and_their_files(alice, _media_root):
    job = submit(alice, turns=2)
    run_synthesis(job.pk)
    job.refresh_from_db()
    assert len(files_under(_media_root)) == 3
    job.delete_with_audio()
    assert files_under(_media_root) == []
    assert not Segment.objects.exists()


def test_cleanup_deletes_expired_jobs_with_their_segments(alice, _media_root, settings):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    job = submit(alice, turns=2)
    run_synthesis(job.pk)
    with time_machine.travel(timezone.now() + timedelta(days=settings.TTS_RETENTION_DAYS + 1)):
        call_command("cleanup_jobs")
    assert not Job.objects.filter(pk=job.pk).exists()
    assert files_under(_media_root) == []


def test_admin_delete_removes_segment_files(staff_client, alice, _media_root):
    job = submit(alice, turns=2)
    run_synthesis(job.pk)
    response = staff_client.post(f"/admin/synthesis/job/{job.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert files_under(_media_root) == []


def test_cancel_of_a_processing_job_deletes_its_segments(alice, _media_root):
    job = submit(alice, turns=2)
    claimed = Job.objects.claim(job.pk, "w1")
    run = SynthesisRun(claimed)
    piece = get_provider("espeak").synthesize("One kept turn.", "en-us")
    run.keep({}, 0, "k" * 64, piece, "One kept turn.")
    assert len(files_under(_media_root)) == 1
    assert job.cancel() is True
    assert files_under(_media_root) == [] and not Segment.objects.exists()
    # The run, unaware yet, tries to keep its next turn: refused, file gone.
    assert claimed.keep_segment(1, "k" * 64, b"RIFF", "wav", frames=1, sample_rate=22050, done=2) is None
    assert files_under(_media_root) == []


def test_a_resumed_run_deletes_what_the_interrupted_one_stored_but_never_recorded(
    alice, scripted_provider, _media_root
):
    """A run killed between storing a turn and recording it (or during the
    save) left a file no row points to; bench/soak.py found them after
    cluster kills. The resumed run deletes them, not an hour later."""
    job = submit(alice, turns=2, provider="scripted")
    Job.objects.claim(job.pk, "host-a")
    folder = _media_root / "segments" / str(job.pk)
    folder.mkdir(parents=True)
    (folder / "0000-unrecorded.flac").write_bytes(b"fLaC")
    (folder / ".partial-x1y2z3").write_bytes(b"fL")
    assert Job.objects.release_interrupted("host-a") == 1

    assert run_synthesis(job.pk) == "completed"
    recorded = {_media_root / name for name in Segment.objects.filter(job=job).values_list("file", flat=True)}
    assert len(recorded) == 2
    assert set(files_under(folder)) == recorded


def test_a_resumed_jobs_latency_counts_from_its_first_pickup(alice, scripted_provider):
    """latency_ms is first pickup to audio stored, across every run, not only
    the last run's."""
    from datetime import timedelta

    from django.utils import timezone

    job = submit(alice, turns=2, provider="scripted")
    Job.objects.claim(job.pk, "host-a")
    # The first run began a minute ago, then died.
    first = timezone.now() - timedelta(minutes=1)
    Job.objects.filter(pk=job.pk).update(first_started_at=first, started_at=first)
    assert Job.objects.release_interrupted("host-a") == 1

    assert run_synthesis(job.pk) == "completed"
    job.refresh_from_db()
    assert job.first_started_at == first and job.started_at > first
    assert job.result_metadata["latency_ms"] >= 60_000
    assert job.result_metadata["latency_ms"] == pytest.approx(
        (job.completed_at - first).total_seconds() * 1000, abs=1000
    )

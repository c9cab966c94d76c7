"""Edit and re-render: a new version of a job speaks only what changed and
copies the rest from the job it is based on (never from another user's)."""

import os
import time

import pytest

from synthesis.models import Job, Segment
from synthesis.tasks import run_synthesis
from synthesis.validation import clean_job_request
from synthesis.versions import versions_of
from tests.conftest import dialogue

pytestmark = pytest.mark.django_db
SPEAKERS = ("Alice", "Bob", "Carol")


def submit(user, texts, speakers=None, voices=None, **version):
    body = dialogue(provider="scripted")
    speakers = speakers or [SPEAKERS[i % 3] for i in range(len(texts))]
    body["turns"] = [{"speaker": s, "text": t, "index": i} for i, (s, t) in enumerate(zip(speakers, texts))]
    if voices:
        body["voice_assignments"] = [{"speaker": s, "voice_id": voices.get(s, a["voice_id"])} for s, a in
                                     zip(SPEAKERS, body["voice_assignments"])]  # fmt: skip
    provider, params = clean_job_request(body)
    return Job.objects.submit(user, params, provider=provider, **version)


def completed(job) -> Job:
    assert run_synthesis(str(job.pk)) == "completed"
    job.refresh_from_db()
    return job


def test_editing_one_line_of_300_speaks_only_that_line(alice, scripted_provider):
    texts = [f"This is line number {i}, spoken once." for i in range(300)]
    started = time.perf_counter()
    first = completed(submit(alice, texts))
    first_seconds = time.perf_counter() - started
    assert scripted_provider.calls == 300

    texts[137] = "This line was edited after listening."
    scripted_provider.calls = 0
    started = time.perf_counter()
    second = completed(submit(alice, texts, based_on=first))
    second_seconds = time.perf_counter() - started
    assert scripted_provider.calls == 1  # the edited line, and nothing else
    print(f"first {first_seconds:.2f} s, re-render {second_seconds:.2f} s")
    assert second.based_on_id == first.pk
    assert second.result_metadata["reused_turns"] == 299 and "reused_turns" not in first.result_metadata
    # Every turn before the edit is where it was; the file is complete.
    before, after = first.result_metadata["turn_timings"], second.result_metadata["turn_timings"]
    assert len(after) == 300 and after[:137] == before[:137]
    # Its own copies: on local storage hard links to the first version's
    # files (no audio written again); deleting the first leaves the second whole.
    kept = [s for s in Segment.objects.filter(job=second) if s.turn_index != 137]
    assert all(os.stat(s.file.path).st_nlink == 2 for s in kept)
    assert not {s.file.name for s in kept} & {s.file.name for s in Segment.objects.filter(job=first)}
    first.delete_with_audio()
    assert Segment.objects.filter(job=second).count() == 300
    assert all(s.file.storage.exists(s.file.name) for s in Segment.objects.filter(job=second))
    assert all(os.stat(s.file.path).st_nlink == 1 for s in kept)
    # ... and deleting the second removes the last name of each file.
    paths = [s.file.path for s in Segment.objects.filter(job=second)]
    second.delete_with_audio()
    assert not any(os.path.exists(path) for path in paths)


def test_a_new_voice_respeaks_that_speakers_lines_only(alice, scripted_provider):
    texts = [f"Line {i} of the scene." for i in range(9)]
    first = completed(submit(alice, texts))
    scripted_provider.calls = 0
    completed(submit(alice, texts, voices={"Bob": "en-gb+f4"}, based_on=first))
    assert scripted_provider.calls == 3  # Bob's three lines


def test_giving_a_line_to_another_speaker_respeaks_that_line(alice, scripted_provider):
    texts = [f"Line {i} of the scene." for i in range(6)]
    first = completed(submit(alice, texts))
    speakers = [SPEAKERS[i % 3] for i in range(6)]
    speakers[4] = "Alice"  # was Bob's
    scripted_provider.calls = 0
    completed(submit(alice, texts, speakers=speakers, based_on=first))
    assert scripted_provider.calls == 1


def test_a_retake_speaks_the_line_again_though_unchanged(alice, scripted_provider):
    texts = [f"Line {i} of the scene." for i in range(4)]
    first = completed(submit(alice, texts))
    scripted_provider.calls = 0
    completed(submit(alice, texts, based_on=first, retake_turns=[2]))
    assert scripted_provider.calls == 1


def test_a_job_can_only_be_based_on_its_owners_job(alice, bob, scripted_provider):
    alices = completed(submit(alice, ["Hello there.", "Hi."]))
    with pytest.raises(ValueError):
        submit(bob, ["Hello there.", "Hi."], based_on=alices)


def test_versions_lists_the_whole_family_oldest_first(alice, scripted_provider):
    texts = ["One.", "Two."]
    first = completed(submit(alice, texts))
    second = completed(submit(alice, ["One.", "Three."], based_on=first))
    third = submit(alice, ["One.", "Four."], based_on=second)
    other = submit(alice, ["Unrelated."])
    assert [j.pk for j in versions_of(third)] == [first.pk, second.pk, third.pk]
    assert [j.pk for j in versions_of(first)] == [first.pk, second.pk, third.pk]
    assert [j.pk for j in versions_of(other)] == [other.pk]


def test_api_based_on(alice_client, alice, bob, scripted_provider):
    first = completed(submit(alice, ["Hello there.", "Hi.", "Good day."]))
    body = dialogue(provider="scripted", based_on=str(first.pk), retake_turns=[1])
    response = alice_client.post("/api/v1/jobs", body, content_type="application/json")
    assert response.status_code == 201, response.content
    assert response.json()["based_on"] == str(first.pk)
    new = Job.objects.get(pk=response.json()["id"])
    assert new.based_on_id == first.pk and new.retake_turns == [1]

    bobs = completed(submit(bob, ["Hello there."]))
    for bad in ({"based_on": str(bobs.pk)}, {"based_on": "nope"}, {"retake_turns": [0]}, {"retake_turns": [9]}):
        response = alice_client.post(
            "/api/v1/jobs", dialogue(provider="scripted", **bad), content_type="application/json"
        )
        assert response.status_code == 400, bad
        assert response.json()["error"] == "VALIDATION_ERROR"
        assert set(response.json()["details"]) & {"based_on", "retake_turns"}


def test_a_cloud_provider_is_asked_once_for_the_one_edited_line(alice, settings):
    """The same over real HTTP: the OpenAI fake counts the requests it got."""
    from tests.fakes import job_body, serving
    from tests.fakes.openai import OpenAIFake

    settings.TTS_OPENAI_VOICES = ["alloy", "echo", "nova"]
    voices = {"Alice": "alloy", "Bob": "echo", "Carol": "nova"}
    lines = [(SPEAKERS[i % 3], f"Cloud line {i}.") for i in range(40)]
    with serving(settings, OpenAIFake()) as fake:
        provider, params = clean_job_request(job_body("openai", lines, voices, output_format="mp3"))
        first = completed(Job.objects.submit(alice, params, provider=provider))
        assert len(fake.synthesis_requests) == 40
        lines[25] = ("Bob", "An edited cloud line.")
        provider, params = clean_job_request(job_body("openai", lines, voices, output_format="mp3"))
        second = completed(Job.objects.submit(alice, params, provider=provider, based_on=first))
        assert len(fake.synthesis_requests) == 41
        assert fake.synthesis_requests[-1].json()["input"] == "An edited cloud line."
    before, after = first.result_metadata["turn_timings"], second.result_metadata["turn_timings"]
    assert after[:25] == before[:25] and len(after) == 40

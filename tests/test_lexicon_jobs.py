"""The pronunciation dictionary in jobs: the snapshot taken at submission,
what the engines are handed (eSpeak in process, the cloud services over real
HTTP to their fakes), and which kept turns a changed dictionary re-speaks."""

import xml.etree.ElementTree as ET

import pytest

from synthesis import lexicon
from synthesis.models import Job, LexiconEntry, LexiconEntryInvalid
from synthesis.providers import reset_providers
from synthesis.tasks import run_synthesis
from synthesis.validation import clean_job_request
from tests.engines import RecordingEspeak
from tests.fakes import job_body, run_job, serving
from tests.fakes.azure import SSML_NS, AzureFake
from tests.fakes.elevenlabs import VOICES as ELEVEN_VOICES
from tests.fakes.elevenlabs import ElevenLabsFake
from tests.fakes.openai import OpenAIFake

pytestmark = pytest.mark.django_db


@pytest.fixture
def recording(settings):
    settings.TTS_PROVIDER_CLASSES = ["synthesis.providers.espeak.EspeakProvider", "tests.engines.RecordingEspeak"]
    reset_providers()
    RecordingEspeak.texts = []
    yield RecordingEspeak.texts
    reset_providers()


def submit(user, lines, provider="recording", voices=None, **extra):
    voices = voices or {"Alice": "en-us", "Bob": "en-us+m3"}
    body = job_body(provider, lines, {s: voices[s] for s, _ in lines}, **extra)
    provider, params = clean_job_request(body)
    based_on = extra.get("based_on")
    return Job.objects.submit(user, params, provider=provider, based_on=based_on)


def add(user, written, spoken, kind="respelling", case_sensitive=False):
    return LexiconEntry.objects.add(user, written=written, spoken=spoken, kind=kind, case_sensitive=case_sensitive)


LINES = [("Alice", "Meet Mr Nguyen."), ("Bob", "Hello, Nguyen! I like tomato."), ("Alice", "Bye.")]


def test_a_job_records_the_entries_its_text_uses(alice, bob, recording):
    add(alice, "Nguyen", "win")
    add(alice, "tomato", "t@m'A:t#oU", kind="espeak")
    add(alice, "potato", "pu-tah-to")  # not in the dialogue
    add(bob, "Bye", "Goodbye")  # someone else's
    job = submit(alice, LINES)
    assert job.lexicon == [
        {"written": "Nguyen", "spoken": "win", "kind": "respelling", "case_sensitive": False, "applied": True},
        {"written": "tomato", "spoken": "t@m'A:t#oU", "kind": "espeak", "case_sensitive": False, "applied": True},
    ]
    run_synthesis(job.pk)
    assert recording == [
        "Meet Mr win.",
        lexicon.apply("Hello, win! I like tomato.", [lexicon.Entry("tomato", "t@m'A:t#oU", "espeak")]),
        "Bye.",
    ]
    # Subtitles and the job's page show what the user wrote.
    assert Job.objects.get(pk=job.pk).input_params["turns"][0]["text"] == "Meet Mr Nguyen."


def test_editing_the_dictionary_after_submit_changes_neither_the_job_nor_its_run(alice, recording):
    entry = add(alice, "Nguyen", "win")
    job = submit(alice, LINES)
    snapshot = list(job.lexicon)
    entry.change(spoken="noo-yen")
    add(alice, "Bye", "Goodbye")
    run_synthesis(job.pk)  # the run (first or resumed) reads the job, not the dictionary
    job.refresh_from_db()
    assert job.status == Job.Status.COMPLETED
    assert job.lexicon == snapshot
    assert recording == ["Meet Mr win.", "Hello, win! I like tomato.", "Bye."]
    entry.delete()
    job.refresh_from_db()
    assert job.lexicon == snapshot


def test_a_changed_entry_re_speaks_only_the_turns_it_touches(alice, recording):
    lines = [("Alice", "Hello Nguyen."), ("Bob", "Nothing to change here."), ("Alice", "Tomato soup.")]
    entry = add(alice, "Nguyen", "win")
    add(alice, "tomato", "tomahto")
    first = submit(alice, lines)
    run_synthesis(first.pk)
    assert len(recording) == 3
    recording.clear()
    entry.change(spoken="noo-yen")
    second = submit(alice, lines, based_on=Job.objects.get(pk=first.pk))
    run_synthesis(second.pk)
    second.refresh_from_db()
    assert second.status == Job.Status.COMPLETED, second.error_message
    # Only the turn with "Nguyen" was spoken again; the other two were copied.
    assert recording == ["Hello noo-yen."]


def test_the_dictionary_changes_the_words_around_a_pause_never_the_marker(alice, recording):
    add(alice, "pause", "paws")
    add(alice, "Nguyen", "win")
    job = submit(alice, [("Alice", "Nguyen [pause 800ms] pause, Nguyen."), ("Bob", "[PAUSE 1s]")])
    run_synthesis(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.COMPLETED, job.error_message
    assert recording == ["win", "paws, win."]


def test_a_spoken_form_cannot_hide_a_pause(alice):
    with pytest.raises(LexiconEntryInvalid) as invalid:
        add(alice, "wait", "[pause 2s]")
    assert "spoken" in invalid.value.errors


def test_a_turn_left_with_nothing_to_say_by_the_dictionary_fails_clearly(alice, recording):
    add(alice, "Hmm", "...")
    job = submit(alice, [("Alice", "Hmm"), ("Bob", "Yes.")])
    run_synthesis(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and job.error_code == "NO_AUDIO"
    assert recording == []


# --- cloud services, through their fakes over real HTTP ----------------------


@pytest.fixture
def openai(settings, fast_retries):
    settings.TTS_OPENAI_VOICES = ["alloy", "echo"]
    with serving(settings, OpenAIFake()) as fake:
        yield fake


def test_openai_gets_the_respelling_and_the_written_form_of_phonemes(alice, openai):
    add(alice, "Nguyen", "win")
    add(alice, "tomato", "təˈmɑːtoʊ", kind="ipa")
    job = run_job(alice, job_body("openai", LINES, {"Alice": "alloy", "Bob": "echo"}))
    assert job.status == "completed", job.error_message
    # The IPA entry is recorded as not applied: this service takes no phonemes.
    assert [(e["written"], e["applied"]) for e in job.lexicon] == [("Nguyen", True), ("tomato", False)]
    inputs = [request.json()["input"] for request in openai.synthesis_requests]
    assert inputs == ["Meet Mr win.", "Hello, win! I like tomato.", "Bye."]


@pytest.fixture
def azure(settings, fast_retries):
    with serving(settings, AzureFake()) as fake:
        yield fake


def test_azure_gets_ssml_phonemes_and_respellings(alice, azure):
    add(alice, "Nguyen", "win")
    add(alice, "tomato", "təˈmɑːtoʊ", kind="ipa")
    add(alice, "Bye", "b'aI", kind="espeak")  # eSpeak's alphabet: not for Azure
    job = run_job(alice, job_body("azure", LINES, {"Alice": "en-US-JennyNeural", "Bob": "en-US-GuyNeural"}))
    assert job.status == "completed", job.error_message
    assert {e["written"]: e["applied"] for e in job.lexicon} == {"Nguyen": True, "tomato": True, "Bye": False}
    [request] = azure.synthesis_requests
    body = request.body.decode()
    assert '<phoneme alphabet="ipa" ph="təˈmɑːtoʊ">tomato</phoneme>' in body
    assert "Meet Mr win." in body and "Nguyen" not in body
    root = ET.fromstring(request.body)
    [phoneme] = root.iter(f"{SSML_NS}phoneme")
    assert (phoneme.get("alphabet"), phoneme.get("ph"), phoneme.text) == ("ipa", "təˈmɑːtoʊ", "tomato")
    assert "b'aI" not in body and "Bye." in body


def test_azure_phonemes_are_escaped(alice, azure):
    # Validation refuses < > & and quotes; an apostrophe is legal IPA-ish input.
    add(alice, "O'Neil", "oʊ'niːl", kind="ipa")
    job = run_job(alice, job_body("azure", [("Alice", "Hi O'Neil & co.")], {"Alice": "en-US-JennyNeural"}))
    assert job.status == "completed", job.error_message
    [phoneme] = ET.fromstring(azure.synthesis_requests[0].body).iter(f"{SSML_NS}phoneme")
    assert (phoneme.get("ph"), phoneme.text) == ("oʊ'niːl", "O'Neil")


@pytest.fixture
def elevenlabs(settings, fast_retries):
    with serving(settings, ElevenLabsFake()) as fake:
        yield fake


def test_elevenlabs_gets_the_respelling(alice, elevenlabs):
    rachel, drew = list(ELEVEN_VOICES)[:2]
    add(alice, "Nguyen", "win")
    add(alice, "tomato", "t@m'A:t#oU", kind="espeak")
    job = run_job(alice, job_body("elevenlabs", LINES, {"Alice": rachel, "Bob": drew}))
    assert job.status == "completed", job.error_message
    [request] = elevenlabs.synthesis_requests
    texts = [item["text"] for item in request.json()["inputs"]]
    assert texts == ["Meet Mr win.", "Hello, win! I like tomato.", "Bye."]


@pytest.mark.django_db(transaction=True)
def test_concurrent_adds_never_pass_the_limit(alice, settings):
    import threading

    from django.db import connection

    from synthesis.models import LexiconFull

    settings.TTS_MAX_LEXICON_ENTRIES = 5
    for word in ("one", "two", "three", "four"):
        add(alice, word, "x")
    start, results = threading.Barrier(8), []

    def attempt(n):
        try:
            start.wait()
            add(alice, f"word{n}", "x")
            results.append("added")
        except LexiconFull:
            results.append("full")
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["added"] + ["full"] * 7
    assert LexiconEntry.objects.for_user(alice).count() == 5

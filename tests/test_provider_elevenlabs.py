import json

import pytest

from synthesis.audio import decode
from synthesis.providers import get_provider
from synthesis.providers.base import PermanentProviderError, TransientProviderError
from tests.fakes import job_body, run_job, serving
from tests.fakes.elevenlabs import VOICES, ElevenLabsFake

RACHEL, DREW, SARAH, GEORGE = VOICES
LINES = [("Alice", "Hello there, Bob."), ("Bob", "Hi Alice. How are you today?"), ("Alice", "Fine, thanks.")]
ASSIGN = {"Alice": RACHEL, "Bob": DREW}


@pytest.fixture
def elevenlabs(settings):
    with serving(settings, ElevenLabsFake()) as fake:
        yield fake


def test_dialogue_request_follows_the_text_to_dialogue_api(elevenlabs):
    turns = [("Hello there.", RACHEL), ("Hi!", DREW)]
    result = get_provider("elevenlabs").synthesize_dialogue(turns, "en")
    [request] = elevenlabs.synthesis_requests
    assert (request.method, request.path) == ("POST", "/v1/text-to-dialogue/with-timestamps")
    assert request.query == {"output_format": ["pcm_24000"]}
    assert request.headers["xi-api-key"] == elevenlabs.api_key
    assert "authorization" not in request.headers
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "inputs": [{"text": "Hello there.", "voice_id": RACHEL}, {"text": "Hi!", "voice_id": DREW}],
        "model_id": "eleven_v3",
        "language_code": "en",
    }
    assert len(result.turns) == 2


def test_turns_are_cut_at_the_voice_segments(elevenlabs):
    turns = [("Hi.", RACHEL), ("That is a much longer sentence, spoken by somebody else.", DREW), ("Bye.", SARAH)]
    result = get_provider("elevenlabs").synthesize_dialogue(turns)
    assert len(elevenlabs.spoken) == len(result.turns) == 3
    for piece, spoken in zip(result.turns, elevenlabs.spoken):
        # Exactly the segment: to the sample, give or take the rounding of
        # its times to milliseconds (24 samples at each end).
        assert abs(len(piece.samples) - len(spoken)) <= 48


def test_without_voice_segments_the_pauses_are_used(settings):
    with serving(settings, ElevenLabsFake(timestamps=False)):
        turns = [("Hi.", RACHEL), ("That is a much longer sentence, spoken by somebody else.", DREW)]
        result = get_provider("elevenlabs").synthesize_dialogue(turns)
    assert len(result.turns) == 2
    assert result.turns[0].duration_ms < 1000 < result.turns[1].duration_ms


def test_segmented_mode_uses_text_to_speech_per_turn(elevenlabs, settings, alice):
    settings.TTS_ELEVENLABS_DIALOGUE = False
    job = run_job(alice, job_body("elevenlabs", LINES, ASSIGN))
    assert job.status == "completed", job.error_message
    assert job.result_metadata["synthesis_mode"] == "segmented"
    requests = elevenlabs.synthesis_requests
    assert [r.path for r in requests] == [
        f"/v1/text-to-speech/{RACHEL}",
        f"/v1/text-to-speech/{DREW}",
        f"/v1/text-to-speech/{RACHEL}",
    ]
    assert requests[0].json() == {
        "text": "Hello there, Bob.",
        "model_id": "eleven_multilingual_v2",
        "language_code": "en",
    }
    assert requests[0].query == {"output_format": ["pcm_24000"]}


def test_voices_come_from_the_voices_endpoint_and_are_cached(elevenlabs):
    provider = get_provider("elevenlabs")
    voices = {v.id: v for v in provider.voices()}
    provider.voices()
    assert set(voices) == set(VOICES)
    assert (voices[RACHEL].name, voices[RACHEL].gender, voices[RACHEL].language) == ("Rachel", "female", "en")
    listed = [r for r in elevenlabs.requests if r.path == "/v1/voices"]
    assert len(listed) == 1 and listed[0].headers["xi-api-key"] == elevenlabs.api_key


def test_dialogue_job_completes_natively_in_one_request(elevenlabs, alice):
    job = run_job(alice, job_body("elevenlabs", LINES, ASSIGN))
    assert job.status == "completed", job.error_message
    meta = job.result_metadata
    assert meta["synthesis_mode"] == "native"
    assert len(elevenlabs.synthesis_requests) == 1
    assert abs(decode(job.audio.read()).duration_ms - meta["duration_ms"]) <= 1
    assert [t["speaker"] for t in meta["turn_timings"]] == ["Alice", "Bob", "Alice"]


def test_long_dialogue_is_split_into_requests_at_turn_boundaries(elevenlabs, alice, settings):
    settings.TTS_ELEVENLABS_MAX_CHARS = 50
    lines = [
        ("Alice", "The first line is here."),
        ("Bob", "The second line follows."),
        ("Alice", "A third line comes now."),
        ("Bob", "And the fourth one ends."),
    ]
    job = run_job(alice, job_body("elevenlabs", lines, ASSIGN))
    assert job.status == "completed", job.error_message
    sent = [r.json()["inputs"] for r in elevenlabs.synthesis_requests]
    assert [len(inputs) for inputs in sent] == [2, 2]
    assert [i["text"] for inputs in sent for i in inputs] == [text for _, text in lines]


def test_single_turn_over_the_limit_is_sent_in_parts_and_joined(elevenlabs, settings):
    settings.TTS_ELEVENLABS_MAX_CHARS = 40
    text = "This is the first sentence. This is the second sentence. And a third."
    result = get_provider("elevenlabs").synthesize_dialogue([(text, RACHEL), ("Short.", DREW)])
    sent = [[i["text"] for i in r.json()["inputs"]] for r in elevenlabs.synthesis_requests]
    assert all(sum(len(t) for t in request) <= 40 for request in sent)
    assert " ".join(t for request in sent for t in request) == text + " Short."
    assert len(result.turns) == 2
    assert result.turns[0].duration_ms > 3 * result.turns[1].duration_ms


@pytest.mark.parametrize(
    "status,body",
    [
        (429, {"detail": {"status": "too_many_concurrent_requests", "message": "Too many concurrent requests."}}),
        (500, {"detail": {"status": "internal_error", "message": "Something went wrong."}}),
        (503, {"detail": {"status": "system_busy", "message": "We are experiencing heavy traffic."}}),
    ],
)
def test_transient_error_is_retried_then_succeeds(elevenlabs, alice, fast_retries, status, body):
    elevenlabs.fail_next(status, body)
    job = run_job(alice, job_body("elevenlabs", LINES, ASSIGN))
    assert job.status == "completed", job.error_message
    assert job.retry_count == 1
    assert len(elevenlabs.synthesis_requests) == 2


def test_retry_after_http_date_is_understood(elevenlabs):
    elevenlabs.fail_next(
        429,
        {"detail": {"status": "rate_limited", "message": "slow down"}},
        headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"},
    )
    with pytest.raises(TransientProviderError) as caught:
        get_provider("elevenlabs").synthesize_dialogue([("Hi.", RACHEL)])
    assert caught.value.retry_after == 0  # a date in the past: retry now


@pytest.mark.parametrize(
    "status, reason, message",
    [
        (404, "voice_not_found", f"A voice with the voice_id {DREW} was not found."),
        (400, "voice_not_found", f"A voice for the voice_id {DREW} was not found."),  # older answers
        (400, "voice_does_not_exist", f"A voice with voice_id {DREW} does not exist."),
    ],
)
def test_voice_not_found_fails_at_once_with_a_clear_message(elevenlabs, alice, fast_retries, status, reason, message):
    elevenlabs.fail_next(status, {"detail": {"status": reason, "message": message}})
    job = run_job(alice, job_body("elevenlabs", LINES, ASSIGN))
    assert job.status == "failed"
    assert job.error_code == "VOICE_NOT_FOUND"
    assert job.error_message == f"ElevenLabs does not have the requested voice: {message}"
    assert job.retry_count == 0


@pytest.mark.parametrize("dialogue", [True, False])
def test_a_voice_the_service_does_not_know_is_voice_not_found(elevenlabs, settings, dialogue):
    settings.TTS_ELEVENLABS_DIALOGUE = dialogue
    provider = get_provider("elevenlabs")
    with pytest.raises(PermanentProviderError) as caught:
        if dialogue:
            provider.synthesize_dialogue([("Hi.", RACHEL), ("Hello.", "gone0000000000000000")])
        else:
            provider.synthesize("Hello.", "gone0000000000000000")
    assert caught.value.code == "VOICE_NOT_FOUND"
    assert "gone0000000000000000" in caught.value.message


def test_validation_error_422_is_permanent(elevenlabs, alice, fast_retries):
    elevenlabs.fail_next(422, {"detail": [{"loc": ["body", "inputs"], "msg": "Field required", "type": "missing"}]})
    job = run_job(alice, job_body("elevenlabs", LINES, ASSIGN))
    assert job.status == "failed"
    assert job.error_code == "PROVIDER_REJECTED"
    assert job.error_message == "ElevenLabs rejected the request (HTTP 422): Field required"


def test_timeout_is_retried(elevenlabs, alice, settings, fast_retries):
    settings.TTS_HTTP_TIMEOUT = 0.3
    elevenlabs.stall_next(1.0)
    job = run_job(alice, job_body("elevenlabs", LINES, ASSIGN))
    assert job.status == "completed", job.error_message
    assert job.retry_count == 1


def test_audio_that_is_not_base64_is_a_permanent_error(elevenlabs, alice, fast_retries):
    elevenlabs.fail_next(200, {"audio_base64": "%%% not base64 %%%", "voice_segments": []})
    job = run_job(alice, job_body("elevenlabs", LINES, ASSIGN))
    assert job.status == "failed"
    assert job.error_code == "PROVIDER_BAD_AUDIO"


def test_redirects_are_not_followed_so_the_key_stays_put(elevenlabs, fast_retries):
    elevenlabs.fail_next(302, headers={"Location": elevenlabs.url + "/v1/elsewhere"})
    with pytest.raises(PermanentProviderError) as caught:
        get_provider("elevenlabs").synthesize_dialogue([("Hi.", RACHEL)])
    assert "HTTP 302" in caught.value.message
    assert [r.path for r in elevenlabs.requests if r.path == "/v1/elsewhere"] == []


def test_sentences_are_timed_from_the_character_alignment(elevenlabs, alice, monkeypatch):
    """The with-timestamps answer's alignment (the fake's: where eSpeak spoke
    each word) times each sentence, through real HTTP, into the rendered file."""
    from synthesis import sentences
    from tests.onsets import onset_error_ms, speech_frames

    lines = [
        ("Alice", "Hello there, Bob. It has been a long time! Where were you?"),
        ("Bob", "I was away. The trip was long. Now I am back."),
    ]
    from_pauses = []
    real = sentences._from_pauses
    monkeypatch.setattr(sentences, "_from_pauses", lambda *a: from_pauses.append(a) or real(*a))
    job = run_job(alice, job_body("elevenlabs", lines, ASSIGN) | {"output_format": "wav"})
    assert job.status == "completed", job.error_message
    [request] = elevenlabs.synthesis_requests
    assert request.path == "/v1/text-to-dialogue/with-timestamps"
    assert from_pauses == []  # every sentence came from the alignment
    timed = job.result_metadata["sentence_timings"]
    assert [(t["turn_index"], t["text"]) for t in timed] == [
        (0, "Hello there, Bob."),
        (0, "It has been a long time!"),
        (0, "Where were you?"),
        (1, "I was away."),
        (1, "The trip was long."),
        (1, "Now I am back."),
    ]
    rendered = decode(job.audio.read())
    speech = speech_frames(rendered.samples, rendered.sample_rate)
    errors = [onset_error_ms(speech, t["start_ms"], t["end_ms"]) for t in timed]
    assert all(e is not None and abs(e) <= 100 for e in errors), errors


def test_an_alignment_of_other_text_is_not_read_by_position(elevenlabs):
    """The service normalises some text ("Dr." → "Doctor") in
    normalized_alignment only; should `alignment` ever differ from the text
    sent, its positions mean nothing here: no marks, the pauses are used."""
    provider = get_provider("elevenlabs")
    plain = provider.synthesize_dialogue([("Hello there. Bye now.", RACHEL)])
    assert [position for position, _ in plain.turns[0].marks][:3] == [0, 1, 2]
    original = elevenlabs._dialogue

    def altered(body):
        status, headers, payload = original(body)
        data = json.loads(payload)
        data["alignment"]["characters"] = ["x"] * len(data["alignment"]["characters"])
        return status, headers, json.dumps(data).encode()

    elevenlabs._dialogue = altered
    result = provider.synthesize_dialogue([("Hello there. Bye now.", RACHEL)])
    assert result.turns[0].marks == []

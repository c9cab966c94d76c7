import xml.etree.ElementTree as ET

import pytest

from synthesis.audio import decode
from synthesis.providers import get_provider, reset_providers
from synthesis.providers.azure import _endpoint
from synthesis.providers.base import TransientProviderError
from tests.fakes import job_body, run_job, serving, speak
from tests.fakes.azure import SSML_NS, VOICES, AzureFake

LINES = [("Alice", "Hello there, Bob."), ("Bob", "Hi Alice. How are you today?"), ("Alice", "Fine.")]
ASSIGN = {"Alice": "en-US-JennyNeural", "Bob": "en-US-GuyNeural"}


@pytest.fixture
def azure(settings):
    with serving(settings, AzureFake()) as fake:
        yield fake


def voices_in(request):
    root = ET.fromstring(request.body)
    return [(v.get("name"), "".join(v.itertext()).strip()) for v in root.iter(f"{SSML_NS}voice")]


def test_request_is_one_ssml_document_with_a_voice_per_turn(azure):
    turns = [("Hello <there> & welcome.", "en-US-JennyNeural"), ("Thanks!", "en-US-GuyNeural")]
    result = get_provider("azure").synthesize_dialogue(turns, "en")
    [request] = azure.synthesis_requests
    assert (request.method, request.path) == ("POST", "/cognitiveservices/v1")
    assert request.headers["ocp-apim-subscription-key"] == azure.key
    assert request.headers["content-type"] == "application/ssml+xml"
    assert request.headers["x-microsoft-outputformat"] == "riff-24khz-16bit-mono-pcm"
    assert request.headers["user-agent"]
    root = ET.fromstring(request.body)
    assert root.tag == f"{SSML_NS}speak" and root.get("version") == "1.0"
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "en-US"
    assert voices_in(request) == [("en-US-JennyNeural", "Hello <there> & welcome."), ("en-US-GuyNeural", "Thanks!")]
    assert len(result.turns) == 2
    assert all(t.sample_rate == 24000 for t in result.turns)


def test_one_response_is_cut_into_turns_at_the_right_places(azure):
    turns = [
        ("Hi.", "en-US-JennyNeural"),
        ("That is a much longer sentence, spoken by somebody else entirely.", "en-US-GuyNeural"),
        ("Okay. Bye now.", "en-GB-SoniaNeural"),
    ]
    result = get_provider("azure").synthesize_dialogue(turns, "en")
    assert len(azure.synthesis_requests) == 1
    for piece, (text, voice) in zip(result.turns, turns):
        alone_ms = 1000 * len(speak(text, VOICES[voice][4], 24000)) / 24000
        # Each piece is that turn's speech: within the silence eSpeak pads it with.
        assert abs(piece.duration_ms - alone_ms) < 200, (text, piece.duration_ms, alone_ms)


def test_voices_come_from_the_voices_list_and_are_cached(azure):
    provider = get_provider("azure")
    voices = {v.id: v for v in provider.voices()}
    provider.voices()
    provider.voice_ids()
    assert set(voices) == set(VOICES)
    jenny = voices["en-US-JennyNeural"]
    assert (jenny.name, jenny.language, jenny.gender) == ("Jenny (English (United States))", "en-US", "female")
    lists = [r for r in azure.requests if r.path == "/cognitiveservices/voices/list"]
    assert len(lists) == 1
    assert lists[0].method == "GET" and lists[0].headers["ocp-apim-subscription-key"] == azure.key


def test_voice_list_is_fetched_again_after_its_ttl(azure, settings):
    settings.TTS_VOICES_CACHE_SECONDS = 0
    reset_providers()
    provider = get_provider("azure")
    provider.voices()
    provider.voices()
    assert len([r for r in azure.requests if r.path == "/cognitiveservices/voices/list"]) == 2


def test_dialogue_job_completes_natively_in_one_request(azure, alice):
    job = run_job(alice, job_body("azure", LINES, ASSIGN))
    assert job.status == "completed", job.error_message
    meta = job.result_metadata
    assert meta["synthesis_mode"] == "native"
    assert len(azure.synthesis_requests) == 1
    assert voices_in(azure.synthesis_requests[0]) == [
        ("en-US-JennyNeural", "Hello there, Bob."),
        ("en-US-GuyNeural", "Hi Alice. How are you today?"),
        ("en-US-JennyNeural", "Fine."),
    ]
    assert [t["speaker"] for t in meta["turn_timings"]] == ["Alice", "Bob", "Alice"]
    assert all(t["end_ms"] > t["start_ms"] for t in meta["turn_timings"])
    assert abs(decode(job.audio.read()).duration_ms - meta["duration_ms"]) <= 1
    assert job.progress_done == 3


def test_long_dialogue_is_split_into_requests_at_turn_boundaries(azure, alice, settings):
    settings.TTS_AZURE_MAX_CHARS = 60
    lines = [
        ("Alice", "The first line is here."),
        ("Bob", "The second line follows."),
        ("Alice", "A third line comes now."),
        ("Bob", "And the fourth one ends."),
    ]
    job = run_job(alice, job_body("azure", lines, ASSIGN))
    assert job.status == "completed", job.error_message
    assert job.result_metadata["synthesis_mode"] == "native"
    sent = [voices_in(r) for r in azure.synthesis_requests]
    assert len(sent) == 2
    # Whole turns only, in order, each request under the limit.
    assert [text for request in sent for _, text in request] == [text for _, text in lines]
    assert all(sum(len(text) for _, text in request) <= 60 for request in sent)


def test_more_than_ten_speakers_take_more_than_one_request(azure, alice):
    lines = [(f"Speaker {i}", f"Line {i}.") for i in range(11)]
    voices = {f"Speaker {i}": ["en-US-JennyNeural", "en-US-GuyNeural"][i % 2] for i in range(11)}
    job = run_job(alice, job_body("azure", lines, voices))
    assert job.status == "completed", job.error_message
    assert [len(voices_in(r)) for r in azure.synthesis_requests] == [10, 1]


@pytest.mark.parametrize("status", [429, 502, 503])
def test_transient_error_is_retried_then_succeeds(azure, alice, fast_retries, status):
    azure.fail_next(status, headers={"Retry-After": "0"})
    job = run_job(alice, job_body("azure", LINES, ASSIGN))
    assert job.status == "completed", job.error_message
    assert job.retry_count == 1
    assert len(azure.synthesis_requests) == 2


def test_retry_after_seconds_reach_the_worker(azure):
    azure.fail_next(429, headers={"Retry-After": "12"})
    with pytest.raises(TransientProviderError) as caught:
        get_provider("azure").synthesize("Hello.", "en-US-JennyNeural")
    assert caught.value.retry_after == 12


def test_bad_request_fails_at_once(azure, alice, fast_retries):
    azure.fail_next(400)
    job = run_job(alice, job_body("azure", LINES, ASSIGN))
    assert job.status == "failed"
    assert job.error_code == "PROVIDER_REJECTED"
    assert "Azure Speech rejected the request (HTTP 400)" in job.error_message
    assert job.retry_count == 0
    assert len(azure.synthesis_requests) == 1


def test_timeout_is_retried(azure, alice, settings, fast_retries):
    settings.TTS_HTTP_TIMEOUT = 0.3
    azure.stall_next(1.0)
    job = run_job(alice, job_body("azure", LINES, ASSIGN))
    assert job.status == "completed", job.error_message
    assert job.retry_count == 1


def test_needs_a_key_and_a_region_or_endpoint(settings):
    settings.TTS_AZURE_SPEECH_KEY = "k"
    settings.TTS_AZURE_SPEECH_REGION = ""
    settings.TTS_AZURE_ENDPOINT = ""
    reset_providers()
    try:
        assert get_provider("azure") is None
        settings.TTS_AZURE_SPEECH_REGION = "westeurope"
        assert get_provider("azure") is not None
        assert _endpoint() == "https://westeurope.tts.speech.microsoft.com"
        settings.TTS_AZURE_SPEECH_KEY = ""
        assert get_provider("azure") is None
    finally:
        reset_providers()

import pytest

from synthesis.audio import decode
from synthesis.providers import get_provider, reset_providers
from synthesis.providers.base import PermanentProviderError, TransientProviderError
from tests.fakes import job_body, run_job, serving
from tests.fakes.openai import OpenAIFake

LINES = [("Alice", "Hello there, Bob."), ("Bob", "Hi Alice. How are you?"), ("Alice", "Very well, thank you.")]
VOICES = {"Alice": "alloy", "Bob": "echo"}


@pytest.fixture
def openai(settings):
    settings.TTS_OPENAI_VOICES = ["alloy", "echo", "nova"]
    with serving(settings, OpenAIFake()) as fake:
        yield fake


def test_request_follows_the_create_speech_api(openai, settings):
    audio = get_provider("openai").synthesize("Hello there.", "nova", "en")
    [request] = openai.synthesis_requests
    assert (request.method, request.path) == ("POST", "/v1/audio/speech")
    assert request.headers["authorization"] == f"Bearer {openai.api_key}"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {"model": "tts-1", "voice": "nova", "input": "Hello there.", "response_format": "flac"}
    assert audio.sample_rate == 24000
    assert 300 < audio.duration_ms < 3000


def test_base_url_may_end_in_v1(openai, settings):
    settings.TTS_OPENAI_BASE_URL = openai.url + "/v1/"
    get_provider("openai").synthesize("Hello.", "alloy")
    assert openai.synthesis_requests[0].path == "/v1/audio/speech"


def test_dialogue_job_completes_with_one_request_per_turn(openai, alice):
    job = run_job(alice, job_body("openai", LINES, VOICES))
    assert job.status == "completed", job.error_message
    meta = job.result_metadata
    assert meta["synthesis_mode"] == "segmented"
    assert len(openai.synthesis_requests) == 3
    assert [r.json()["voice"] for r in openai.synthesis_requests] == ["alloy", "echo", "alloy"]
    assert [r.json()["input"] for r in openai.synthesis_requests] == [text for _, text in LINES]
    audio = decode(job.audio.read())
    assert abs(audio.duration_ms - meta["duration_ms"]) <= 1
    assert job.retry_count == 0


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_transient_error_is_retried_then_succeeds(openai, alice, fast_retries, status):
    openai.fail_next(
        status,
        {"error": {"message": "busy", "type": "server_error", "param": None, "code": None}},
        headers={"Retry-After": "0"},
    )
    job = run_job(alice, job_body("openai", LINES, VOICES))
    assert job.status == "completed", job.error_message
    assert job.retry_count == 1
    assert len(openai.synthesis_requests) == 4


def test_rate_limit_passes_retry_after_to_the_worker(openai):
    openai.fail_next(
        429,
        {"error": {"message": "Rate limit reached", "type": "requests", "param": None, "code": "rate_limit_exceeded"}},
        headers={"Retry-After": "7"},
    )
    with pytest.raises(TransientProviderError) as caught:
        get_provider("openai").synthesize("Hello.", "alloy")
    assert caught.value.retry_after == 7
    assert caught.value.code == "PROVIDER_RATE_LIMITED"


def test_unknown_voice_fails_at_once_with_the_services_reason(openai, alice, settings, fast_retries):
    settings.TTS_OPENAI_VOICES = ["alloy", "ghost"]  # the server has no "ghost"
    job = run_job(alice, job_body("openai", LINES, {"Alice": "alloy", "Bob": "ghost"}))
    assert job.status == "failed"
    assert job.error_code == "PROVIDER_REJECTED"
    assert "HTTP 400" in job.error_message and "ghost" in job.error_message
    assert job.retry_count == 0
    assert len(openai.synthesis_requests) == 2  # Alice's turn, then Bob's, which failed


def test_unknown_model_is_a_404_that_fails_with_the_services_reason(openai, settings):
    settings.TTS_OPENAI_MODEL = "tts-9"
    with pytest.raises(PermanentProviderError) as caught:
        get_provider("openai").synthesize("Hello.", "alloy")
    assert caught.value.code == "PROVIDER_REJECTED"
    assert caught.value.message == (
        "The OpenAI-compatible speech server rejected the request (HTTP 404): The model `tts-9` does not exist."
    )


def test_forbidden_is_an_auth_failure_without_the_services_text(openai):
    openai.fail_next(
        403,
        {
            "error": {
                "message": "Project proj_8Xk2 does not have access to model tts-1",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        },
    )
    with pytest.raises(PermanentProviderError) as caught:
        get_provider("openai").synthesize("Hello.", "alloy")
    assert caught.value.code == "PROVIDER_AUTH_FAILED"
    assert "HTTP 403" in caught.value.message and "proj_8Xk2" not in caught.value.message


def test_timeout_is_transient_and_retried(openai, alice, settings, fast_retries):
    settings.TTS_HTTP_TIMEOUT = 0.3
    openai.stall_next(1.0)
    job = run_job(alice, job_body("openai", LINES, VOICES))
    assert job.status == "completed", job.error_message
    assert job.retry_count == 1


def test_timeout_on_every_attempt_fails_the_job_with_timeout_code(openai, alice, settings, fast_retries):
    settings.TTS_HTTP_TIMEOUT = 0.2
    openai.stall_next(0.6, times=4)
    job = run_job(alice, job_body("openai", LINES[:1], VOICES))
    assert job.status == "failed"
    assert job.error_code == "PROVIDER_TIMEOUT"
    assert "did not answer within 0.2 seconds" in job.error_message
    assert job.retry_count == 3


def test_unreachable_server_is_transient(settings):
    settings.TTS_OPENAI_BASE_URL = "http://127.0.0.1:9"  # discard port: nothing listens
    settings.TTS_OPENAI_VOICES = ["alloy"]
    reset_providers()
    try:
        with pytest.raises(TransientProviderError) as caught:
            get_provider("openai").synthesize("Hello.", "alloy")
        assert caught.value.code == "PROVIDER_UNREACHABLE"
    finally:
        reset_providers()


def test_turn_longer_than_the_input_limit_is_split_at_sentences(openai):
    sentence = "This sentence is one of many in a very long speech. "
    text = (sentence * 90).strip()  # ~4,700 characters, over OpenAI's 4,096
    audio = get_provider("openai").synthesize(text, "alloy")
    inputs = [r.json()["input"] for r in openai.synthesis_requests]
    assert len(inputs) == 2
    assert all(len(i) <= 4096 for i in inputs)
    assert all(i.endswith(".") for i in inputs)
    assert " ".join(inputs) == text
    assert audio.duration_ms > 60_000


def test_server_that_lists_voices_is_asked(settings):
    settings.TTS_OPENAI_VOICES = []
    with serving(settings, OpenAIFake(list_voices=True)) as fake:
        provider = get_provider("openai")
        ids = [v.id for v in provider.voices()]
        provider.voices()  # cached: no second request
    assert ids == ["alloy", "echo", "fable", "nova", "onyx", "shimmer"]
    assert [r.path for r in fake.requests] == ["/v1/audio/voices"]


def test_without_a_voice_list_the_documented_voices_are_offered(openai, settings):
    settings.TTS_OPENAI_VOICES = []
    reset_providers()
    ids = {v.id for v in get_provider("openai").voices()}
    assert {"alloy", "echo", "nova", "shimmer"} <= ids


def test_openai_itself_needs_a_key(settings):
    settings.TTS_OPENAI_BASE_URL = "https://api.openai.com/v1"
    settings.TTS_OPENAI_API_KEY = ""
    reset_providers()
    try:
        assert get_provider("openai") is None
        settings.TTS_OPENAI_API_KEY = "sk-something"
        assert get_provider("openai") is not None
    finally:
        reset_providers()


def test_audio_the_client_cannot_read_is_a_permanent_error(openai):
    openai.fail_next(200)  # 200 with an empty body
    with pytest.raises(PermanentProviderError) as caught:
        get_provider("openai").synthesize("Hello.", "alloy")
    assert caught.value.code == "PROVIDER_BAD_AUDIO"

"""The catalog, the API's /voices and the new-dialogue page offer a provider
only when it can run: its settings are given (HTTP) or its package and a
model are installed (Piper)."""

import json

import pytest
from django.urls import reverse

from synthesis.providers import available_providers, reset_providers
from tests.conftest import dialogue
from tests.fakes import serving
from tests.fakes.azure import AzureFake
from tests.fakes.elevenlabs import ElevenLabsFake

HTTP_PROVIDERS = {"openai", "azure", "elevenlabs"}


@pytest.fixture
def unconfigured(settings):
    settings.TTS_OPENAI_BASE_URL = ""
    settings.TTS_AZURE_SPEECH_KEY = ""
    settings.TTS_ELEVENLABS_API_KEY = ""
    reset_providers()
    yield
    reset_providers()


@pytest.fixture
def azure_and_elevenlabs(unconfigured, settings):
    with serving(settings, AzureFake()) as azure, serving(settings, ElevenLabsFake()) as elevenlabs:
        yield azure, elevenlabs


def test_unconfigured_http_providers_are_not_offered(unconfigured, alice_client):
    assert HTTP_PROVIDERS.isdisjoint(available_providers())
    names = {p["name"] for p in alice_client.get("/api/v1/voices").json()["providers"]}
    assert {"espeak", "piper"} <= names
    assert HTTP_PROVIDERS.isdisjoint(names)
    page = alice_client.get("/jobs/new/").content.decode()
    assert "Piper (local neural)" in page
    assert "Azure Speech" not in page and "ElevenLabs" not in page and "OpenAI" not in page


def test_configured_providers_appear_with_their_voices(azure_and_elevenlabs, alice_client, settings):
    body = alice_client.get("/api/v1/voices").json()
    providers = {p["name"]: p for p in body["providers"]}
    assert {"azure", "elevenlabs"} <= set(providers)
    assert "openai" not in providers
    azure = providers["azure"]
    assert azure["label"] == "Azure Speech"
    assert azure["capabilities"]["native_multi_speaker"] is True
    assert azure["capabilities"]["max_speakers"] == 10
    assert {
        "id": "en-US-GuyNeural",
        "name": "Guy (English (United States))",
        "language": "en-US",
        "gender": "male",
    } in azure["voices"]
    assert {v["name"] for v in providers["elevenlabs"]["voices"]} == {"Rachel", "Drew", "Sarah", "George"}
    text = json.dumps(body)
    assert settings.TTS_AZURE_SPEECH_KEY not in text and settings.TTS_ELEVENLABS_API_KEY not in text
    page = alice_client.get("/jobs/new/").content.decode()
    assert "Azure Speech" in page and "ElevenLabs" in page


def test_job_for_an_unconfigured_provider_is_refused(unconfigured, alice_client):
    response = alice_client.post(
        "/api/v1/jobs", data=json.dumps(dialogue(provider="azure")), content_type="application/json"
    )
    assert response.status_code == 400
    assert "provider" in response.json()["details"]


def test_speakers_need_voices_of_the_jobs_provider(azure_and_elevenlabs, alice_client):
    # eSpeak voice ids on an Azure job: 400, naming each bad assignment.
    response = alice_client.post(
        "/api/v1/jobs", data=json.dumps(dialogue(provider="azure")), content_type="application/json"
    )
    assert response.status_code == 400
    assert "voice_assignments[0].voice_id" in response.json()["details"]


def test_a_service_that_is_down_leaves_the_catalog_working(unconfigured, settings, alice_client):
    settings.TTS_AZURE_SPEECH_KEY = "some-key"
    settings.TTS_AZURE_ENDPOINT = "http://127.0.0.1:9"  # nothing listens
    reset_providers()
    response = alice_client.get("/api/v1/voices")
    assert response.status_code == 200
    azure = next(p for p in response.json()["providers"] if p["name"] == "azure")
    assert azure["voices"] == []


def test_a_cloud_voice_preview_comes_from_the_service(azure_and_elevenlabs, alice_client, settings):
    from synthesis.audio import decode

    azure, _ = azure_and_elevenlabs
    response = alice_client.get(reverse("voice_preview"), {"provider": "azure", "voice": "en-US-GuyNeural"})
    assert response.status_code == 200
    assert 300 < decode(response.content).duration_ms < 10_000
    assert [r.path for r in azure.synthesis_requests] == ["/cognitiveservices/v1"]
    # A service that is down: the ▶ button gets a plain 503, and no key.
    azure.fail_next(503)
    response = alice_client.get(reverse("voice_preview"), {"provider": "azure", "voice": "en-US-JennyNeural"})
    assert response.status_code == 503
    assert "Azure Speech" in response.content.decode()
    assert settings.TTS_AZURE_SPEECH_KEY not in response.content.decode()

"""The cloud providers' keys, the same for each provider: a refused key fails
the job at once, and no key ever shows up where a user (the job's error), an
operator (the logs) or staff (the admin) could read it."""

import json
import logging

import pytest
from django.urls import reverse

from synthesis.models import Job
from synthesis.tasks import run_synthesis
from synthesis.validation import clean_job_request
from tests.fakes import job_body, serving
from tests.fakes.azure import AzureFake
from tests.fakes.elevenlabs import VOICES as ELEVENLABS_VOICES
from tests.fakes.elevenlabs import ElevenLabsFake
from tests.fakes.openai import OpenAIFake

pytestmark = pytest.mark.django_db

LINES = [("Alice", "Hello there, Bob."), ("Bob", "Hi Alice. How are you today?"), ("Alice", "Fine, thanks.")]
RACHEL, DREW, *_ = ELEVENLABS_VOICES

PROVIDERS = [
    # (provider, fake, voices, key setting, a wrong key, the service's name in messages)
    pytest.param(
        "openai",
        OpenAIFake,
        {"Alice": "alloy", "Bob": "echo"},
        "TTS_OPENAI_API_KEY",
        "sk-wrong-key-9d8e7f6a5b4c",
        "The OpenAI-compatible speech server",
        id="openai",
    ),
    pytest.param(
        "azure",
        AzureFake,
        {"Alice": "en-US-JennyNeural", "Bob": "en-US-GuyNeural"},
        "TTS_AZURE_SPEECH_KEY",
        "azkey-wrong-77c1d0e3b2a4",
        "Azure Speech",
        id="azure",
    ),
    pytest.param(
        "elevenlabs",
        ElevenLabsFake,
        {"Alice": RACHEL, "Bob": DREW},
        "TTS_ELEVENLABS_API_KEY",
        "xi-wrong-0a1b2c3d4e5f",
        "ElevenLabs",
        id="elevenlabs",
    ),
]


def submit(user, provider, voices) -> Job:
    """A job accepted the way the API accepts one (its voices checked against
    the provider's list, fetched with the right key), not yet run."""
    provider, params = clean_job_request(job_body(provider, LINES, voices))
    return Job.objects.submit(user, params, provider=provider)


def places_a_key_could_leak(job, caplog, staff_client) -> dict[str, str]:
    job.refresh_from_db()
    page = staff_client.get(reverse("admin:synthesis_job_change", args=[job.pk]))
    assert page.status_code == 200
    return {
        "error message": job.error_message,
        "job data": json.dumps([job.input_params, job.result_metadata]),
        "log": caplog.text,
        "admin page": page.content.decode(),
    }


@pytest.mark.parametrize("provider, fake_class, voices, key_setting, wrong_key, service", PROVIDERS)
def test_a_refused_key_fails_at_once_and_is_shown_nowhere(
    provider, fake_class, voices, key_setting, wrong_key, service, alice, settings, caplog, staff_client, fast_retries
):
    caplog.set_level(logging.DEBUG)
    with serving(settings, fake_class()) as fake:
        job = submit(alice, provider, voices)
        right_key = getattr(settings, key_setting)
        setattr(settings, key_setting, wrong_key)
        run_synthesis(str(job.pk))
    job.refresh_from_db()
    assert (job.status, job.error_code, job.retry_count) == ("failed", "PROVIDER_AUTH_FAILED", 0)
    assert len(fake.synthesis_requests) == 1
    assert job.error_message == (
        f"{service} refused this server's credentials (HTTP 401); an administrator needs to check its settings."
    )
    for where, text in places_a_key_could_leak(job, caplog, staff_client).items():
        assert wrong_key not in text, where
        assert right_key not in text, where
    # OpenAI quotes a masked key ("sk-***5b4c") in its 401: none of it is passed on.
    assert wrong_key[-4:] not in job.error_message


@pytest.mark.parametrize("provider, fake_class, voices, key_setting, wrong_key, service", PROVIDERS)
def test_a_service_that_echoes_the_key_in_its_reason_has_it_scrubbed(
    provider, fake_class, voices, key_setting, wrong_key, service, alice, settings, caplog, staff_client, fast_retries
):
    caplog.set_level(logging.DEBUG)
    with serving(settings, fake_class()) as fake:
        key = getattr(settings, key_setting)
        fake.fail_next(400, f"Request from key {key} has an invalid parameter.")
        job = submit(alice, provider, voices)
        run_synthesis(str(job.pk))
    job.refresh_from_db()
    assert (job.status, job.error_code) == ("failed", "PROVIDER_REJECTED")
    # The service's reason is passed on, without the key.
    assert job.error_message == (
        f"{service} rejected the request (HTTP 400): Request from key [redacted] has an invalid parameter."
    )
    for where, text in places_a_key_could_leak(job, caplog, staff_client).items():
        assert key not in text, where

"""The headers a security review expects: a Content-Security-Policy that allows
nothing inline, a Permissions-Policy, and no caching of anyone's own pages, API
answers or audio. (tests/browser/test_csp.py proves the pages work under it.)"""

import re

import pytest
from django.test import Client
from django.urls import reverse

from synthesis.models import ApiToken, Job
from tests.website import submitted_job

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def test_every_page_has_a_csp_that_allows_nothing_inline(client):
    response = client.get(reverse("login"))
    csp = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'"
    assert csp["object-src"] == "'none'" and csp["frame-ancestors"] == "'none'"
    assert "unsafe" not in response["Content-Security-Policy"]
    assert "camera=()" in response["Permissions-Policy"] and "microphone=()" in response["Permissions-Policy"]


def inline_code(html: str) -> list[str]:
    """Everything the CSP would refuse: style attributes, <style> elements,
    <script> elements without src, on…= handlers."""
    return (
        re.findall(r"<[^>]+\sstyle=", html)
        + re.findall(r"<style[\s>]", html)
        + re.findall(r"<script(?![^>]*\ssrc=)[^>]*>", html)
        + re.findall(r"<[^>]+\son[a-z]+=", html)
    )


def test_our_pages_carry_no_inline_style_or_script(alice_client, alice):
    """The finding's example: the timeline's bars had inline widths."""
    completed = submitted_job(alice, Job.Status.COMPLETED)
    failed = submitted_job(alice, Job.Status.FAILED)
    pages = [
        alice_client.get(reverse("job_list")),
        alice_client.get(reverse("job_list"), **HX),
        alice_client.get(reverse("job_detail", args=[completed.pk])),
        alice_client.get(reverse("job_detail", args=[failed.pk])),
        alice_client.get(reverse("job_new")),
        alice_client.post(reverse("job_new"), {"action": "refresh", "script": "A: hi\nB: ho", "provider": "espeak"}),
        alice_client.get(reverse("account_tokens")),
        alice_client.get(reverse("password_change")),
        Client().get(reverse("login")),
    ]
    for response in pages:
        assert response.status_code == 200
        html = response.content.decode()
        assert inline_code(html) == [], response.wsgi_request.path
    assert "<svg" in pages[2].content.decode()  # the timeline, drawn with attributes
    assert "includeIndicatorStyles" in pages[0].content.decode()  # htmx injects no <style>


def test_own_pages_api_answers_and_audio_are_not_cached(alice_client, alice):
    """The finding: job pages, API responses and audio had no Cache-Control: private."""
    job = submitted_job(alice, Job.Status.COMPLETED)
    _, secret = ApiToken.objects.create_token(alice, "script")
    api = Client(headers={"Authorization": f"Bearer {secret}"})
    responses = {
        "list": alice_client.get(reverse("job_list")),
        "detail": alice_client.get(reverse("job_detail", args=[job.pk])),
        "detail htmx": alice_client.get(reverse("job_detail", args=[job.pk]), **HX),
        "new": alice_client.get(reverse("job_new")),
        "audio": alice_client.get(reverse("job_download", args=[job.pk])),
        "subtitles": alice_client.get(reverse("job_subtitles_srt", args=[job.pk])),
        "api list": api.get("/api/v1/jobs"),
        "api job": api.get(f"/api/v1/jobs/{job.pk}"),
        "api audio": api.get(f"/api/v1/jobs/{job.pk}/download"),
        "api error": api.get("/api/v1/jobs/nope"),
    }
    for name, response in responses.items():
        assert response.status_code in (200, 404), name
        assert response["Cache-Control"] == "private, no-store", name


def test_a_voice_sample_keeps_its_own_cache_lifetime(alice_client):
    # The same for everyone, and worth keeping: only "private" keeps it out of shared caches.
    response = alice_client.get(reverse("voice_preview"), {"provider": "espeak", "voice": "en-us"})
    assert response["Cache-Control"] == "private, max-age=86400"

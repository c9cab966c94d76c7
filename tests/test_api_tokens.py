"""API tokens: the account page that makes and revokes them, and the API
accepting them as ``Authorization: Bearer``."""

import json
import re
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from synthesis.models import ApiToken, Job
from tests.conftest import dialogue
from tests.factories import make_job

pytestmark = pytest.mark.django_db


def bearer(secret) -> Client:
    # enforce_csrf_checks: a token request must work without any CSRF token.
    return Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {secret}"})


def create_token_on_page(client, name="nightly script") -> str:
    response = client.post(reverse("account_tokens"), {"name": name})
    assert response.status_code == 200
    return response.context["new_secret"]


def test_token_page_needs_login(client):
    response = client.get(reverse("account_tokens"))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/") or "login" in response["Location"]


def test_created_token_is_shown_once_and_stored_hashed(alice_client, alice):
    secret = create_token_on_page(alice_client)
    token = ApiToken.objects.get(owner=alice)
    assert token.name == "nightly script"
    assert secret.startswith("tts_") and len(secret) > 40
    assert token.prefix == secret[:12]
    assert token.key_hash != secret and secret not in token.key_hash
    # The listing afterwards shows the prefix, never the secret.
    page = alice_client.get(reverse("account_tokens"))
    content = page.content.decode()
    assert token.prefix in content and "nightly script" in content
    assert secret not in content
    assert "no-store" in page["Cache-Control"] or "max-age=0" in page["Cache-Control"]


def test_token_page_lists_only_the_users_tokens(alice_client, bob):
    ApiToken.objects.create_token(bob, "bobs-secret-thing")
    assert "bobs-secret-thing" not in alice_client.get(reverse("account_tokens")).content.decode()


def test_token_needs_a_name(alice_client, alice):
    response = alice_client.post(reverse("account_tokens"), {"name": ""})
    assert response.context["form"].errors["name"]
    assert not ApiToken.objects.filter(owner=alice).exists()


def test_htmx_create_renders_only_the_panel(alice_client):
    response = alice_client.post(reverse("account_tokens"), {"name": "x"}, headers={"HX-Request": "true"})
    content = response.content.decode()
    assert content.lstrip().startswith('<section id="token-panel">')
    secret = re.search(r'id="new-token-secret">([^<]+)<', content).group(1)
    assert ApiToken.objects.authenticate(secret) is not None
    assert "<html" not in content


def test_htmx_get_renders_the_panel_and_plain_get_the_page(alice_client):
    assert "<html" in alice_client.get(reverse("account_tokens")).content.decode()
    partial = alice_client.get(reverse("account_tokens"), headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in partial and 'id="token-panel"' in partial


def test_token_authenticates_the_api_without_csrf(alice_client, alice):
    secret = create_token_on_page(alice_client)
    api = bearer(secret)
    response = api.post("/api/v1/jobs", data=json.dumps(dialogue()), content_type="application/json")
    assert response.status_code == 201
    assert Job.objects.get(pk=response.json()["id"]).owner == alice
    assert api.get("/api/v1/jobs").json()["total"] == 1


def test_token_use_updates_last_used_once_a_minute(alice):
    token, secret = ApiToken.objects.create_token(alice, "poller")
    assert token.last_used_at is None
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert bearer(secret).get("/api/v1/jobs").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at == start
    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        bearer(secret).get("/api/v1/jobs")
    token.refresh_from_db()
    assert token.last_used_at == start  # not rewritten on every request
    with time_machine.travel(start + timedelta(minutes=2), tick=False):
        bearer(secret).get("/api/v1/jobs")
    token.refresh_from_db()
    assert token.last_used_at == start + timedelta(minutes=2)


def test_revoked_token_gets_401_json(alice_client, alice):
    secret = create_token_on_page(alice_client)
    token = ApiToken.objects.get(owner=alice)
    response = alice_client.post(reverse("account_token_revoke", args=[token.pk]), follow=True)
    assert "revoked" in response.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is not None
    response = bearer(secret).get("/api/v1/jobs")
    assert response.status_code == 401
    assert response.json() == {
        "error": "INVALID_TOKEN",
        "message": "The API token is unknown or revoked.",
        "details": {},
    }
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer tts_not-a-real-token-at-all-xxxxxxxxxxxxxxxxxxxxxx",
        "Bearer ",
        "Bearer",
        "Basic YWxpY2U6YWxpY2UtcGFzc3dvcmQ=",
        "tts_something",
    ],
)
def test_unknown_or_malformed_token_gets_401(db, header):
    response = Client().get("/api/v1/jobs", headers={"Authorization": header})
    assert response.status_code == 401
    assert set(response.json()) == {"error", "message", "details"}


def test_a_bad_token_is_refused_even_with_a_session(alice_client):
    response = alice_client.get("/api/v1/jobs", headers={"Authorization": "Bearer tts_wrong"})
    assert response.status_code == 401


def test_token_of_an_inactive_user_is_refused(alice):
    _, secret = ApiToken.objects.create_token(alice, "x")
    alice.is_active = False
    alice.save()
    assert bearer(secret).get("/api/v1/jobs").status_code == 401


def test_bobs_token_cannot_reach_alices_jobs(alice, bob):
    job = make_job(alice, Job.Status.COMPLETED, audio=True)
    _, secret = ApiToken.objects.create_token(bob, "bob")
    api = bearer(secret)
    for response in (
        api.get(f"/api/v1/jobs/{job.pk}"),
        api.delete(f"/api/v1/jobs/{job.pk}"),
        api.get(f"/api/v1/jobs/{job.pk}/download"),
    ):
        assert response.status_code == 404
        assert response.json()["error"] == "JOB_NOT_FOUND"
    assert api.get("/api/v1/jobs").json()["total"] == 0


def test_bob_cannot_revoke_alices_token(bob_client, alice):
    token, _ = ApiToken.objects.create_token(alice, "x")
    assert bob_client.post(reverse("account_token_revoke", args=[token.pk])).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_revoke_needs_post(alice_client, alice):
    token, _ = ApiToken.objects.create_token(alice, "x")
    assert alice_client.get(reverse("account_token_revoke", args=[token.pk])).status_code == 405


def test_token_page_forms_need_csrf(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(reverse("account_tokens"), {"name": "x"}).status_code == 403
    assert not ApiToken.objects.exists()


def test_session_requests_still_need_csrf_on_unsafe_methods(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post("/api/v1/jobs", data=json.dumps(dialogue()), content_type="application/json")
    assert response.status_code == 403
    assert response.json()["error"] == "CSRF_FAILED"
    assert not Job.objects.exists()
    # With the cookie's token in the header, as the pages' htmx sends it, it works.
    client.get(reverse("account_tokens"))
    csrf = client.cookies["csrftoken"].value
    response = client.post(
        "/api/v1/jobs", data=json.dumps(dialogue()), content_type="application/json", headers={"X-CSRFToken": csrf}
    )
    assert response.status_code == 201


def test_session_cancel_needs_csrf_too(alice):
    job = make_job(alice, Job.Status.PENDING, ended_days_ago=None)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.delete(f"/api/v1/jobs/{job.pk}").status_code == 403
    assert Job.objects.get(pk=job.pk).status == "pending"

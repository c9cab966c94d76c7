"""POST /api/v1/jobs with an Idempotency-Key (an extension of the original
contract): a client that lost the response can retry and get the same job."""

import json
import threading
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_q.models import OrmQ

from synthesis.models import ApiToken, Job
from tests.conftest import dialogue

pytestmark = pytest.mark.django_db


def api_client(user) -> Client:
    _token, secret = ApiToken.objects.create_token(user, "idempotency")
    return Client(headers={"Authorization": f"Bearer {secret}"})


def submit(client, body, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    body = body if isinstance(body, str) else json.dumps(body)
    return client.post("/api/v1/jobs", body, content_type="application/json", **headers)


@pytest.fixture
def alice_api(alice):
    return api_client(alice)


def test_a_retry_with_the_same_key_and_body_returns_the_same_job(alice_api):
    first = submit(alice_api, dialogue(), key="order-42")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    retry = submit(alice_api, dialogue(), key="order-42")
    assert retry.status_code == 200
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json()["id"] == first.json()["id"]
    assert Job.objects.count() == 1
    assert OrmQ.objects.count() == 1  # one task queued, not two


def test_the_same_json_written_differently_is_the_same_request(alice_api):
    first = submit(alice_api, dialogue(), key="k").json()["id"]
    reordered = json.dumps(dict(reversed(list(dialogue().items()))), indent=4)
    assert submit(alice_api, reordered, key="k").json()["id"] == first


def test_a_retry_never_counts_twice_against_the_limit(alice_api, settings):
    assert settings.TTS_MAX_ACTIVE_JOBS_PER_USER == 3
    jobs = [submit(alice_api, dialogue(), key=f"k{i}").json()["id"] for i in range(3)]
    # At the limit, a retry of one of the three still answers with its job...
    retry = submit(alice_api, dialogue(), key="k2")
    assert retry.status_code == 200 and retry.json()["id"] == jobs[2]
    # ...while a new request is refused, and only three exist.
    assert submit(alice_api, dialogue(), key="k3").status_code == 429
    assert Job.objects.active().count() == 3


def test_the_same_key_with_another_body_is_a_422(alice_api):
    first = submit(alice_api, dialogue(), key="k").json()["id"]
    response = submit(alice_api, dialogue(gap_ms=0), key="k")
    assert response.status_code == 422
    assert response.json() == {
        "error": "IDEMPOTENCY_KEY_REUSED",
        "message": "This Idempotency-Key was already used for a different request; send a new key for a new job.",
        "details": {"job_id": first},
    }
    assert Job.objects.count() == 1


def test_keys_belong_to_their_user(alice_api, bob):
    alice_job = submit(alice_api, dialogue(), key="shared").json()["id"]
    bob_job = submit(api_client(bob), dialogue(), key="shared")
    assert bob_job.status_code == 201
    assert bob_job.json()["id"] != alice_job


def test_without_a_key_every_submit_is_a_new_job(alice_api):
    ids = {submit(alice_api, dialogue()).json()["id"] for _ in range(2)}
    assert len(ids) == 2


def test_a_key_expires_after_24_hours(alice_api, settings):
    assert settings.TTS_IDEMPOTENCY_KEY_HOURS == 24
    now = timezone.now()
    first = submit(alice_api, dialogue(), key="daily").json()["id"]
    with time_machine.travel(now + timedelta(hours=23, minutes=59)):
        assert submit(alice_api, dialogue(), key="daily").json()["id"] == first
    with time_machine.travel(now + timedelta(hours=24, minutes=1)):
        again = submit(alice_api, dialogue(), key="daily")
        assert again.status_code == 201 and again.json()["id"] != first
        # The new job owns the key now; a different body is judged against it.
        assert submit(alice_api, dialogue(), key="daily").json()["id"] == again.json()["id"]
    assert Job.objects.count() == 2


def test_cleanup_forgets_keys_older_than_24_hours(alice_api):
    now = timezone.now()
    old = submit(alice_api, dialogue(), key="old").json()["id"]
    with time_machine.travel(now + timedelta(hours=12)):
        recent = submit(alice_api, dialogue(), key="recent").json()["id"]
    out = StringIO()
    with time_machine.travel(now + timedelta(hours=25)):
        call_command("cleanup_jobs", "--dry-run", stdout=out)
        assert "would forget 1 idempotency key(s) older than 24 h" in out.getvalue()
        assert Job.objects.get(pk=old).idempotency_key == "old"
        call_command("cleanup_jobs", stdout=out)
        assert "forgot 1 idempotency key(s) older than 24 h" in out.getvalue()
    assert Job.objects.get(pk=old).idempotency_key == ""
    assert Job.objects.get(pk=recent).idempotency_key == "recent"


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there"])
def test_a_malformed_key_is_a_400_naming_the_header(alice_api, key):
    response = submit(alice_api, dialogue(), key=key)
    assert response.status_code == 400
    assert response.json()["error"] == "VALIDATION_ERROR"
    assert "Idempotency-Key" in response.json()["details"]
    assert not Job.objects.exists()


def test_an_invalid_body_is_a_400_even_with_a_known_key(alice_api):
    submit(alice_api, dialogue(), key="k")
    assert submit(alice_api, dialogue(turns=[]), key="k").status_code == 400


@pytest.mark.django_db(transaction=True)
def test_racing_retries_with_one_key_make_one_job(alice):
    """Eight copies of one request at the same moment (a client retrying on a
    flaky network): one job, every answer names it, nothing counted twice."""
    client = api_client(alice)
    barrier = threading.Barrier(8)
    answers = []

    def send():
        try:
            barrier.wait()
            response = submit(client, dialogue(), key="race")
            answers.append((response.status_code, response.json().get("id")))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(answers) == 8
    assert sorted(status for status, _ in answers) == [200] * 7 + [201]
    assert len({job_id for _, job_id in answers}) == 1
    assert Job.objects.count() == 1 and OrmQ.objects.count() == 1

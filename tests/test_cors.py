"""CORS: a front end on a configured origin can call the API with a token,
never with cookies; other origins and the pages get no CORS headers."""

import json

import pytest

from synthesis.models import ApiToken
from tests.conftest import dialogue

pytestmark = pytest.mark.django_db

FRONT_END = "https://app.example.com"


@pytest.fixture(autouse=True)
def allowed_origin(settings):
    settings.CORS_ALLOWED_ORIGINS = [FRONT_END]


def preflight(client, origin, method="POST", headers="authorization, content-type"):
    return client.options(
        "/api/v1/jobs",
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS=headers,
    )


def test_preflight_from_an_allowed_origin_allows_the_token_header_but_not_cookies(client):
    response = preflight(client, FRONT_END)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == FRONT_END
    allowed = {h.strip() for h in response["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "accept-language"} <= allowed
    assert "POST" in response["Access-Control-Allow-Methods"] and "DELETE" in response["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in response


def test_preflight_from_another_origin_gets_no_cors_headers(client):
    response = preflight(client, "https://evil.example.net")
    assert "Access-Control-Allow-Origin" not in response


def test_token_request_from_an_allowed_origin(client, alice):
    _, secret = ApiToken.objects.create_token(alice, "front end")
    response = client.get("/api/v1/jobs", HTTP_ORIGIN=FRONT_END, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == FRONT_END
    assert "Access-Control-Allow-Credentials" not in response
    assert "Content-Disposition" in response["Access-Control-Expose-Headers"]


def test_an_error_answer_is_readable_cross_origin_too(client):
    response = client.get("/api/v1/jobs", HTTP_ORIGIN=FRONT_END)
    assert response.status_code == 401
    assert response["Access-Control-Allow-Origin"] == FRONT_END


def test_pages_are_not_shared_cross_origin(alice_client):
    response = alice_client.get("/jobs/", HTTP_ORIGIN=FRONT_END)
    assert "Access-Control-Allow-Origin" not in response


def test_no_origin_is_allowed_unless_configured(client, settings):
    settings.CORS_ALLOWED_ORIGINS = []
    assert "Access-Control-Allow-Origin" not in preflight(client, FRONT_END)


def test_a_front_end_can_send_an_idempotency_key_and_read_that_it_was_replayed(client, alice):
    response = preflight(client, FRONT_END, headers="authorization, content-type, idempotency-key")
    assert "idempotency-key" in {h.strip() for h in response["Access-Control-Allow-Headers"].split(",")}
    _, secret = ApiToken.objects.create_token(alice, "front end")
    for _ in range(2):
        response = client.post(
            "/api/v1/jobs",
            json.dumps(dialogue()),
            content_type="application/json",
            HTTP_ORIGIN=FRONT_END,
            HTTP_AUTHORIZATION=f"Bearer {secret}",
            HTTP_IDEMPOTENCY_KEY="front-end-1",
        )
    assert response.status_code == 200 and response["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" in response["Access-Control-Expose-Headers"]

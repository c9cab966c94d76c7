"""The OpenAPI document is valid, covers every route, and real responses of
every documented kind match it."""

import json

import pytest
from django.test import Client
from openapi_core import OpenAPI
from openapi_core.contrib.django import DjangoOpenAPIRequest, DjangoOpenAPIResponse
from openapi_spec_validator import validate

from synthesis.models import ApiToken, Job
from synthesis.openapi import build_openapi
from synthesis.tasks import run_synthesis
from tests.conftest import dialogue
from tests.factories import make_job

pytestmark = pytest.mark.django_db

# Documented, not reachable with local storage: the S3 presigned redirect.
NOT_EXERCISED_HERE = {("/api/v1/jobs/{job_id}/download", "get", "302")} | {
    # A database outage and a bug: tests/test_outage.py provokes them for real.
    (path, method, status)
    for path, method in [
        ("/api/v1/jobs", "get"),
        ("/api/v1/jobs", "post"),
        ("/api/v1/jobs/{job_id}", "get"),
        ("/api/v1/jobs/{job_id}", "delete"),
        ("/api/v1/jobs/{job_id}/download", "get"),
        ("/api/v1/voices", "get"),
        ("/api/v1/openapi.json", "get"),
    ]
    for status in ("500", "503")
} - {("/api/v1/openapi.json", "get", "503")}


def test_document_is_valid_openapi(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    validate(response.json())


def test_every_api_route_is_documented():
    from synthesis import api_urls

    routes = {
        "/api/v1/" + str(p.pattern).replace("<str:job_id>", "{job_id}").replace("<str:entry_id>", "{entry_id}")
        for p in api_urls.urlpatterns
    }
    assert routes == set(build_openapi()["paths"])


class ResponseChecker:
    """Validates each response against the document and remembers which
    (path, method, status) it has seen, so the test can prove it saw them all."""

    def __init__(self):
        self.spec = OpenAPI.from_dict(build_openapi())
        self.seen = set()

    def __call__(self, response, expected_status: int):
        assert response.status_code == expected_status, response.content[:500]
        request = DjangoOpenAPIRequest(response.wsgi_request)
        self.spec.validate_response(request, DjangoOpenAPIResponse(response))
        template = self.template_for(response.wsgi_request.path)
        self.seen.add((template, response.wsgi_request.method.lower(), str(expected_status)))
        return response

    @staticmethod
    def template_for(path: str) -> str:
        parts = path.split("/")
        if len(parts) >= 5 and parts[3] == "jobs":
            parts[4] = "{job_id}"
        if len(parts) >= 5 and parts[3] == "lexicon":
            parts[4] = "{entry_id}"
        return "/".join(parts)

    def documented(self, prefix: str = "/api/v1/") -> set:
        return {
            (path, method, status)
            for path, item in build_openapi()["paths"].items()
            if path.startswith(prefix)
            for method, operation in item.items()
            if method != "parameters"
            for status in operation["responses"]
        }


def test_real_responses_match_the_document(alice, bob, settings):
    check = ResponseChecker()
    _, secret = ApiToken.objects.create_token(alice, "openapi")
    api = Client(headers={"Authorization": f"Bearer {secret}"})
    anonymous = Client()
    session = Client(enforce_csrf_checks=True)
    session.force_login(alice)

    def post(client, body, raw=False):
        return client.post("/api/v1/jobs", data=body if raw else json.dumps(body), content_type="application/json")

    check(anonymous.get("/api/v1/openapi.json"), 200)
    check(api.get("/api/v1/voices"), 200)
    check(anonymous.get("/api/v1/voices"), 401)

    # Submit: accepted, bad JSON, bad fields, no auth, bad token, session without CSRF, over the limit.
    keyed = {"HTTP_IDEMPOTENCY_KEY": "k-1"}
    first = check(api.post("/api/v1/jobs", json.dumps(dialogue()), content_type="application/json", **keyed), 201)
    first = first.json()
    check(post(api, "{not json", raw=True), 400)
    check(post(api, dialogue(gap_ms=-1, turns=[{"speaker": "", "text": ""}])), 400)
    check(post(anonymous, dialogue()), 401)
    check(post(Client(headers={"Authorization": "Bearer tts_revoked"}), dialogue()), 401)
    check(post(session, dialogue()), 403)
    # A small limit for this one request: the checker reads the body again
    # afterwards, under the real limit.
    real_limit, settings.DATA_UPLOAD_MAX_MEMORY_SIZE = settings.DATA_UPLOAD_MAX_MEMORY_SIZE, 1000
    too_large = post(api, "x" * 1001, raw=True)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = real_limit
    assert check(too_large, 413).json()["details"] == {"max_bytes": 1000}
    settings.TTS_MAX_ACTIVE_JOBS_PER_USER = 2
    check(post(api, dialogue(output_format="wav")), 201)
    limit = check(post(api, dialogue()), 429).json()
    assert limit["details"] == {"current_jobs": 2, "max_jobs": 2}
    # Idempotency-Key: a retry of the first request (at the limit), then the key with another body.
    replay = api.post("/api/v1/jobs", json.dumps(dialogue()), content_type="application/json", **keyed)
    assert check(replay, 200).json()["id"] == first["id"]
    other_body = json.dumps(dialogue(gap_ms=0))
    check(api.post("/api/v1/jobs", other_body, content_type="application/json", **keyed), 422)

    # List: a page, a filtered page, bad parameters, no auth.
    check(api.get("/api/v1/jobs"), 200)
    check(api.get("/api/v1/jobs", {"status": "pending", "limit": 1, "offset": 1}), 200)
    check(api.get("/api/v1/jobs", {"limit": 0, "offset": -1, "status": "nope"}), 400)
    check(anonymous.get("/api/v1/jobs"), 401)

    # One job: pending, then completed by the real engine, with its audio.
    job_url = f"/api/v1/jobs/{first['id']}"
    check(api.get(f"{job_url}/download"), 404)  # JOB_NOT_COMPLETED
    assert run_synthesis(first["id"]) == "completed"
    answer = check(api.get(job_url), 200)
    detail = answer.json()
    check(api.get(job_url, headers={"If-None-Match": answer["ETag"]}), 304)
    assert detail["result_metadata"]["turn_timings"]
    download = check(api.get(f"{job_url}/download"), 200)
    assert download["Content-Type"] == "audio/mpeg"
    size = int(download["Content-Length"])
    part = check(api.get(f"{job_url}/download", headers={"Range": "bytes=0-99"}), 206)
    assert part["Content-Range"] == f"bytes 0-99/{size}"
    check(api.get(f"{job_url}/download", headers={"Range": f"bytes={size}-"}), 416)
    check(api.get(f"{job_url}/download", headers={"If-None-Match": download["ETag"]}), 304)
    check(api.delete(job_url), 409)
    check(anonymous.get(job_url), 401)
    check(anonymous.get(f"{job_url}/download"), 401)
    check(anonymous.delete(job_url), 401)

    # Cancel a pending one; a session cancel without CSRF is refused.
    pending = make_job(alice, Job.Status.PENDING, ended_days_ago=None)
    check(session.delete(f"/api/v1/jobs/{pending.pk}"), 403)
    cancelled = check(api.delete(f"/api/v1/jobs/{pending.pk}"), 200).json()
    assert cancelled["status"] == "cancelled"

    # Another user's job and a made-up id are the same 404.
    bobs = make_job(bob, Job.Status.COMPLETED, audio=True)
    for job_id in (bobs.pk, "00000000-0000-0000-0000-000000000000", "not-a-uuid"):
        check(api.get(f"/api/v1/jobs/{job_id}"), 404)
        check(api.delete(f"/api/v1/jobs/{job_id}"), 404)
        check(api.get(f"/api/v1/jobs/{job_id}/download"), 404)

    # A failed job reads back too (error fields set, no result).
    failed = make_job(alice, Job.Status.FAILED, error_code="TIMEOUT", error_message="Too slow.")
    assert check(api.get(f"/api/v1/jobs/{failed.pk}"), 200).json()["error_code"] == "TIMEOUT"

    # The dictionary's routes have their own test below.
    missing = check.documented() - check.documented("/api/v1/lexicon") - check.seen - NOT_EXERCISED_HERE
    assert not missing, f"documented but never checked against a real response: {sorted(missing)}"
    undocumented = check.seen - check.documented()
    assert not undocumented, f"seen but not documented: {sorted(undocumented)}"


def test_real_lexicon_responses_match_the_document(alice, bob, settings):
    from synthesis.models import LexiconEntry

    check = ResponseChecker()
    _, secret = ApiToken.objects.create_token(alice, "openapi")
    api = Client(headers={"Authorization": f"Bearer {secret}"})
    anonymous = Client()
    session = Client(enforce_csrf_checks=True)
    session.force_login(alice)

    def send(client, method, url, body, raw=False):
        if method in ("get", "delete"):
            return getattr(client, method)(url)
        return getattr(client, method)(url, data=body if raw else json.dumps(body), content_type="application/json")

    url = "/api/v1/lexicon"
    created = check(send(api, "post", url, {"written": "Nguyen", "spoken": "win"}), 201).json()
    check(send(api, "post", url, {"written": "Nguyen", "spoken": "again"}), 400)
    check(send(anonymous, "post", url, {"written": "x", "spoken": "y"}), 401)
    check(send(session, "post", url, {"written": "x", "spoken": "y"}), 403)
    real_limit, settings.DATA_UPLOAD_MAX_MEMORY_SIZE = settings.DATA_UPLOAD_MAX_MEMORY_SIZE, 100
    too_large = [
        send(api, method, target, "x" * 101, raw=True)
        for method, target in [("post", url), ("put", f"{url}/{created['id']}"), ("patch", f"{url}/{created['id']}")]
    ]
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = real_limit
    for response in too_large:
        check(response, 413)
    settings.TTS_MAX_LEXICON_ENTRIES = 1
    check(send(api, "post", url, {"written": "tomato", "spoken": "t@m'A:t#oU", "kind": "espeak"}), 409)
    check(api.get(url), 200)
    check(api.get(url, {"limit": 0, "offset": -1}), 400)
    check(anonymous.get(url), 401)

    entry_url = f"{url}/{created['id']}"
    check(api.get(entry_url), 200)
    check(send(api, "patch", entry_url, {"case_sensitive": True}), 200)
    check(send(api, "patch", entry_url, {"kind": "morse"}), 400)
    check(send(api, "put", entry_url, {"written": "Nguyen", "spoken": "nwin", "kind": "ipa"}), 200)
    check(send(api, "put", entry_url, {"spoken": "nwin"}), 400)
    for method in ("put", "patch", "delete"):
        check(send(session, method, entry_url, {"spoken": "x"}), 403)
    for method in ("get", "put", "patch", "delete"):
        check(send(anonymous, method, entry_url, {"spoken": "x"}), 401)
    bobs = LexiconEntry.objects.add(bob, written="Bob", spoken="Robert")
    for entry_id in (bobs.pk, 999999, "nope"):
        for method in ("get", "put", "patch", "delete"):
            check(send(api, method, f"{url}/{entry_id}", {"written": "a", "spoken": "b"}), 404)
    check(api.delete(entry_url), 204)

    documented = check.documented("/api/v1/lexicon")
    missing = {(p, m, s) for p, m, s in documented - check.seen if s not in ("500", "503")}
    assert not missing, f"documented but never checked against a real response: {sorted(missing)}"
    assert not check.seen - documented


def test_a_response_that_breaks_the_document_is_caught():
    """The checker itself can fail: a job summary without its status is refused."""
    from django.http import JsonResponse
    from django.test import RequestFactory
    from openapi_core.validation.response.exceptions import InvalidData

    spec = OpenAPI.from_dict(build_openapi())
    request = RequestFactory().get("/api/v1/jobs", HTTP_AUTHORIZATION="Bearer x")
    response = JsonResponse({"items": [{"id": "x"}], "total": 1, "limit": 20, "offset": 0})
    with pytest.raises(InvalidData):
        spec.validate_response(DjangoOpenAPIRequest(request), DjangoOpenAPIResponse(response))


@pytest.mark.parametrize(
    "field, mutate",
    [
        ("turns[0].text", lambda b: b["turns"][0].update(text="Hello\x00there")),
        ("turns[1].speaker", lambda b: b["turns"][1].update(speaker="B\x00b")),
        ("voice_assignments[0].voice_name", lambda b: b["voice_assignments"][0].update(voice_name="x\x00")),
        ("language", lambda b: b.update(language="e\x00n")),
        ("turns[2].text", lambda b: b["turns"][2].update(text="lone \ud800 surrogate")),
    ],
)
def test_text_the_database_cannot_store_is_a_400_naming_the_field(alice, field, mutate):
    """Found by schemathesis-style probing on PostgreSQL: a NUL or an unpaired
    surrogate in any string used to be a 500 from the INSERT."""
    _, secret = ApiToken.objects.create_token(alice, "t")
    body = dialogue()
    mutate(body)
    response = Client(headers={"Authorization": f"Bearer {secret}"}).post(
        "/api/v1/jobs", data=json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 400
    assert field in response.json()["details"]
    assert not Job.objects.exists()
    ResponseChecker()(response, 400)

import json
import uuid

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from synthesis.audio import decode
from synthesis.models import Job
from synthesis.tasks import run_synthesis
from synthesis.validation import clean_job_request
from tests.conftest import dialogue

pytestmark = pytest.mark.django_db


def post_job(client, body):
    return client.post("/api/v1/jobs", data=json.dumps(body), content_type="application/json")


def test_submit_returns_201_and_enqueues_one_task(alice_client, alice):
    response = post_job(alice_client, dialogue())
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "pending"
    assert body["progress"] == {"done": 0, "total": 3}
    assert body["input_params"]["gap_ms"] == 300
    job = Job.objects.get(pk=body["id"])
    assert job.owner == alice
    assert OrmQ.objects.count() == 1
    assert job.task_id


def test_submit_requires_login(client):
    response = post_job(client, dialogue())
    assert response.status_code == 401
    assert response.json()["error"] == "NOT_AUTHENTICATED"
    assert Job.objects.count() == 0


def test_submit_without_csrf_token_is_refused_for_sessions(alice):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = post_job(client, dialogue())
    assert response.status_code == 403
    assert Job.objects.count() == 0


def test_submitted_job_runs_to_completed_audio(alice_client):
    job_id = post_job(alice_client, dialogue()).json()["id"]
    assert run_synthesis(job_id) == "completed"
    detail = alice_client.get(f"/api/v1/jobs/{job_id}").json()
    assert detail["status"] == "completed"
    assert detail["progress"] == {"done": 3, "total": 3}
    meta = detail["result_metadata"]
    assert meta["synthesis_mode"] == "segmented"
    assert [(t["turn_index"], t["speaker"]) for t in meta["turn_timings"]] == [(0, "Alice"), (1, "Bob"), (2, "Carol")]
    assert all(t["start_ms"] < t["end_ms"] for t in meta["turn_timings"])
    assert uuid.UUID(detail["audio_file_id"])
    download = alice_client.get(f"/api/v1/jobs/{job_id}/download")
    assert download.status_code == 200
    assert download["Content-Type"] == "audio/mpeg"
    assert f'filename="ttsjobs-{job_id}.mp3"' in download["Content-Disposition"]
    audio = decode(b"".join(download.streaming_content))
    assert abs(audio.duration_ms - meta["duration_ms"]) <= 50


def test_list_is_newest_first_paginated_and_filtered(alice_client, alice, bob):
    ids = [post_job(alice_client, dialogue()).json()["id"] for _ in range(3)]
    Job.objects.get(pk=ids[0]).cancel()
    Job.objects.create(owner=bob, provider="espeak", input_params=dialogue())

    page = alice_client.get("/api/v1/jobs?limit=2").json()
    assert page["total"] == 3
    assert [item["id"] for item in page["items"]] == [ids[2], ids[1]]
    rest = alice_client.get("/api/v1/jobs?limit=2&offset=2").json()
    assert [item["id"] for item in rest["items"]] == [ids[0]]
    cancelled = alice_client.get("/api/v1/jobs?status=cancelled").json()
    assert [item["id"] for item in cancelled["items"]] == [ids[0]]


@pytest.mark.parametrize("how_many", [2, 12])
def test_list_costs_the_same_queries_for_any_number_of_jobs(alice_client, alice, how_many, django_assert_num_queries):
    for _ in range(how_many):
        job = Job.objects.submit(alice, clean_job_request(dialogue())[1], provider="espeak")
        assert job.cancel()
    # session, user, count, one page (the dialogue is deferred: reading it per
    # row would be one more query a job).
    with django_assert_num_queries(4) as captured:
        page = alice_client.get("/api/v1/jobs?limit=100").json()
    assert len(page["items"]) == how_many
    assert "input_params" not in captured.captured_queries[-1]["sql"]


def test_offset_past_the_end_is_an_empty_page(alice_client):
    post_job(alice_client, dialogue())
    for offset in (1, 10**30):  # the second overflows any database integer
        page = alice_client.get(f"/api/v1/jobs?offset={offset}").json()
        assert page["items"] == [] and page["total"] == 1 and page["offset"] == offset


@pytest.mark.parametrize(
    "query, field",
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=x", "limit"),
        ("offset=-1", "offset"),
        ("status=done", "status"),
    ],
)
def test_list_rejects_bad_query(alice_client, query, field):
    response = alice_client.get(f"/api/v1/jobs?{query}")
    assert response.status_code == 400
    assert field in response.json()["details"]


def test_another_users_job_is_not_found(alice_client, bob):
    job = Job.objects.create(owner=bob, provider="espeak", input_params=dialogue())
    for method, url in [
        ("get", f"/api/v1/jobs/{job.pk}"),
        ("delete", f"/api/v1/jobs/{job.pk}"),
        ("get", f"/api/v1/jobs/{job.pk}/download"),
    ]:
        response = getattr(alice_client, method)(url)
        assert response.status_code == 404
        assert response.json()["error"] == "JOB_NOT_FOUND"
    job.refresh_from_db()
    assert job.status == Job.Status.PENDING


@pytest.mark.parametrize("job_id", [uuid.uuid4(), "not-a-uuid"])
def test_unknown_job_is_not_found(alice_client, job_id):
    response = alice_client.get(f"/api/v1/jobs/{job_id}")
    assert response.status_code == 404
    assert response.json()["error"] == "JOB_NOT_FOUND"


def test_cancel_pending_then_cancel_again_conflicts(alice_client):
    job_id = post_job(alice_client, dialogue()).json()["id"]
    response = alice_client.delete(f"/api/v1/jobs/{job_id}")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    again = alice_client.delete(f"/api/v1/jobs/{job_id}")
    assert again.status_code == 409
    assert again.json()["error"] == "JOB_CANNOT_CANCEL"
    # The task still gets delivered: it finds nothing to claim.
    assert run_synthesis(job_id) == "not claimed"


def test_cancel_of_a_processing_job_stops_it_and_of_a_finished_one_conflicts(alice_client, alice, _media_root):
    from synthesis.models import Job

    job_id = post_job(alice_client, dialogue()).json()["id"]
    claimed = Job.objects.claim(job_id, "w1")
    assert alice_client.get(f"/api/v1/jobs/{job_id}").json()["attempts"] == 1
    response = alice_client.delete(f"/api/v1/jobs/{job_id}")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert Job.objects.get(pk=job_id).error_message == "Cancelled while it was running."
    # The run that held it stores nothing.
    from synthesis.pipeline import SynthesisRun

    SynthesisRun(claimed).run()
    assert not [p for p in _media_root.rglob("*") if p.is_file()]
    for status in ("completed", "failed"):
        done = post_job(alice_client, dialogue()).json()["id"]
        Job.objects.filter(pk=done).update(status=status)
        conflict = alice_client.delete(f"/api/v1/jobs/{done}")
        assert (conflict.status_code, conflict.json()["error"]) == (409, "JOB_CANNOT_CANCEL")
        assert conflict.json()["details"] == {"status": status}


def test_download_before_completion_is_job_not_completed(alice_client):
    job_id = post_job(alice_client, dialogue()).json()["id"]
    response = alice_client.get(f"/api/v1/jobs/{job_id}/download")
    assert response.status_code == 404
    assert response.json()["error"] == "JOB_NOT_COMPLETED"


def test_fourth_active_job_is_refused_with_counts(alice_client):
    for _ in range(3):
        assert post_job(alice_client, dialogue()).status_code == 201
    response = post_job(alice_client, dialogue())
    assert response.status_code == 429
    body = response.json()
    assert body["error"] == "JOB_LIMIT_EXCEEDED"
    assert body["details"] == {"current_jobs": 3, "max_jobs": 3}
    assert Job.objects.count() == 3
    assert OrmQ.objects.count() == 3


def test_finished_jobs_do_not_count_against_the_limit(alice_client):
    ids = [post_job(alice_client, dialogue()).json()["id"] for _ in range(3)]
    alice_client.delete(f"/api/v1/jobs/{ids[0]}")
    assert post_job(alice_client, dialogue()).status_code == 201


def test_voices_lists_espeak_catalog(alice_client):
    body = alice_client.get("/api/v1/voices").json()
    espeak = next(p for p in body["providers"] if p["name"] == "espeak")
    ids = {v["id"] for v in espeak["voices"]}
    assert {"en-us", "cmn", "ja"} <= ids
    assert body["output_formats"] == ["mp3", "wav", "ogg", "flac"]


def test_wrong_method_is_405(alice_client):
    assert alice_client.put("/api/v1/jobs").status_code == 405


def test_result_and_audio_file_id_only_on_completed_jobs(alice_client):
    detail = post_job(alice_client, dialogue()).json()
    assert detail["result_metadata"] is None and detail["audio_file_id"] is None
    run_synthesis(detail["id"])
    done = alice_client.get(f"/api/v1/jobs/{detail['id']}").json()
    assert done["result_metadata"]["duration_ms"] > 0
    assert done["audio_file_id"] == str(Job.objects.get(pk=detail["id"]).audio_file_id)


def test_cursor_walks_every_job_once_even_with_equal_times(alice_client, alice):
    same_moment = timezone.now()
    ids = []
    for _ in range(5):
        ids.append(post_job(alice_client, dialogue()).json()["id"])
        assert Job.objects.get(pk=ids[-1]).cancel()
    Job.objects.filter(pk__in=ids[1:4]).update(created_at=same_moment)  # ties are broken by id
    expected = list(Job.objects.filter(owner=alice).order_by("-created_at", "-pk").values_list("pk", flat=True))
    seen, cursor = [], None
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = alice_client.get("/api/v1/jobs", query).json()
        assert page["total"] == 5
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [str(pk) for pk in expected]
    # The offset pages agree with the cursor pages.
    by_offset = [alice_client.get("/api/v1/jobs", {"limit": 2, "offset": o}).json()["items"] for o in (0, 2, 4)]
    assert [item["id"] for page in by_offset for item in page] == seen


@pytest.mark.parametrize("query", ["cursor=nonsense", "cursor=MjAyNnwx", "cursor=eA&offset=2"])
def test_bad_cursor_is_a_validation_error(alice_client, query):
    response = alice_client.get(f"/api/v1/jobs?{query}")
    assert response.status_code == 400
    assert set(response.json()["details"]) <= {"cursor", "offset"} and response.json()["details"]


def test_a_3_mb_body_is_a_413_in_json(alice):
    """The finding: Django answered with its HTML 400 page."""
    from django.test import Client

    from synthesis.models import ApiToken

    _, secret = ApiToken.objects.create_token(alice, "big")
    api = Client(headers={"Authorization": f"Bearer {secret}"})
    body = json.dumps(dialogue(title="x" * 3_000_000))
    response = api.post("/api/v1/jobs", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "REQUEST_TOO_LARGE"
    assert not Job.objects.exists()


def test_an_oversized_form_body_on_a_session_is_a_413_in_json_too(alice_client):
    # A form-encoded body is read by the CSRF check, before the view: same answer.
    response = alice_client.post("/api/v1/jobs", data={"x": "y" * 3_000_000})
    assert response.status_code == 413 and response.json()["error"] == "REQUEST_TOO_LARGE"

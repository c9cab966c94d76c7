"""What one API request costs the database, as bench/api.py measures it.

A token request reads the token (with its owner) and, within the minute after
a use, writes nothing: polling the status of a job is then one query, the
token, its owner and the job together.
"""

import json

import pytest
from django.test import Client

from synthesis.models import ApiToken, Job
from tests.conftest import dialogue

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_api(alice):
    _token, secret = ApiToken.objects.create_token(alice, "bench")
    client = Client(headers={"Authorization": f"Bearer {secret}"})
    client.get("/api/v1/jobs")  # the first use records last_used_at
    return client


def test_status_of_a_job_is_one_query(alice_api, django_assert_num_queries):
    job_id = alice_api.post("/api/v1/jobs", json.dumps(dialogue()), content_type="application/json").json()["id"]
    with django_assert_num_queries(1):  # token + owner + job
        response = alice_api.get(f"/api/v1/jobs/{job_id}")
    assert response.status_code == 200
    assert response.json()["input_params"]["turns"] == dialogue()["turns"]


def test_token_used_within_the_minute_is_not_written_again(alice, alice_api, django_assert_num_queries):
    before = ApiToken.objects.get(owner=alice).last_used_at
    with django_assert_num_queries(1) as queries:  # the token read only, not even an UPDATE that matches nothing
        response = alice_api.get("/api/v1/jobs/not-a-job-id")
    assert response.status_code == 404
    assert queries.captured_queries[0]["sql"].startswith("SELECT")
    assert ApiToken.objects.get(owner=alice).last_used_at == before


def test_submit_is_one_transaction_of_five_queries(alice_api):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = alice_api.post("/api/v1/jobs", json.dumps(dialogue()), content_type="application/json")
    assert response.status_code == 201
    # (The test runs inside a transaction, so the view's atomic() is a savepoint.)
    sql = [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(sql) == 5, sql
    token, lock, count, enqueue, insert = sql
    # The token, its owner, and whether the owner has pronunciation dictionary
    # entries: alice has none, so they are not read.
    assert token.startswith('SELECT "synthesis_apitoken"') and '"synthesis_lexiconentry"' in token
    assert lock.startswith('SELECT "auth_user"."id" AS') and ("FOR UPDATE" in lock or connection.vendor == "sqlite")
    assert count.startswith("SELECT COUNT(*)")
    assert enqueue.startswith('INSERT INTO "django_q_ormq"') and insert.startswith('INSERT INTO "synthesis_job"')


def test_a_user_with_dictionary_entries_has_them_read_before_the_lock(alice, alice_api):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from synthesis.models import LexiconEntry

    LexiconEntry.objects.add(alice, written="Bob", spoken="Robert")
    with CaptureQueriesContext(connection) as captured:
        response = alice_api.post("/api/v1/jobs", json.dumps(dialogue()), content_type="application/json")
    assert response.status_code == 201
    assert response.json()["lexicon"][0]["written"] == "Bob"
    sql = [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(sql) == 6, sql
    assert sql[1].startswith('SELECT "synthesis_lexiconentry"') and sql[2].startswith('SELECT "auth_user"."id" AS')


def test_an_idempotency_key_adds_one_query_and_a_replay_is_three(alice_api):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def submit():
        with CaptureQueriesContext(connection) as captured:
            response = alice_api.post(
                "/api/v1/jobs", json.dumps(dialogue()), content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1"
            )
        return response, [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]

    response, sql = submit()
    assert response.status_code == 201
    # The five of a plain submit, plus the look-up of the key (only when the header is sent).
    assert len(sql) == 6, sql
    assert sql[2].startswith('SELECT "synthesis_job"') and "idempotency_key" in sql[2]
    response, sql = submit()
    assert response.status_code == 200
    assert len(sql) == 3, sql  # token (and dictionary check), the user's lock, the key: nothing written


def test_poller_with_the_etag_hears_304_without_the_dialogue_being_read(alice_api, django_assert_num_queries):
    job_id = alice_api.post("/api/v1/jobs", json.dumps(dialogue()), content_type="application/json").json()["id"]
    first = alice_api.get(f"/api/v1/jobs/{job_id}")
    etag = first["ETag"]
    with django_assert_num_queries(1) as queries:  # token + owner + the job without its input
        unchanged = alice_api.get(f"/api/v1/jobs/{job_id}", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b"" and unchanged["ETag"] == etag
    assert "input_params" not in queries.captured_queries[-1]["sql"]
    # Any change shows in the ETag: the whole job comes back (the input read then: one query more).
    Job.objects.filter(pk=job_id).update(progress_done=1)
    with django_assert_num_queries(2):
        changed = alice_api.get(f"/api/v1/jobs/{job_id}", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert changed.json() == {**first.json(), "progress": {"done": 1, "total": 3}}
    assert alice_api.get(f"/api/v1/jobs/{job_id}", headers={"If-None-Match": "*"}).status_code == 304

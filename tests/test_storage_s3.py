"""Audio in an S3-compatible bucket: moto's server, spoken to over real HTTP."""

import json

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

from synthesis.audio import decode
from synthesis.models import Job
from synthesis.tasks import run_synthesis
from tests.conftest import dialogue

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint, settings, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="ttsjobs-audio")
    settings.AWS_STORAGE_BUCKET_NAME = "ttsjobs-audio"
    settings.AWS_S3_ENDPOINT_URL = s3_endpoint
    settings.AWS_S3_REGION_NAME = "us-east-1"
    settings.AWS_QUERYSTRING_EXPIRE = 300
    settings.AWS_DEFAULT_ACL = None
    settings.AWS_S3_SIGNATURE_VERSION = "s3v4"
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage"}}
    yield s3
    for item in s3.list_objects_v2(Bucket="ttsjobs-audio").get("Contents", []):
        s3.delete_object(Bucket="ttsjobs-audio", Key=item["Key"])


def test_audio_is_stored_in_the_bucket_and_downloaded_through_a_presigned_url(alice_client, bucket):
    job_id = alice_client.post(
        "/api/v1/jobs", data=json.dumps(dialogue(output_format="ogg")), content_type="application/json"
    ).json()["id"]
    run_synthesis(job_id)
    job = Job.objects.get(pk=job_id)
    assert job.status == Job.Status.COMPLETED, job.error_message
    keys = [item["Key"] for item in bucket.list_objects_v2(Bucket="ttsjobs-audio")["Contents"]]
    # The audio, and its turns kept as segments in the same bucket.
    assert sorted(keys) == sorted([job.audio.name, *(s.file.name for s in job.segments.all())])
    assert len(keys) == 1 + len(job.input_params["turns"])

    response = alice_client.get(f"/api/v1/jobs/{job_id}/download")
    assert response.status_code == 302
    url = response["Location"]
    assert "X-Amz-Signature" in url and "X-Amz-Expires=300" in url
    fetched = requests.get(url, timeout=10)
    assert fetched.status_code == 200
    assert fetched.headers["Content-Type"] == "audio/ogg"
    assert f"ttsjobs-{job_id}.ogg" in fetched.headers["Content-Disposition"]
    assert abs(decode(fetched.content).duration_ms - job.result_metadata["duration_ms"]) <= 50


def test_deleting_a_job_deletes_its_object(alice, alice_client, bucket):
    job_id = alice_client.post("/api/v1/jobs", data=json.dumps(dialogue()), content_type="application/json").json()[
        "id"
    ]
    run_synthesis(job_id)
    Job.objects.get(pk=job_id).delete_with_audio()
    assert bucket.list_objects_v2(Bucket="ttsjobs-audio").get("KeyCount") == 0
    assert not Job.objects.filter(pk=job_id).exists()


def test_a_new_version_copies_the_kept_turns_into_its_own_objects(alice, alice_client, bucket):
    from synthesis.models import Segment

    def submit(**extra):
        response = alice_client.post(
            "/api/v1/jobs", data=json.dumps(dialogue(**extra)), content_type="application/json"
        )
        assert response.status_code == 201, response.content
        run_synthesis(response.json()["id"])
        return Job.objects.get(pk=response.json()["id"])

    first = submit()
    edited = dialogue()["turns"]
    edited[1]["text"] = "Hi Alice. Fine, thanks."
    second = submit(turns=edited, based_on=str(first.pk))
    assert second.status == Job.Status.COMPLETED
    names = {s.file.name for s in Segment.objects.filter(job=second)}
    assert len(names) == 3 and not names & {s.file.name for s in Segment.objects.filter(job=first)}
    first.delete_with_audio()
    keys = {item["Key"] for item in bucket.list_objects_v2(Bucket="ttsjobs-audio")["Contents"]}
    assert names <= keys

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from synthesis.health import HeartbeatBroker, record_heartbeat
from synthesis.models import ClusterHeartbeat
from tests.cluster import wait_for


@pytest.mark.django_db
def test_no_worker_ever_seen_is_503_with_the_reason(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"] == "ok"
    assert "no worker cluster has reported in the last 60 seconds" in body["reason"]


@pytest.mark.django_db
def test_recent_heartbeat_is_200_without_login(client):
    record_heartbeat("c1")
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["worker"]["last_seen_seconds"] < 5
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


@pytest.mark.django_db
def test_only_staff_see_the_workers_host_name(client, alice, staff):
    """The finding: /healthz told anyone the worker's host name."""
    record_heartbeat("c1")
    assert "name" not in client.get("/healthz").json()["worker"]
    client.force_login(alice)
    assert "name" not in client.get("/healthz").json()["worker"]
    client.force_login(staff)
    assert client.get("/healthz").json()["worker"]["name"] == settings.TTS_WORKER_NAME


@pytest.mark.django_db
def test_heartbeat_older_than_a_minute_is_503(client):
    now = timezone.now()
    record_heartbeat("c1", now=now - timedelta(seconds=61))
    with time_machine.travel(now, tick=False):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["worker"]["last_seen_seconds"] == 61.0


@pytest.mark.django_db
def test_health_check_is_two_queries(client):
    record_heartbeat("c1")
    with CaptureQueriesContext(connection) as captured:
        client.get("/healthz")
    assert len(captured) == 2


@pytest.mark.django_db
def test_health_is_exempt_from_the_https_redirect(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    record_heartbeat("c1")
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/voices").status_code == 301


@pytest.mark.django_db
def test_broker_writes_the_heartbeat_at_most_every_ten_seconds():
    broker = HeartbeatBroker()
    broker.set_stat("django_q:ttsjobs:cluster:abc123", "x", 3)
    beat = ClusterHeartbeat.objects.get()
    assert beat.cluster_id == "abc123"
    with CaptureQueriesContext(connection) as captured:
        for _ in range(20):  # the guard loop calls this every 0.5 s
            broker.set_stat("django_q:ttsjobs:cluster:abc123", "x", 3)
    assert len(captured) == 0


@pytest.mark.django_db
def test_rows_of_long_gone_clusters_are_forgotten():
    record_heartbeat("old", now=timezone.now() - timedelta(days=2))
    record_heartbeat("new")
    assert list(ClusterHeartbeat.objects.values_list("cluster_id", flat=True)) == ["new"]


@pytest.mark.cluster
def test_a_running_worker_cluster_makes_health_green(worker_cluster, client, staff):
    from django.test import Client

    staff_client = Client()
    staff_client.force_login(staff)
    assert client.get("/healthz").status_code == 503
    worker_cluster(name="health-probe")
    wait_for(lambda: client.get("/healthz").status_code == 200, timeout=60, message="/healthz to turn 200")
    assert staff_client.get("/healthz").json()["worker"]["name"] == "health-probe"


@pytest.mark.django_db
def test_database_that_does_not_answer_is_503_with_the_reason(client):
    from django.db import OperationalError

    record_heartbeat("c1")

    def refuse(execute, sql, params, many, context):
        raise OperationalError("connection refused")

    # Every query of the request fails, as with the database down.
    with connection.execute_wrapper(refuse):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "reason": "database: OperationalError",
        "database": "error",
        "worker": None,
    }

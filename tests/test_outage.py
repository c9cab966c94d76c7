"""Database down is a 503, never a 500: gunicorn in production mode against a
throwaway PostgreSQL cluster of its own (initdb + pg_ctl in a temporary
folder, on a free port), which the tests stop, crash and restart. The
machine's main PostgreSQL is never touched."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from glob import glob
from pathlib import Path

import pytest
from django.test import Client

from tests.cluster import ROOT
from tests.conftest import dialogue
from tests.processes import free_port, stop
from tests.test_openapi import ResponseChecker
from tests.test_production import fetch, manage, production_env


def postgres_bin(name: str) -> str | None:
    found = sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


class ThrowawayPostgres:
    """A PostgreSQL cluster in a temporary folder, owned by this test."""

    def __init__(self):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="ttsjobs-outage-pg-"))
        self.data = self.dir / "data"
        # initdb and postgres refuse to run as root: run them as postgres.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.dir, "postgres", "postgres")
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, *args, timeout=60):
        return subprocess.run(
            [*self.as_user, *args], capture_output=True, text=True, timeout=timeout, check=True, cwd=self.dir
        )

    def init(self):
        self.run(postgres_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync")
        return self

    def pg_ctl(self, action, *extra):
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        return self.run(postgres_bin("pg_ctl"), "-D", str(self.data), "-w", "-t", "60", "-o", options, action, *extra)

    def start(self):
        self.pg_ctl("start", "-l", str(self.dir / "log"))

    def stop(self, mode="immediate"):
        # immediate: the server dies like a crash, connections are cut.
        self.pg_ctl("stop", "-m", mode)

    def restart(self, mode="immediate"):
        self.pg_ctl("restart", "-m", mode, "-l", str(self.dir / "log"))

    def destroy(self):
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


SETUP = """
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.auth import SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY
from synthesis.models import ApiToken
user = get_user_model().objects.create_user("alice", password="alice-password")
_token, secret = ApiToken.objects.create_token(user, "outage")
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
print(secret, session.session_key)
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not postgres_bin("initdb") or not postgres_bin("pg_ctl"):
        if os.getenv("CI"):
            pytest.fail("PostgreSQL's initdb and pg_ctl are needed for the outage tests")
        pytest.skip("PostgreSQL's initdb and pg_ctl are not installed")
    postgres = ThrowawayPostgres().init()
    postgres.start()
    tmp_path = tmp_path_factory.mktemp("outage")
    env = production_env(tmp_path, DATABASE_URL=postgres.url, SECURE_SSL_REDIRECT="0", DB_CONN_MAX_AGE="60")
    env.pop("AWS_STORAGE_BUCKET_NAME")
    process = None
    try:
        manage(env, "migrate", "--noinput")
        manage(env, "collectstatic", "--noinput")
        token, session_key = manage(env, "shell", "-c", SETUP).stdout.strip().splitlines()[-1].split()
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "ttsjobs.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
            cwd=ROOT,
            env=env,
            stdout=open(tmp_path / "gunicorn.log", "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                fetch(base + "/healthz")
                break
            except OSError:
                time.sleep(0.2)
        yield {
            "base": base,
            "postgres": postgres,
            "api": {"Authorization": f"Bearer {token}"},
            "site": {"Cookie": f"sessionid={session_key}", "X-Forwarded-Proto": "https"},
            "log": tmp_path / "gunicorn.log",
        }
    finally:
        if process is not None:
            stop(process)
        postgres.destroy()


def api(server, method="GET", path="/api/v1/jobs", body=None):
    import urllib.request

    headers = {**server["api"], "Host": "tts.example.com", "X-Forwarded-Proto": "https"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(server["base"] + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def page(server, path="/jobs/"):
    return fetch(server["base"] + path, headers=server["site"])


def assert_json_503(status, headers, body):
    assert status == 503, body[:300]
    assert headers["Content-Type"] == "application/json"
    payload = json.loads(body)
    assert payload["error"] == "DATABASE_UNAVAILABLE"
    assert payload["message"] and payload["details"] == {}
    assert headers["Retry-After"] == "10"


def test_with_the_database_up_the_api_and_pages_answer(server):
    assert api(server)[0] == 200
    status, _headers, body = page(server)
    assert status == 200 and b"alice" in body  # the session is alice's


def test_with_the_database_stopped_everything_is_503(server):
    # Warm up both gunicorn workers' persistent connections first, so the stop
    # cuts open connections as well as refusing new ones.
    for _ in range(4):
        api(server), page(server)
    server["postgres"].stop()
    try:
        for _ in range(3):  # each gunicorn worker, dead connection then refused connects
            assert_json_503(*api(server))
            assert_json_503(*api(server, "POST", body=dialogue()))
            assert_json_503(*api(server, "DELETE", "/api/v1/jobs/00000000-0000-0000-0000-000000000000"))
            for path in ("/jobs/", "/jobs/new/", "/admin/", "/account/tokens/"):
                status, headers, body = page(server, path)
                assert status == 503, (path, body[:300])
                assert headers["Content-Type"].startswith("text/html") and headers["Retry-After"] == "10"
                assert b"Temporarily unavailable" in body and len(body) < 2000
            status, headers, body = fetch(server["base"] + "/healthz")
            assert status == 503 and headers["Retry-After"] == "10"
            assert json.loads(body)["database"] == "error"
    finally:
        server["postgres"].start()
    # Back up: the next requests reconnect.
    assert api(server)[0] == 200
    assert page(server)[0] == 200


def test_a_postgresql_restart_under_load_never_gives_a_500(server):
    statuses = []
    stop = threading.Event()

    def hammer(kind):
        while not stop.is_set():
            if kind == "api":
                status, headers, body = api(server)
                if status != 200:
                    assert_json_503(status, headers, body)
            elif kind == "submit":
                status, headers, body = api(server, "POST", body=dialogue())
                if status == 201:
                    # Stay under the 3-active-jobs limit: no worker runs here.
                    job_id = json.loads(body)["id"]
                    api(server, "DELETE", f"/api/v1/jobs/{job_id}")
                elif status != 429:
                    assert_json_503(status, headers, body)
            else:
                status = page(server)[0]
            statuses.append(status)

    errors = []

    def guarded(kind):
        try:
            hammer(kind)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(kind,)) for kind in ("api", "submit", "page")]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1)
        for _ in range(2):
            server["postgres"].restart()
            time.sleep(1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert not errors, errors
    print("statuses during two PostgreSQL restarts:", dict(Counter(statuses)))
    assert 500 not in statuses
    assert set(statuses) <= {200, 201, 429, 503}, set(statuses)
    assert 200 in statuses


def test_after_a_postgresql_restart_no_request_sees_the_dead_connections(server):
    """What CONN_HEALTH_CHECKS is for, kept without its SELECT 1 on every
    request (ttsjobs/postgresql/base.py): a kept connection PostgreSQL closed
    while it was idle is replaced before a request uses it, so once the
    server is back no client hears of the restart (without a check, each
    worker's first request would be a 503)."""
    for _ in range(8):  # both gunicorn workers' persistent connections
        assert api(server)[0] == 200 and page(server)[0] == 200
    server["postgres"].restart()
    statuses = [(api(server)[0], page(server)[0]) for _ in range(8)]
    assert statuses == [(200, 200)] * 8, statuses


# --- any unhandled exception on the API is JSON -----------------------------


@pytest.mark.django_db
def test_an_unhandled_error_in_the_api_is_a_json_500(alice, monkeypatch):
    def bug(job):
        raise RuntimeError("a bug")

    monkeypatch.setattr("synthesis.api.job_detail", bug)
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    response = client.post("/api/v1/jobs", json.dumps(dialogue()), content_type="application/json")
    ResponseChecker()(response, 500)  # as documented in the OpenAPI document
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": "INTERNAL_ERROR",
        "message": "Something went wrong on our side; the error has been logged.",
        "details": {},
    }


@pytest.mark.django_db
def test_an_unhandled_error_on_a_page_is_still_the_plain_500_page(alice, monkeypatch):
    def bug(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("synthesis.views.get_job_for_user", bug)
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    response = client.get("/jobs/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")

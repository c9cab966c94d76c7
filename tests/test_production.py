"""The production configuration of docs/operations.md, for real: Django's
deployment checks pass with the documented environment, and gunicorn serves
the app with whitenoise serving static files and DEBUG off."""

import json
import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from synthesis.health import record_heartbeat
from tests.cluster import ROOT, database_url_of_the_test_db, wait_for
from tests.processes import free_port, stop


def production_env(tmp_path, **extra) -> dict:
    """The documented variables (docs/operations.md, "Environment")."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTEST_", "DJANGO_"))}
    env.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="tts.example.com,127.0.0.1",
        CSRF_TRUSTED_ORIGINS="https://tts.example.com",
        DATABASE_URL="postgres://ttsjobs@db.internal:5432/ttsjobs",
        DB_CONN_MAX_AGE="60",
        AWS_STORAGE_BUCKET_NAME="ttsjobs-audio",
        AWS_S3_REGION_NAME="eu-central-1",
        VAR_DIR=str(tmp_path / "var"),
        DJANGO_SETTINGS_MODULE="ttsjobs.settings",
    )
    env.update(extra)
    return env


def manage(env, *args, check=True):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=check,
    )


def test_check_deploy_is_clean_with_the_documented_environment(tmp_path):
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_fails_without_the_hardening(tmp_path):
    """The test above can fail: with DEBUG on the same command reports issues."""
    result = manage(production_env(tmp_path, DEBUG="1"), "check", "--deploy", "--fail-level", "WARNING", check=False)
    assert result.returncode != 0
    assert "security.W018" in result.stdout + result.stderr  # DEBUG on in deployment


def test_debug_is_off_unless_set(tmp_path):
    """The finding: DEBUG defaulted to on. Unset, it is off, so the key is required."""
    env = production_env(tmp_path)
    del env["DEBUG"]
    code = "import django; from django.conf import settings; django.setup(); print('DEBUG', settings.DEBUG)"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.stdout.strip().splitlines()[-1] == "DEBUG False", run.stderr
    del env["SECRET_KEY"]
    result = manage(env, "check", check=False)
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


def test_check_deploy_flags_the_development_key(tmp_path):
    """The finding: the fixed development key passed `check --deploy`."""
    env = production_env(tmp_path, DEBUG="1")
    del env["SECRET_KEY"]
    result = manage(env, "check", "--deploy", check=False)
    assert "security.W009" in result.stdout + result.stderr


def settings_of(env, *names) -> list:
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        f"print(json.dumps([getattr(settings, name) for name in {list(names)!r}]))"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_hsts_subdomains_and_preload_are_opt_in(tmp_path):
    """The finding: HSTS preload and includeSubDomains were forced on."""
    names = ("SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD")
    assert settings_of(production_env(tmp_path), *names) == [31536000, False, False]
    opted_in = production_env(tmp_path, SECURE_HSTS_INCLUDE_SUBDOMAINS="1", SECURE_HSTS_PRELOAD="1")
    assert settings_of(opted_in, *names) == [31536000, True, True]
    # Either way the deployment check is clean: off is a decision, not an oversight.
    result = manage(opted_in, "check", "--deploy", "--fail-level", "WARNING", check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = manage(production_env(tmp_path, SECRET_KEY=""), "check", check=False)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def fetch(url, headers=None):
    request = urllib.request.Request(url, headers={"Host": "tts.example.com", **(headers or {})})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def gunicorn(transactional_db, tmp_path):
    env = production_env(tmp_path, DATABASE_URL=database_url_of_the_test_db())
    manage(env, "collectstatic", "--noinput")
    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    log = open(log_path, "wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "ttsjobs.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--access-logfile",
            "-",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"

    def serving() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            fetch(base + "/healthz")
            return True
        except OSError:
            return False

    wait_for(serving, timeout=120, interval=0.2, message="gunicorn to serve")
    yield base
    stop(process)  # SIGTERM: gunicorn's graceful shutdown, then nothing left of it
    log.close()


HTTPS = {"X-Forwarded-Proto": "https"}


def test_gunicorn_serves_the_app_static_files_and_health(gunicorn):
    # No worker yet: the database answers, the worker check fails, 503 with the reason.
    status, _, body = fetch(gunicorn + "/healthz")
    assert status == 503 and b"no worker cluster" in body
    record_heartbeat("gunicorn-test")
    status, headers, body = fetch(gunicorn + "/healthz")  # plain HTTP: probes are not redirected
    assert status == 200 and b'"status": "ok"' in body

    # Pages over plain HTTP are redirected to HTTPS; behind the proxy they render,
    # with hashed static URLs and secure cookies.
    status, headers, _ = fetch(gunicorn + "/accounts/login/")
    assert status == 301 and headers["Location"].startswith("https://")
    status, headers, body = fetch(gunicorn + "/accounts/login/", HTTPS)
    assert status == 200
    assert headers["Strict-Transport-Security"] == "max-age=31536000"  # no subdomains, no preload unless opted in
    assert "style-src 'self'" in headers["Content-Security-Policy"]
    assert {"private", "no-store"} <= {part.strip() for part in headers["Cache-Control"].split(",")}
    assert "Secure" in headers["Set-Cookie"]
    html = body.decode()
    hashed = html.split('src="/static/vendor/htmx.min.')[1].split('"')[0]
    assert hashed.endswith(".js") and len(hashed) > 3  # htmx.min.<hash>.js

    # whitenoise: the hashed file, compressed and cached for a year.
    status, headers, body = fetch(f"{gunicorn}/static/vendor/htmx.min.{hashed}", {**HTTPS, "Accept-Encoding": "gzip"})
    assert status == 200
    assert headers.get("Content-Encoding") == "gzip"
    assert "max-age=315360000" in headers["Cache-Control"]

    # The JSON API answers as in development.
    status, _, body = fetch(gunicorn + "/api/v1/jobs", HTTPS)
    assert status == 401 and b"NOT_AUTHENTICATED" in body
    # DEBUG is off: an unknown page is a plain 404, no URL list.
    status, _, body = fetch(gunicorn + "/no-such-page", HTTPS)
    assert status == 404 and b"URLconf" not in body


def test_the_language_cookie_is_secure_in_production(tmp_path):
    names = ("LANGUAGE_COOKIE_SECURE", "LANGUAGE_COOKIE_HTTPONLY")
    assert settings_of(production_env(tmp_path), *names) == [True, True]

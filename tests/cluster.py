"""A real worker for tests: ``manage.py run_worker`` in another process,
against the test database.

The test must use ``transactional_db`` (or ``live_server``) so what it writes
is committed and visible to the worker process.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests import processes

ROOT = Path(__file__).resolve().parent.parent


def database_url_of_the_test_db() -> str:
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] or ""
    if db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{auth}@{host}:{port}/{db['NAME']}"


class WorkerCluster:
    def __init__(self, name: str, extra_env: dict | None = None):
        self.name = name
        self.log_path = Path(settings.MEDIA_ROOT).parent / f"worker-{name}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTEST_"))}
        env.update(
            DATABASE_URL=database_url_of_the_test_db(),
            MEDIA_ROOT=str(settings.MEDIA_ROOT),
            TTS_WORKER_NAME=name,
            Q_POLL="0.1",
            Q_WORKERS="1",
            TTS_RETRY_DELAY_1="0.01",
            TTS_RETRY_DELAY_2="0.02",
            TTS_RETRY_DELAY_3="0.04",
            DJANGO_SETTINGS_MODULE="ttsjobs.settings",
            # Its start-up report is on stdout; unbuffered, it is in the log by the time the cluster runs.
            PYTHONUNBUFFERED="1",
        )
        env.update(extra_env or {})
        self.env = env
        self.process = None

    def start(self):
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "run_worker"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # Ready when django-q2 says so: on a loaded machine start-up alone can
        # take many seconds, which a test's wait for its outcome should not pay.
        wait_for(self.is_running, timeout=120, message=f"worker {self.name} to start")
        return self

    def is_running(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"worker {self.name} exited with {self.process.returncode}:\n{self.output()}")
        return "] running." in self.output()

    def stop(self, sig=signal.SIGTERM, timeout: float = 30):
        if self.process is None or self.log.closed:
            return  # not started, or stopped already
        processes.stop(self.process, sig, timeout)
        self.log.close()

    def kill(self):
        """Like a crash or an OOM kill: no chance to clean up."""
        self.stop(signal.SIGKILL)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_for(predicate, timeout: float = 30, interval: float = 0.1, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


@pytest.fixture
def worker_cluster(transactional_db):
    """Start one real worker cluster; stopped at the end of the test.
    Call it as ``worker_cluster()`` (optionally with name / extra_env)."""
    started = []

    def start(name: str | None = None, extra_env: dict | None = None) -> WorkerCluster:
        cluster = WorkerCluster(name or f"test-{uuid.uuid4().hex[:8]}", extra_env).start()
        started.append(cluster)
        return cluster

    yield start
    for cluster in started:
        cluster.stop()

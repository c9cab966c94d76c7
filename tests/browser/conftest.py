"""Browser tests: Playwright driving Debian's Chromium against live_server.

Playwright's own browser download doesn't work everywhere, so these use the
``chromium`` package's binary. Without it they are skipped with a message,
except under CI, where a missing browser is a failure (.ci/run installs it).
"""

import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; Django would then
# refuse ORM calls from the test body (fixtures, assertions on the database).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from tests.cluster import worker_cluster  # noqa: F401  (the real worker fixture)

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not os.path.exists(CHROMIUM):
        message = f"browser tests need Chromium at {CHROMIUM} (Debian: apt-get install chromium; or set CHROMIUM_PATH)"
        if os.environ.get("CI"):
            pytest.fail(message + " — CI is set, so this is a failure, not a skip", pytrace=False)
        pytest.skip(message)
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture(autouse=True)
def _engines_in_a_thread(monkeypatch):
    """Jobs completed in this process (tests.website.submitted_job) would
    fork an engine child for eSpeak or Piper (synthesis.isolation). Forked
    from here, where Playwright's and the live server's threads run, the
    child can start with a lock held and hang, and it keeps a copy of the
    Playwright driver's stdin, so the run never ends. Here the engines run in
    a thread instead; the child process itself is tested by
    tests/test_pipeline.py and by the worker cluster, its own process."""
    from synthesis.providers.espeak import EspeakProvider
    from synthesis.providers.piper import PiperProvider

    monkeypatch.setattr(EspeakProvider, "isolated", False)
    monkeypatch.setattr(PiperProvider, "isolated", False)


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def log_in(page, live_server):
    def log_in(username: str, password: str):
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{live_server.url}/jobs/")

    return log_in

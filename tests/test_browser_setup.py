"""Without Chromium, `make test` skips the browser tests and says why; under
CI (where .ci/run installs it) a missing browser fails instead of passing
quietly. Run as a separate pytest so the real tests/browser/conftest.py
decides, on SQLite whatever this run uses (no shared test database)."""

import os
import subprocess
import sys

import pytest

from tests.cluster import ROOT


def run_browser_test(**env_overrides) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CI", "DATABASE_URL", "TEST_DATABASE_NAME") and not k.startswith("PYTEST_")
    }
    env.update(CHROMIUM_PATH="/nonexistent/chromium", **env_overrides)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rs",
            "tests/browser/test_website.py::test_another_users_job_is_not_found",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("ci, outcome", [(None, "1 skipped"), ("true", "1 error")])
def test_missing_chromium_is_a_skip_with_a_reason_or_a_failure_under_ci(ci, outcome):
    result = run_browser_test(**({"CI": ci} if ci else {}))
    assert outcome in result.stdout, result.stdout[-2000:]
    assert "browser tests need Chromium at /nonexistent/chromium" in result.stdout
    assert (result.returncode == 0) is (ci is None)

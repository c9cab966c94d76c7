"""`make run` on the embedded defaults serves the API, and the README's shell
walkthrough, run as written, turns a dialogue into a downloaded mp3."""

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from synthesis.audio import decode

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def readme_walkthrough() -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- api-walkthrough -->\s*```sh\n(.*?)```", readme, re.S)
    assert match, "README.md lost its API walkthrough block"
    return match.group(1)


@pytest.fixture
def running_app(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "TEST_", "AWS_", "MEDIA_ROOT"))}
    env.update(PORT=str(port), VAR_DIR=str(tmp_path / "var"), Q_POLL="0.1")
    log = open(tmp_path / "make-run.log", "wb")
    process = subprocess.Popen(
        ["make", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(base + "/api/v1/voices", timeout=2)
        except urllib.error.HTTPError as answered:
            if answered.code == 401:
                break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("make run did not serve the API:\n" + (tmp_path / "make-run.log").read_text())
        time.sleep(0.5)
    yield port, env
    # Ctrl-C, as a person would: the Makefile's trap stops web and worker.
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(20)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        log.close()


def test_make_run_serves_the_api_and_the_readme_walkthrough_completes(running_app, tmp_path):
    port, env = running_app
    out = tmp_path / "dialogue.mp3"
    script = readme_walkthrough().replace("127.0.0.1:8000", f"127.0.0.1:{port}").replace("-o dialogue.mp3", f"-o {out}")
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    audio = decode(out.read_bytes())
    assert audio.duration_ms > 1000

"""`make run` on the embedded defaults serves the API, and the README's shell
walkthrough, run as written, turns a dialogue into a downloaded mp3."""

import os
import pty
import re
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from synthesis.audio import decode
from tests.cluster import wait_for
from tests.processes import free_port, kill_session, session_members

# It starts the worker cluster too (make run is web + worker).
pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parent.parent


def readme_walkthrough() -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- api-walkthrough -->\s*```sh\n(.*?)```", readme, re.S)
    assert match, "README.md lost its API walkthrough block"
    return match.group(1)


def make_run_env(tmp_path, port: int) -> dict:
    # No DEBUG either: `make run` must turn local mode on by itself.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "TEST_", "AWS_", "MEDIA_ROOT", "DEBUG", "SECRET_KEY"))
    }
    env.update(PORT=str(port), VAR_DIR=str(tmp_path / "var"), Q_POLL="0.1")
    return env


def api_answers(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/voices", timeout=5)
    except urllib.error.HTTPError as answered:
        return answered.code == 401  # served, and asks who is asking
    except OSError:
        return False
    return False


@pytest.fixture
def running_app(tmp_path):
    port = free_port()
    env = make_run_env(tmp_path, port)
    log_path = tmp_path / "make-run.log"
    log = open(log_path, "wb")
    process = subprocess.Popen(
        ["make", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )

    def serving() -> bool:
        if process.poll() is not None:
            raise AssertionError("make run exited:\n" + log_path.read_text())
        return api_answers(port)

    # The first run migrates a fresh database: minutes on a loaded machine.
    wait_for(serving, timeout=300, interval=0.5, message="make run to serve the API")
    yield env
    # Ctrl-C, as a person would (the terminal signals make's process group),
    # then nothing of it is left, whatever happened.
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        pass
    kill_session(process.pid)
    process.wait()
    log.close()


def test_make_run_serves_the_api_and_the_readme_walkthrough_completes(running_app, tmp_path):
    env = running_app  # PORT is in it, as for make run
    out = tmp_path / "dialogue.mp3"
    # As written, but for where the audio goes: the port comes from PORT, as for make run.
    script = readme_walkthrough().replace("-o dialogue.mp3", f"-o {out}")
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    audio = decode(out.read_bytes())
    assert audio.duration_ms > 1000


class Terminal:
    """``make run`` in a pseudo-terminal of its own, as in a person's shell:
    Ctrl-C typed there reaches the terminal's foreground process group."""

    def __init__(self, command: list[str], env: dict):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: a new session, the pseudo-terminal its controlling terminal
            os.chdir(ROOT)
            os.execvpe(command[0], command, env)
        self.chunks = []
        # Drained all along: a full terminal buffer would block make's output.
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while True:
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:  # EIO: every process holding the terminal is gone
                return
            if not chunk:
                return
            self.chunks.append(chunk)

    def output(self) -> str:
        return b"".join(self.chunks).decode(errors="replace")

    def type(self, keys: bytes):
        os.write(self.fd, keys)

    def exit_status(self) -> tuple[int] | None:
        """(status,) once the process has ended, the way a shell reports it (130 after SIGINT)."""
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if not pid:
            return None
        code = os.waitstatus_to_exitcode(status)
        return (code if code >= 0 else 128 - code,)

    def close(self):
        kill_session(self.pid)
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass  # reaped already
        self.reader.join(10)
        os.close(self.fd)


def test_one_ctrl_c_stops_make_run_quietly_within_5_seconds(tmp_path):
    port = free_port()
    terminal = Terminal(["make", "run"], make_run_env(tmp_path, port))
    try:
        wait_for(
            lambda: "] running." in terminal.output() and api_answers(port),
            timeout=300,
            interval=0.5,
            message="make run to serve the API with its worker running",
        )
        terminal.type(b"\x03")
        pressed = time.monotonic()
        (status,) = wait_for(terminal.exit_status, timeout=60, message="make run to stop")
        took = time.monotonic() - pressed
        # Web and worker stopped before make did, and nothing of them is left.
        wait_for(lambda: not session_members(terminal.pid), timeout=10, message="no process left")
    finally:
        terminal.close()
    output = terminal.output()
    assert took < 5, output
    assert status in (0, 130), output
    for trouble in ("Traceback", "Segmentation fault", "RecursionError", "did not stop"):
        assert trouble not in output, output
    # The worker stopped the way it should: one signal, one clean stop.
    assert output.count("] running.") == 1 and output.count("has stopped.") == 1, output

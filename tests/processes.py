"""Processes the tests start (worker clusters, gunicorn, ``make run``): each is
started in a session of its own, and stopped so that nothing of it is left,
however loaded the machine is."""

import os
import signal
import socket
import subprocess
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    """Ask ``process`` (started with ``start_new_session=True``) to stop with
    ``sig``, give it ``timeout`` seconds to stop its own children, then kill
    whatever is left of its session."""
    if process.poll() is None:
        # To the leader only: it stops its own children. Signalling them all
        # at once is the storm that makes django-q2's shutdown recurse.
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    kill_session(process.pid)
    process.wait()


def kill_session(session_id: int) -> None:
    """SIGKILL every process of the session (all its process groups: ``make
    run`` puts web and worker in groups of their own)."""
    for pid in session_members(session_id):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def session_members(session_id: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # pid (comm) state ppid pgrp session ...; comm may hold spaces and parentheses.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[3]) == session_id:
            members.append(int(stat.parent.name))
    return members

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

# How long web server and worker get to stop after their signal before they are killed.
STOP_SECONDS = 20


class Command(BaseCommand):
    help = (
        "Run the web server (runserver) and the worker (run_worker) together, as `make run` "
        "does. Ctrl-C, SIGTERM or a closed terminal stops both: each gets exactly one SIGTERM."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000", help="where runserver listens")

    def handle(self, *args, addrport: str, **options) -> None:
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        commands = {"worker": [*manage, "run_worker"], "web server": [*manage, "runserver", addrport, "--noreload"]}
        children: dict[str, subprocess.Popen] = {}
        stop_requested = []

        def stop_children(signum=None, frame=None) -> None:
            if stop_requested:
                # A second Ctrl-C: the person will not wait for a clean stop.
                kill(children.values())
                return
            stop_requested.append(signum)
            for child in children.values():
                terminate(child)

        # A terminal's Ctrl-C reaches every process of its foreground group. Web
        # and worker live in groups of their own, so only this process hears it
        # and each of them gets one SIGTERM from here: django-q2 re-enters its
        # shutdown on every further signal, and `kill 0` used to send a storm.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, stop_children)
        for name, command in commands.items():
            children[name] = subprocess.Popen(command, process_group=0)
            if stop_requested:  # the signal came while it was being started
                terminate(children[name])

        while not stop_requested and all(child.poll() is None for child in children.values()):
            time.sleep(0.1)
        ended_alone = {}
        if not stop_requested:
            ended_alone = {name: child.returncode for name, child in children.items() if child.poll() is not None}
            stop_children()
        deadline = time.monotonic() + STOP_SECONDS
        while any(child.poll() is None for child in children.values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        kill(children.values())  # whatever did not stop in time, and anything a child left behind

        if ended_alone:  # e.g. runserver: the port is taken
            name, code = next(iter(ended_alone.items()))
            raise CommandError(f"the {name} exited (status {code}), so the others were stopped", returncode=1)
        slow = [name for name, child in children.items() if child.returncode not in (0, -signal.SIGTERM)]
        if slow:
            raise CommandError(f"did not stop cleanly: {', '.join(slow)}", returncode=1)


def terminate(child: subprocess.Popen) -> None:
    # SIGTERM rather than SIGINT: it ends runserver without a KeyboardInterrupt
    # traceback, and either process quietly if it comes before start-up is done.
    try:
        child.send_signal(signal.SIGTERM)
    except ProcessLookupError:
        pass


def kill(children) -> None:
    for child in children:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

"""How long a job hit by a crash waits before it runs again.

    .venv/bin/python bench/resume.py [--repeat 3] [--skip-lost-host]

Needs PostgreSQL on BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432).
It creates the database ``ttsjobs_bench_resume`` (dropped first if it exists),
migrates it, and starts real ``manage.py run_worker`` clusters with the default
heartbeat settings. The jobs use the failure-injecting provider of
tests/engines.py with 0.25 s per turn (a stand-in for a cloud engine: eSpeak
finishes a whole dialogue before it could be killed). For each kind of fault it
submits a 60-turn job, waits until 5 turns are kept, injects the fault and
measures, from the database every 20 ms, the time until the job is processing
again in a new run (its attempts went up), then waits for it to complete:

- ``child_sigkill``: SIGKILL of the worker process running the job (what the
  OOM killer does). django-q2 replaces the process; the cluster notices the
  dead pid within its 2 s sweep and releases the job.
- ``cluster_sigkill_restart``: SIGKILL of the whole cluster, restarted at once
  (systemd ``Restart=always``, ``RestartSec=0``): start-up releases the job.
- ``lost_host``: SIGKILL of the whole cluster, not restarted, while a second
  cluster (another host) runs: it releases the job when its heartbeat is 20 s old.
- ``sigterm``: SIGTERM to run_worker: the time until the process exited, with the
  job back to pending and its turns kept.

Prints JSON; asserts nothing. The database is dropped at the end.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATABASE = "ttsjobs_bench_resume"
TURNS = 60


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each fault (default 3)")
    parser.add_argument("--skip-lost-host", action="store_true", help="skip the 20 s+ lost-host case")
    return parser.parse_args()


def admin(base_url):
    import psycopg

    return psycopg.connect(f"{base_url}/postgres", autocommit=True)


class Cluster:
    def __init__(self, name, env, tmp):
        self.name = name
        self.log = open(tmp / f"worker-{name}.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "run_worker"],
            cwd=ROOT,
            env={**env, "TTS_WORKER_NAME": name},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self):
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()

    def stop(self):
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
        self.log.close()


def wait(predicate, timeout, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError


def main():
    args = parse_args()
    base_url = os.getenv("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
    tmp = Path(tempfile.mkdtemp(prefix="ttsjobs-bench-resume-"))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DJANGO_", "TTS_"))},
        "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
        "DATABASE_URL": f"{base_url}/{DATABASE}",
        "VAR_DIR": str(tmp),
        "MEDIA_ROOT": str(tmp / "media"),
        "Q_WORKERS": "2",
        "TTS_TEST_TURN_DELAY": "0.25",
        "LOG_LEVEL": "INFO",
    }
    with admin(base_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    clusters = []
    results = {}
    try:
        os.environ.update(env)
        os.environ["LOG_LEVEL"] = "WARNING"
        import django

        django.setup()
        from django.contrib.auth import get_user_model
        from django.core.management import call_command

        from synthesis.models import Job, Segment
        from synthesis.validation import clean_job_request
        from tests.conftest import dialogue

        call_command("migrate", verbosity=0, interactive=False)
        user = get_user_model().objects.create_user("bench")

        def submit():
            body = dialogue(provider="scripted")
            body["turns"] = [dict(body["turns"][i % 3], index=i, text=f"Line {i}.") for i in range(TURNS)]
            provider, params = clean_job_request(body)
            return Job.objects.submit(user, params, provider=provider)

        def start(name):
            cluster = Cluster(name, env, tmp)
            clusters.append(cluster)
            return cluster

        def running_with(job, kept=5):
            wait(lambda: Segment.objects.filter(job=job).count() >= kept, 120)
            return Job.objects.get(pk=job.pk)

        def back_running(job, attempts):
            return wait(lambda: Job.objects.filter(pk=job.pk, status="processing", attempts=attempts).exists(), 120)

        def completed(job):
            return wait(lambda: Job.objects.filter(pk=job.pk, status="completed").exists(), 300, 0.2)

        def measure(kind, fault):
            times = []
            for _ in range(args.repeat):
                job = submit()
                seconds = fault(job)
                completed(job)
                times.append(round(seconds, 2))
            results[kind] = {"seconds": times, "max": max(times)}
            print(kind, times, file=sys.stderr, flush=True)

        main_cluster = start("bench-a")

        def child_sigkill(job):
            running = running_with(job)
            os.kill(running.worker_pid, signal.SIGKILL)
            killed = time.monotonic()
            back_running(job, running.attempts + 1)
            return time.monotonic() - killed

        measure("child_sigkill", child_sigkill)

        def cluster_sigkill_restart(job):
            nonlocal main_cluster
            running = running_with(job)
            main_cluster.kill()
            killed = time.monotonic()
            main_cluster = start("bench-a")
            back_running(job, running.attempts + 1)
            return time.monotonic() - killed

        measure("cluster_sigkill_restart", cluster_sigkill_restart)

        def sigterm(job):
            nonlocal main_cluster
            running_with(job)
            os.kill(main_cluster.process.pid, signal.SIGTERM)
            asked = time.monotonic()
            main_cluster.process.wait(60)
            exited = time.monotonic() - asked
            assert Job.objects.get(pk=job.pk).status == "pending"
            main_cluster = start("bench-a")
            return exited

        measure("sigterm", sigterm)

        if not args.skip_lost_host:
            other = start("bench-b")
            wait(lambda: "running" in other_log(other), 60, 0.2)

            def lost_host(job):
                nonlocal main_cluster, other
                # Whichever cluster took the job is the host that is lost.
                running = running_with(job)
                holder = main_cluster if running.worker_name == "bench-a" else other
                holder.kill()
                killed = time.monotonic()
                back_running(job, running.attempts + 1)
                seconds = time.monotonic() - killed
                # The host comes back only now: its start-up would release the job itself.
                if holder is main_cluster:
                    main_cluster = start("bench-a")
                else:
                    other = start("bench-b")
                return seconds

            measure("lost_host", lost_host)

        results["settings"] = {
            "TTS_HEARTBEAT_INTERVAL_SECONDS": 2.0,
            "TTS_HEARTBEAT_STALE_SECONDS": 20,
            "cluster sweep": "every 2 s",
            "Q_WORKERS": 2,
            "turn": "0.25 s (scripted provider)",
        }
        results["load_average"] = os.getloadavg()
    finally:
        for cluster in clusters:
            cluster.stop()
        from django.db import connections

        connections.close_all()
        with admin(base_url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    print(json.dumps(results, indent=2))


def other_log(cluster) -> str:
    cluster.log.flush()
    return Path(cluster.log.name).read_text(errors="replace")


if __name__ == "__main__":
    main()

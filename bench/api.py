"""The JSON API under a real server, against PostgreSQL, with a worker; prints JSON.

    .venv/bin/python bench/api.py [--clients 8] [--submits 50] [--statuses 200] ...
    make bench

What it does, from nothing to nothing:

1. drops and recreates the database ``ttsjobs_bench`` on BENCH_PG_URL
   (default postgres://postgres@127.0.0.1:5432), migrates it, and creates the
   bench users, each with an API token;
2. starts ``gunicorn ttsjobs.wsgi`` (DEBUG off, persistent database
   connections) and ``manage.py run_worker`` (its own TTS_WORKER_NAME) on that
   database, and waits for /healthz to say both are up;
3. measures, in this order:
   - pickup: one job at a time on an idle worker, the time from submit
     (created_at) to the claim (started_at), read from the database;
   - the yardstick: GET /healthz (two small queries, no login) from
     ``--clients`` concurrent keep-alive connections, for the server's req/s;
   - submit: POST /api/v1/jobs from the same number of clients;
   - status: GET /api/v1/jobs/<id> of those jobs;
   with, for each of the last three, the CPU the server's processes and
   PostgreSQL's backends spent per request (from /proc; the machine's other
   load inflates latency far more than this), and the queries each request
   makes (one in-process request each);
4. prints one JSON object, then stops the server and the worker and drops the
   database, also when something failed, on Ctrl-C or on SIGTERM.

The per-user limit (3 active jobs) stays as configured: the submits are spread
over enough users that none of them submits more than the limit, so no request
is refused and the limit's lock and count are in every measured submit.

The worker is paused (SIGSTOP) while the API is measured, unless
``--worker-during-api running``: otherwise it would be synthesizing the
bench's 400 jobs on the same two cores as the server, which says more about
sharing a small machine than about the API. Throughput is also given as a
ratio to the yardstick, measured on the same server moments before, because
this machine is shared and noisy.
"""

import argparse
import http.client
import json
import os
import platform
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGETS = {"submit_p99_ms": 50, "status_p99_ms": 20, "pickup_median_s": 0.5}

# The smallest realistic request: three speakers, three short turns, the
# default output format (the same body as tests/conftest.py's dialogue()).
JOB_BODY = {
    "provider": "espeak",
    "turns": [
        {"speaker": "Alice", "text": "Hello there, Bob.", "index": 0},
        {"speaker": "Bob", "text": "Hi Alice. How are you?", "index": 1},
        {"speaker": "Carol", "text": "Good morning, both of you.", "index": 2},
    ],
    "voice_assignments": [
        {"speaker": "Alice", "voice_id": "en-us+f3"},
        {"speaker": "Bob", "voice_id": "en-us+m3"},
        {"speaker": "Carol", "voice_id": "en-gb"},
    ],
    "language": "en",
    "output_format": "mp3",
    "gap_ms": 300,
    "crossfade_ms": 50,
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--submits", type=int, default=50, help="submits per client (default 50)")
    parser.add_argument("--statuses", type=int, default=200, help="status reads per client (default 200)")
    parser.add_argument("--yardstick", type=int, default=200, help="/healthz requests per client (default 200)")
    parser.add_argument("--pickups", type=int, default=30, help="jobs for the pickup measurement (default 30)")
    parser.add_argument("--gunicorn-workers", type=int, default=4)
    parser.add_argument("--gunicorn-class", default="gthread", choices=["sync", "gthread"])
    parser.add_argument("--gunicorn-threads", type=int, default=2, help="threads per worker (gthread only)")
    parser.add_argument(
        "--conn-max-age",
        type=int,
        default=60,
        help="DB_CONN_MAX_AGE for server and worker (default 60; 0 = a connection per request)",
    )
    parser.add_argument("--q-workers", type=int, default=2, help="django-q2 worker processes (Q_WORKERS)")
    parser.add_argument(
        "--worker-during-api",
        default="paused",
        choices=["paused", "running"],
        help="paused (default): SIGSTOP the worker while the API is measured, so it does not "
        "synthesize the bench's jobs on the server's cores; running: leave it working",
    )
    parser.add_argument("--database", default="ttsjobs_bench")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs) for a look")
    scale = parser.add_argument_group("scale mode (bench/scale.py)")
    scale.add_argument(
        "--jobs",
        type=int,
        help="measure at 1,000 jobs and at this many (10,000 users, a heavy user with 10 %%, 60 days, "
        "10,000 queued) instead of the plain run; prints a table of both",
    )
    scale.add_argument("--html-requests", type=int, default=40, help="HTML list requests per client (default 40)")
    scale.add_argument("--repeat", type=int, default=7, help="in-process runs per figure, median (default 7)")
    scale.add_argument(
        "--reuse-data",
        action="store_true",
        help="keep the filled databases (<database>_<size>) and use them again next time instead of "
        "rebuilding (a million jobs take minutes)",
    )
    return parser.parse_args()


# --- figures ------------------------------------------------------------------


def percentile(values, pct):
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarise(latencies_s, wall_s, statuses, expected_status):
    ms = [1000 * s for s in latencies_s]
    ok = statuses.get(expected_status, 0)
    return {
        "requests": len(ms),
        "ok": ok,
        "errors": len(ms) - ok,
        "status_codes": {str(k): v for k, v in sorted(statuses.items())},
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(max(ms), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
        "req_per_s": round(len(ms) / wall_s, 1),
    }


# --- the client ---------------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection. http.client reopens it by itself
    when the server answers ``Connection: close`` (gunicorn's sync workers)."""

    def __init__(self, port):
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(self, method, path, *, token=None, body=None):
        headers = {"Host": "127.0.0.1"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            body = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.http.request(method, path, body=body, headers=headers)
        response = self.http.getresponse()
        return response.status, response.read()

    def close(self):
        self.http.close()


def run_concurrently(port, clients, requests_per_client, make_request):
    """Each client opens its connection (one untimed GET /healthz, so the TCP
    set-up is not in the figures), waits at a barrier, then sends its requests
    back to back. ``make_request(conn, client, i)`` returns (status, body).
    Returns per-request latencies, the wall time and a status count."""
    barrier = threading.Barrier(clients + 1)
    latencies = [[] for _ in range(clients)]
    statuses = [{} for _ in range(clients)]
    bodies = [[] for _ in range(clients)]
    failures = []

    def client(index):
        conn = Connection(port)
        try:
            conn.request("GET", "/healthz")
        except Exception as error:
            failures.append(repr(error))
        barrier.wait()
        try:
            for i in range(requests_per_client):
                started = time.perf_counter()
                status, body = make_request(conn, index, i)
                latencies[index].append(time.perf_counter() - started)
                statuses[index][status] = statuses[index].get(status, 0) + 1
                bodies[index].append((status, body))
        except Exception as error:
            failures.append(repr(error))
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} client(s) failed: {failures[:3]}")
    merged = {}
    for counts in statuses:
        for status, n in counts.items():
            merged[status] = merged.get(status, 0) + n
    return [s for per in latencies for s in per], wall, merged, bodies


# --- the processes ----------------------------------------------------------


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(cmd, env, log_path):
    log = open(log_path, "ab")
    # Its own session, so stop() reaches the whole tree (gunicorn's workers,
    # the django-q2 cluster's processes) through the group id.
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(process, grace=10):
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        os.killpg(process.pid, signal.SIGCONT)  # in case it was paused
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def wait_until_healthy(port, processes, timeout=90):
    """/healthz answers 200 once the server is up and the worker's cluster
    has written its first heartbeat."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode} during start-up")
        try:
            conn = Connection(port)
            status, body = conn.request("GET", "/healthz")
            conn.close()
            if status == 200:
                return
            last = (status, body[:200])
        except OSError as error:
            last = repr(error)
        time.sleep(0.2)
    raise RuntimeError(f"server or worker not healthy after {timeout}s: {last}")


def cpu_snapshot(server_pgid, database):
    """CPU seconds so far of the server's processes (its process group) and of
    the PostgreSQL backends serving ``database`` (their process title names
    it), by pid, from /proc. Empty where there is no /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    server, postgres = {}, {}
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else ():
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                title = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        if int(fields[2]) == server_pgid:
            server[entry.name] = seconds
        elif title.startswith("postgres:") and f" {database} " in title:
            postgres[entry.name] = seconds
    return server, postgres


def cpu_ms_per_request(before, after, requests):
    """Milliseconds of CPU per request, from two cpu_snapshot()s; a machine
    shared with other work inflates latency but hardly this."""
    result = {}
    for name, old, new in zip(("server", "postgres"), before, after):
        used = sum(seconds - old.get(pid, 0.0) for pid, seconds in new.items())
        result[name] = round(1000 * used / requests, 2) if new else None
    return result


def admin_connection(base_url):
    import psycopg

    return psycopg.connect(f"{base_url}/postgres", autocommit=True)


def recreate_database(base_url, name):
    with admin_connection(base_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
        return conn.execute("SHOW server_version").fetchone()[0]


def drop_database(base_url, name):
    with admin_connection(base_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the phases -------------------------------------------------------------


def create_users(count, prefix):
    from django.contrib.auth import get_user_model

    from synthesis.models import ApiToken

    User = get_user_model()
    users = [User(username=f"{prefix}{i:05d}") for i in range(count)]
    for user in users:
        user.set_unusable_password()  # hashing a real password costs ~0.3 s each
    User.objects.bulk_create(users)
    created = User.objects.filter(username__startswith=prefix).order_by("username")
    return [ApiToken.objects.create_token(user, "bench")[1] for user in created]


def measure_pickup(port, token, count):
    """Submit one job, wait until it is finished, repeat: each submit finds
    the worker idle. A random pause between jobs keeps the submits from
    falling into step with the worker's 0.2 s poll."""
    from synthesis.models import Job

    conn = Connection(port)
    pickups, totals = [], []
    for i in range(count + 1):  # the first one warms the worker up: not counted
        status, body = conn.request("POST", "/api/v1/jobs", token=token, body=JOB_BODY)
        if status != 201:
            raise RuntimeError(f"pickup submit answered {status}: {body[:300]!r}")
        job_id = json.loads(body)["id"]
        deadline = time.monotonic() + 60
        while True:
            job = Job.objects.filter(pk=job_id).values("status", "created_at", "started_at", "completed_at").get()
            if job["status"] in Job.FINAL_STATUSES:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"pickup job {job_id} still {job['status']} after 60 s")
            time.sleep(0.01)
        if job["status"] != Job.Status.COMPLETED:
            raise RuntimeError(f"pickup job {job_id} ended {job['status']}")
        if i:
            pickups.append((job["started_at"] - job["created_at"]).total_seconds())
            totals.append((job["completed_at"] - job["created_at"]).total_seconds())
        time.sleep(random.uniform(0.05, 0.3))
    conn.close()
    return {
        "jobs": len(pickups),
        "median_s": round(statistics.median(pickups), 3),
        "p95_s": round(percentile(pickups, 95), 3),
        "min_s": round(min(pickups), 3),
        "max_s": round(max(pickups), 3),
        "submit_to_completed_median_s": round(statistics.median(totals), 3),
    }


def count_queries(token):
    """Queries per request, from one in-process request to each URL with the
    same settings as the server (a diagnostic, not a timing). Uses the pickup
    user, who has no active job left."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")
    counts = {}
    submitted = []

    def submit():
        response = client.post("/api/v1/jobs", JOB_BODY, content_type="application/json")
        submitted.append(response.json()["id"])
        return response

    for name, call in {
        "yardstick": lambda: client.get("/healthz"),
        "submit": submit,
        "status": lambda: client.get(f"/api/v1/jobs/{submitted[-1]}"),
    }.items():
        call()  # once untimed, as the server was warmed up
        with CaptureQueriesContext(connection) as queries:
            response = call()
        counts[name] = {"queries": len(queries), "status": response.status_code,
                        "sql": [q["sql"][:120] for q in queries]}  # fmt: skip
    return counts


def main():
    args = parse_args()
    base_url = os.getenv("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
    tmp = Path(tempfile.mkdtemp(prefix="ttsjobs-bench-"))
    (tmp / "static").mkdir()  # STATIC_ROOT: whitenoise warns when it is missing
    port = free_port()
    env = {
        # Not the caller's bucket or settings module: audio stays in the temporary folder.
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DJANGO_"))},
        "DJANGO_SETTINGS_MODULE": "ttsjobs.settings",
        "DATABASE_URL": f"{base_url}/{args.database}",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # Plain HTTP on loopback: no TLS proxy in front to redirect to.
        "SECURE_SSL_REDIRECT": "0",
        "DB_CONN_MAX_AGE": str(args.conn_max_age),
        "VAR_DIR": str(tmp),
        "MEDIA_ROOT": str(tmp / "media"),
        "TTS_WORKER_NAME": f"bench-{socket.gethostname()}-{os.getpid()}",
        "Q_WORKERS": str(args.q_workers),
    }
    server_cmd = [
        sys.executable, "-m", "gunicorn", "ttsjobs.wsgi",
        "--workers", str(args.gunicorn_workers), "--worker-class", args.gunicorn_class,
    ]  # fmt: skip
    if args.gunicorn_class == "gthread":
        server_cmd += ["--threads", str(args.gunicorn_threads)]
    if args.jobs:
        import scale

        args.tmp = tmp
        scale.run(args, base_url, env, server_cmd)
        if not args.keep:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        return
    server_cmd += ["--bind", f"127.0.0.1:{port}"]
    worker_cmd = [sys.executable, "manage.py", "run_worker"]

    # SIGTERM (e.g. from make or a CI timeout) should clean up like Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    processes = {}
    database_created = False
    result = None
    try:
        load_before = os.getloadavg()
        pg_version = recreate_database(base_url, args.database)
        database_created = True
        # This process uses the bench settings too: migrate, users, reading
        # job timestamps.
        os.environ.update(env)
        os.environ["LOG_LEVEL"] = "WARNING"  # this process only: no line per token created
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        call_command("migrate", verbosity=0, interactive=False)

        clients = args.clients
        per_user = int(os.environ.get("TTS_MAX_ACTIVE_JOBS_PER_USER", 3))
        users_per_client = -(-args.submits // per_user)
        tokens = create_users(clients * users_per_client, "bench")
        pickup_token = create_users(1, "pickup")[0]
        connections.close_all()

        processes["gunicorn"] = start(server_cmd, env, tmp / "gunicorn.log")
        processes["worker"] = start(worker_cmd, env, tmp / "worker.log")
        wait_until_healthy(port, processes)

        pickup = measure_pickup(port, pickup_token, args.pickups)
        if args.worker_during_api == "paused":
            os.killpg(processes["worker"].pid, signal.SIGSTOP)

        # Warm every server process and thread up (imports, URLconf, voice
        # catalog, database connection) before anything is timed.
        run_concurrently(port, clients, 20, lambda conn, c, i: conn.request("GET", "/healthz"))
        run_concurrently(port, clients, 10, lambda conn, c, i: conn.request("GET", "/api/v1/voices", token=tokens[c]))

        def measured(per_client, make_request):
            """run_concurrently, plus the CPU it took: server, PostgreSQL, and
            this process (the clients)."""
            before = cpu_snapshot(processes["gunicorn"].pid, args.database)
            client_before = time.process_time()
            lat, wall, codes, bodies = run_concurrently(port, clients, per_client, make_request)
            client_cpu = time.process_time() - client_before
            cpu = cpu_ms_per_request(before, cpu_snapshot(processes["gunicorn"].pid, args.database), len(lat))
            cpu["clients"] = round(1000 * client_cpu / len(lat), 2)
            if args.conn_max_age == 0:
                cpu["postgres"] = None  # a backend per request: gone before it can be counted
            else:
                # What the cores could do if they were all ours: the ceiling
                # on req/s, hence a floor of clients / ceiling on mean latency.
                per_request = cpu["server"] + cpu["postgres"] + cpu["clients"]
                cpu["cpu_bound_req_per_s"] = round(1000 * (os.cpu_count() or 1) / per_request, 1)
            return lat, wall, codes, bodies, cpu

        lat, wall, codes, _, cpu = measured(args.yardstick, lambda conn, c, i: conn.request("GET", "/healthz"))
        yardstick = {"url": "GET /healthz (no login; SELECT 1 + newest worker heartbeat)",
                     **summarise(lat, wall, codes, 200), "cpu_ms_per_request": cpu}  # fmt: skip

        def submit(conn, c, i):
            # Client c's i-th submit goes to its (i // limit)-th user: nobody
            # reaches the per-user limit.
            user = c * users_per_client + i // per_user
            return conn.request("POST", "/api/v1/jobs", token=tokens[user], body=JOB_BODY)

        lat, wall, codes, bodies, cpu = measured(args.submits, submit)
        submit_figures = {"url": "POST /api/v1/jobs (3 speakers, 3 turns)", **summarise(lat, wall, codes, 201),
                          "cpu_ms_per_request": cpu}  # fmt: skip
        # (job id, index of its owner's token) of each client's accepted submits
        job_ids = [
            [(json.loads(body)["id"], c * users_per_client + i // per_user)
             for i, (status, body) in enumerate(per) if status == 201]
            for c, per in enumerate(bodies)
        ]  # fmt: skip
        if not all(job_ids):
            raise RuntimeError(f"a client had no accepted submit: {codes}")

        def status(conn, c, i):
            job_id, user = job_ids[c][i % len(job_ids[c])]
            return conn.request("GET", f"/api/v1/jobs/{job_id}", token=tokens[user])

        lat, wall, codes, _, cpu = measured(args.statuses, status)
        status_figures = {"url": "GET /api/v1/jobs/<id>", **summarise(lat, wall, codes, 200), "cpu_ms_per_request": cpu}

        # A paused worker stays paused: stop() wakes it only to end it.
        from synthesis.models import Job

        bench_jobs = Job.objects.filter(owner__username__startswith="bench")
        worker_during_api = {
            "started": bench_jobs.exclude(started_at=None).count(),
            "completed": bench_jobs.filter(status=Job.Status.COMPLETED).count(),
            "submitted": bench_jobs.count(),
        }
        queries = count_queries(pickup_token)
        connections.close_all()

        result = {
            "machine": {
                "cores": os.cpu_count(),
                "load_average_before": [round(x, 2) for x in load_before],
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
                "python": platform.python_version(),
                "postgresql": pg_version,
                "note": "server, worker, PostgreSQL and these clients share the cores",
            },
            "server": {
                "command": "gunicorn ttsjobs.wsgi " + " ".join(server_cmd[4:]),
                "DEBUG": 0,
                "DB_CONN_MAX_AGE": args.conn_max_age,
            },
            "worker": {
                "command": "manage.py run_worker",
                "Q_WORKERS": args.q_workers,
                "during_api_phases": args.worker_during_api,
                "bench_jobs": worker_during_api,
            },
            "concurrency": clients,
            "per_user_limit": (
                f"{per_user} (unchanged): submits spread over {clients * users_per_client} users, "
                f"at most {per_user} each"
            ),
            "submit": submit_figures,
            "status": status_figures,
            "yardstick": yardstick,
            "ratio_to_yardstick": {
                "submit": round(submit_figures["req_per_s"] / yardstick["req_per_s"], 3),
                "status": round(status_figures["req_per_s"] / yardstick["req_per_s"], 3),
            },
            "pickup": pickup,
            "queries_per_request": queries,
            "targets": {
                **TARGETS,
                "met": {
                    "submit_p99": submit_figures["p99_ms"] < TARGETS["submit_p99_ms"],
                    "status_p99": status_figures["p99_ms"] < TARGETS["status_p99_ms"],
                    "pickup_median": pickup["median_s"] < TARGETS["pickup_median_s"],
                },
            },
        }
    finally:
        for name in ("gunicorn", "worker"):
            stop(processes.get(name))
        if "django" in sys.modules:
            from django.db import connections

            connections.close_all()
        if database_created:
            drop_database(base_url, args.database)
        if args.keep or result is None:
            print(f"logs kept in {tmp}", file=sys.stderr)
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

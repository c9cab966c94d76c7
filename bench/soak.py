"""Fault soak: API jobs on PostgreSQL while processes are killed under them.

    .venv/bin/python bench/soak.py [--jobs 1000] [--rate 1.5] [--clusters 2] ...

From nothing to nothing:

1. drops and recreates the database ``ttsjobs_soak`` (``--database``) on
   BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432), migrates it and
   creates enough users, each with an API token, that no user ever has more
   than 3 jobs (the per-user limit stays as configured);
2. starts ``gunicorn ttsjobs.wsgi`` (DEBUG off, gthread workers, persistent
   connections) and ``--clusters`` real ``manage.py run_worker`` clusters, each
   in a session of its own with its own TTS_WORKER_NAME, default heartbeat and
   attempt settings, the real eSpeak engine (in its child process per worker);
3. submits ``--jobs`` short eSpeak dialogues through ``POST /api/v1/jobs`` at
   ``--rate`` jobs a second from ``--clients`` keep-alive clients, each with an
   ``Idempotency-Key``; a client retries a refused connection, a dropped
   connection, a 5xx and a 503 (after its ``Retry-After``) with the same key
   and body, as a real client should. Two more clients poll job status;
4. injects faults on a schedule spread over the submission window, each only
   once something is running where it strikes:
   - ``cluster``: SIGKILL of a whole cluster (its process group: run_worker,
     django-q2's sentinel and workers, the engine children), restarted at once
     (systemd ``Restart=always``), at a moment it is running a job;
   - ``child``: SIGKILL of the eSpeak child process of a worker running a job
     (caught computing when possible, as the OOM killer would);
   - ``gunicorn``: SIGKILL of a gunicorn worker (the master replaces it);
   - ``postgres``: ``pg_ctlcluster <version> main restart`` (PostgreSQL is
     shared on this machine: at most ``--pg-restarts``, default 1);
   and measures for each the time from the fault until every job it hit is
   running again (processing in a new run, or, after a PostgreSQL restart,
   heartbeating again), read from the database every 50 ms;
5. waits until every job is completed, failed or cancelled (``--timeout``),
   stops everything gracefully, and checks from the database, the storage
   and the clients' records: jobs failed (and why), lost (a key answered
   with a job that is not there, or never answered), stuck (not final),
   doubled (two jobs for one key, two ids for one key, a completed job
   without exactly one audio file, or audio files no job owns), orphan files
   in media (``.partial-*`` included, and what cleanup's sweep would delete),
   HTTP status counts (500s, 503s that were not JSON);
6. prints a summary table and the whole record as JSON (``--json FILE``),
   drops the database (``--keep`` keeps it and the logs).

It asserts nothing, but exits 1 when an invariant is broken.
"""

import argparse
import http.client
import json
import os
import queue
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FINAL = ("completed", "failed", "cancelled")
WORDS = (
    "Good morning, how did you sleep?",
    "The train leaves at seven fifteen.",
    "Could you pass me the salt, please?",
    "I think it is going to rain later.",
    "We should meet again next week.",
    "That was the best soup I ever had.",
)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1000, help="jobs to submit (default 1000)")
    parser.add_argument("--rate", type=float, default=1.5, help="submits a second (default 1.5)")
    parser.add_argument("--clients", type=int, default=6, help="submitting clients (default 6)")
    parser.add_argument("--clusters", type=int, default=2, help="worker clusters (default 2)")
    parser.add_argument("--q-workers", type=int, default=2, help="django-q2 workers per cluster (default 2)")
    parser.add_argument("--gunicorn-workers", type=int, default=3, help="gthread workers x 2 threads (default 3)")
    parser.add_argument("--cluster-kills", type=int, default=5)
    parser.add_argument("--child-kills", type=int, default=3)
    parser.add_argument("--gunicorn-kills", type=int, default=2)
    parser.add_argument("--pg-restarts", type=int, default=1, help="PostgreSQL restarts (shared server: keep it low)")
    parser.add_argument("--long-every", type=int, default=10, help="every Nth job has 12 turns, not 3 (default 10)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the last job (default 3600)")
    parser.add_argument("--database", default="ttsjobs_soak")
    parser.add_argument("--json", help="write the whole record here")
    parser.add_argument("--keep", action="store_true", help="keep the database, media and logs")
    return parser.parse_args()


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- processes ----------------------------------------------------------------


def proc_table():
    """{pid: (ppid, pgrp, state)} from /proc."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        table[int(entry.name)] = (int(fields[1]), int(fields[2]), fields[0])
    return table


class Service:
    """A process started in a session of its own (so its group is its pid)."""

    def __init__(self, name, cmd, env, log_path):
        self.name, self.cmd, self.env, self.log_path = name, cmd, env, log_path
        self.process = None
        self.starts = 0

    def start(self):
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            self.cmd, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.starts += 1
        return self

    def members(self):
        return [pid for pid, (_ppid, pgrp, _state) in proc_table().items() if pgrp == self.process.pid]

    def kill_group(self):
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        self.log.close()

    def stop(self, grace=20):
        if self.process is None or self.process.poll() is not None:
            self._kill_leftovers()
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            pass
        self._kill_leftovers()
        self.process.wait()
        self.log.close()

    def _kill_leftovers(self):
        if self.process is None:
            return
        for pid in self.members():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# --- the database, read directly (it survives a PostgreSQL restart) --------


class Db:
    def __init__(self, url):
        self.url = url
        self.conn = None

    def query(self, sql, params=(), retry_for=120.0):
        import psycopg

        give_up = time.monotonic() + retry_for
        while True:
            try:
                if self.conn is None or self.conn.closed:
                    self.conn = psycopg.connect(self.url, autocommit=True, connect_timeout=3)
                return self.conn.execute(sql, params).fetchall()
            except psycopg.OperationalError:
                try:
                    if self.conn is not None:
                        self.conn.close()
                except Exception:
                    pass
                self.conn = None
                if time.monotonic() > give_up:
                    raise
                time.sleep(0.2)


# --- HTTP clients -----------------------------------------------------------


class Http:
    """Keep-alive connection; reconnects after any error."""

    def __init__(self, port, record):
        self.port = port
        self.record = record  # (t, kind, status) appended for every answer or error
        self.conn = None

    def request(self, kind, method, path, token, body=None, headers=None):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        all_headers = {"Host": "127.0.0.1", "Authorization": f"Bearer {token}", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=data, headers=all_headers)
            response = self.conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as error:
            self.conn.close()
            self.conn = None
            self.record.append((time.monotonic(), kind, f"conn:{error.__class__.__name__}"))
            return None, None, None
        self.record.append((time.monotonic(), kind, response.status))
        if response.status == 503 and not response.getheader("Content-Type", "").startswith("application/json"):
            self.record.append((time.monotonic(), kind, "503-not-json"))
        if response.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        return response.status, response, payload


def retrying(call, give_up_after=300.0):
    """Call until an answer that is not a connection error, a 5xx or a 503.
    Returns (status, response, payload) or None after give_up_after."""
    give_up = time.monotonic() + give_up_after
    delay = 0.25
    while time.monotonic() < give_up:
        status, response, payload = call()
        if status is not None and status < 500:
            return status, response, payload
        wait = delay
        if status == 503 and response is not None:
            try:
                wait = max(wait, float(response.getheader("Retry-After", "0")))
            except ValueError:
                pass
        time.sleep(min(wait, 10.0))
        delay = min(delay * 2, 4.0)
    return None


def create_users(count, prefix):
    """Users with an API token each (no password: hashing one costs ~0.3 s)."""
    from django.contrib.auth import get_user_model

    from synthesis.models import ApiToken

    User = get_user_model()
    users = [User(username=f"{prefix}{i:05d}") for i in range(count)]
    for user in users:
        user.set_unusable_password()
    User.objects.bulk_create(users)
    created = User.objects.filter(username__startswith=prefix).order_by("username")
    return [ApiToken.objects.create_token(user, "soak")[1] for user in created]


def job_body(number, long_every):
    turns = 12 if long_every and number % long_every == long_every - 1 else 3
    speakers = ["Alice", "Bob", "Carol"]
    return {
        "provider": "espeak",
        "turns": [
            {"speaker": speakers[i % 3], "text": f"{WORDS[(number + i) % len(WORDS)]} Number {number}.", "index": i}
            for i in range(turns)
        ],
        "voice_assignments": [
            {"speaker": "Alice", "voice_id": "en-us+f3"},
            {"speaker": "Bob", "voice_id": "en-us+m3"},
            {"speaker": "Carol", "voice_id": "en-gb"},
        ],
        "language": "en",
        "output_format": ("mp3", "mp3", "ogg", "wav")[number % 4],
        "gap_ms": 300,
        "crossfade_ms": 50,
    }


# --- faults -----------------------------------------------------------------


class Faults:
    def __init__(self, db, clusters, gunicorn, pg_version, stop_event):
        self.db, self.clusters, self.gunicorn = db, clusters, gunicorn
        self.pg_version = pg_version
        self.stop_event = stop_event
        self.events = []  # one dict per fault
        self.lock = threading.Lock()  # a cluster is not restarted while another fault looks at it

    def processing(self, worker_name=None):
        sql = "SELECT id, attempts, run_token, worker_name, worker_pid FROM synthesis_job WHERE status = 'processing'"
        params = ()
        if worker_name:
            sql += " AND worker_name = %s"
            params = (worker_name,)
        return self.db.query(sql, params)

    def wait_running_again(self, hit, since, mode="new_run", timeout=180.0, back_at=None):
        """hit: {job_id: run_token at the fault}. Seconds from ``since`` (the
        fault) until each job runs again: processing under another run token
        (mode new_run) or, after a database restart, heartbeating after the
        database was back (``back_at``, monotonic; mode heartbeat); a job that
        ended meanwhile counts when it ended."""
        left = dict(hit)
        seconds = {}
        outcome = {}
        deadline = time.monotonic() + timeout
        restart_wall = time.time() - (time.monotonic() - (back_at or since))
        while left and time.monotonic() < deadline:
            rows = self.db.query(
                "SELECT id, status, run_token, extract(epoch FROM heartbeat_at) FROM synthesis_job WHERE id = ANY(%s)",
                (list(left),),
            )
            now = time.monotonic()
            for job_id, status, run_token, heartbeat in rows:
                again = (
                    status == "processing"
                    and (
                        (mode == "new_run" and run_token is not None and run_token != left[job_id])
                        or (mode == "heartbeat" and heartbeat is not None and heartbeat > restart_wall)
                    )
                ) or status in FINAL
                if again:
                    seconds[str(job_id)] = round(now - since, 2)
                    outcome[str(job_id)] = status
                    del left[job_id]
            time.sleep(0.05)
        for job_id in left:
            seconds[str(job_id)] = None
            outcome[str(job_id)] = "not running again within the timeout"
        return seconds, outcome

    def cluster(self, index):
        cluster = self.clusters[index % len(self.clusters)]
        with self.lock:
            running = self._wait_for(lambda: self.processing(cluster.name), 60)
            hit = {row[0]: row[2] for row in running}
            killed = time.monotonic()
            cluster.kill_group()
            cluster.start()
        seconds, outcome = self.wait_running_again(hit, killed)
        return {"target": cluster.name, "jobs_hit": len(hit), "recovery_s": seconds, "outcome": outcome}

    def child(self, index):
        """SIGKILL the eSpeak child of a worker running a job, preferably
        while it computes (state R)."""
        with self.lock:
            chosen = None
            give_up = time.monotonic() + 60
            while time.monotonic() < give_up and chosen is None:
                running = {row[4]: row for row in self.processing() if row[4]}
                table = proc_table()
                children = [
                    (pid, state, running[ppid])
                    for pid, (ppid, _pgrp, state) in table.items()
                    if ppid in running and state != "Z"
                ]
                busy = [c for c in children if c[1] == "R"]
                if busy:
                    chosen = random.choice(busy)
                elif children and time.monotonic() > give_up - 45:
                    chosen = random.choice(children)
                else:
                    time.sleep(0.02)
            if chosen is None:
                return {"target": None, "jobs_hit": 0, "note": "no job with an engine child within 60 s"}
            pid, state, row = chosen
            killed = time.monotonic()
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                return {"target": pid, "jobs_hit": 0, "note": "the child exited before the kill"}
        seconds, outcome = self.wait_running_again({row[0]: row[2]}, killed)
        return {
            "target": f"pid {pid} (engine child of worker pid {row[4]} on {row[3]}, state {state})",
            "jobs_hit": 1,
            "recovery_s": seconds,
            "outcome": outcome,
        }

    def gunicorn_worker(self, index):
        master = self.gunicorn.process.pid
        # Preferably one serving a request right now (state R), within 10 s.
        give_up = time.monotonic() + 10
        while True:
            table = proc_table()
            workers = [pid for pid, (ppid, _g, _s) in table.items() if ppid == master]
            busy = [pid for pid in workers if table[pid][2] == "R"]
            if busy or time.monotonic() > give_up:
                break
            time.sleep(0.01)
        victim = random.choice(busy or workers)
        state = table[victim][2]
        killed = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        replaced = None
        while time.monotonic() - killed < 120:
            now = [pid for pid, (ppid, _g, _s) in proc_table().items() if ppid == master]
            if victim not in now and len(now) >= len(workers):
                replaced = round(time.monotonic() - killed, 2)
                break
            time.sleep(0.05)
        return {"target": f"gunicorn worker pid {victim} (state {state})", "replaced_after_s": replaced}

    def postgres(self, index):
        # At a moment a job is running (within 30 s), so the restart hits one.
        hit = {row[0]: row[2] for row in self._wait_for(self.processing, 30)}
        started = time.monotonic()
        done = subprocess.run(
            ["pg_ctlcluster", self.pg_version, "main", "restart"], capture_output=True, text=True, timeout=120
        )
        restarted = time.monotonic()
        seconds, outcome = self.wait_running_again(hit, started, mode="heartbeat", back_at=restarted)
        return {
            "target": f"PostgreSQL {self.pg_version}/main",
            "restart_took_s": round(restarted - started, 2),
            "restart_rc": done.returncode,
            "restart_monotonic": [started, restarted],
            "jobs_hit": len(hit),
            "recovery_s": seconds,
            "outcome": outcome,
        }

    def _wait_for(self, get, timeout):
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            value = get()
            if value:
                return value
            time.sleep(0.05)
        return []

    def run(self, schedule, t0):
        counters = Counter()
        for offset, kind in schedule:
            while time.monotonic() < t0 + offset:
                if self.stop_event.wait(0.2):
                    return
            counters[kind] += 1
            at = round(time.monotonic() - t0, 1)
            log(f"fault {kind} #{counters[kind]} at t={at}s")
            try:
                result = getattr(self, kind if kind != "gunicorn" else "gunicorn_worker")(counters[kind])
            except Exception as error:  # a fault that could not be injected is reported, not fatal
                result = {"error": repr(error)}
            result = {"kind": kind, "at_s": at, **result}
            log(f"  -> {json.dumps({k: v for k, v in result.items() if k != 'outcome'})[:400]}")
            self.events.append(result)


def make_schedule(args, window):
    kinds = (
        ["cluster"] * args.cluster_kills
        + ["child"] * args.child_kills
        + ["gunicorn"] * args.gunicorn_kills
        + ["postgres"] * args.pg_restarts
    )
    random.shuffle(kinds)
    # Evenly over 5 %..90 % of the submission window, a little jitter.
    n = len(kinds)
    return [(window * (0.05 + 0.85 * (i + random.uniform(0.2, 0.8)) / max(n, 1)), kind) for i, kind in enumerate(kinds)]


# --- the run ------------------------------------------------------------------


def main():
    args = parse_args()
    base_url = os.getenv("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
    db_url = f"{base_url}/{args.database}"
    tmp = Path(tempfile.mkdtemp(prefix="ttsjobs-soak-"))
    (tmp / "static").mkdir()
    media = tmp / "media"
    from tests.processes import free_port

    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DJANGO_", "TTS_", "Q_"))},
        "DJANGO_SETTINGS_MODULE": "ttsjobs.settings",
        "DATABASE_URL": db_url,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "VAR_DIR": str(tmp),
        "MEDIA_ROOT": str(media),
        "Q_WORKERS": str(args.q_workers),
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    import psycopg

    with psycopg.connect(f"{base_url}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{args.database}"')
        pg_version = admin.execute("SHOW server_version_num").fetchone()[0][:2]
    os.environ.update(env)
    os.environ["LOG_LEVEL"] = "WARNING"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", verbosity=0, interactive=False)
    per_user = 3
    tokens = create_users(-(-args.jobs // per_user), "soak")
    connections.close_all()

    services = []
    gunicorn = Service(
        "gunicorn",
        [sys.executable, "-m", "gunicorn", "ttsjobs.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", str(args.gunicorn_workers), "--worker-class", "gthread", "--threads", "2",
         "--keep-alive", "60"],
        env,
        tmp / "gunicorn.log",
    )  # fmt: skip
    services.append(gunicorn.start())
    clusters = []
    for i in range(args.clusters):
        name = f"soak-{chr(97 + i)}"
        cluster = Service(name, [sys.executable, "manage.py", "run_worker"], {**env, "TTS_WORKER_NAME": name},
                          tmp / f"worker-{name}.log")  # fmt: skip
        clusters.append(cluster.start())
        services.append(cluster)
    db = Db(db_url)
    record = []  # (t, kind, status) of every request
    results = {"command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])}
    stop_event = threading.Event()
    exit_code = 1
    try:
        # Up when /healthz says the server and a worker are.
        probe = Http(port, [])
        give_up = time.monotonic() + 180
        while time.monotonic() < give_up:
            status, _r, _p = probe.request("health", "GET", "/healthz", "none")
            if status == 200:
                break
            time.sleep(0.5)
        else:
            raise RuntimeError("server or workers not up after 180 s")
        log(f"up: gunicorn on {port}, clusters {[c.name for c in clusters]}, logs in {tmp}")
        load_before = os.getloadavg()

        submitted = {}  # number -> {"key", "ids": set, "gave_up": bool}
        lock = threading.Lock()
        work = queue.Queue()
        for number in range(args.jobs):
            work.put(number)
        t0 = time.monotonic()
        window = args.jobs / args.rate

        def submitter():
            http = Http(port, record)
            while True:
                try:
                    number = work.get_nowait()
                except queue.Empty:
                    return
                # Paced: job n goes out at t0 + n / rate.
                delay = t0 + number / args.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                submit_one(http, number)

        def submit_one(http, number):
            key = str(uuid.uuid4())
            token = tokens[number // per_user]
            body = job_body(number, args.long_every)
            entry = {"key": key, "ids": set(), "statuses": [], "token": token}
            with lock:
                submitted[number] = entry

            def call():
                entry["tries"] = entry.get("tries", 0) + 1
                status, response, payload = http.request(
                    "submit", "POST", "/api/v1/jobs", token, body, {"Idempotency-Key": key}
                )
                if status is not None:
                    entry["statuses"].append(status)
                    if status in (200, 201):
                        entry["ids"].add(json.loads(payload)["id"])
                return status, response, payload

            answer = retrying(call)
            entry["gave_up"] = answer is None or answer[0] not in (200, 201)

        def poller():
            http = Http(port, record)
            while not stop_event.is_set():
                with lock:
                    known = [(e["token"], next(iter(e["ids"]))) for e in submitted.values() if e["ids"]]
                if not known:
                    time.sleep(0.5)
                    continue
                token, job_id = random.choice(known[-50:])
                http.request("status", "GET", f"/api/v1/jobs/{job_id}", token)
                time.sleep(0.3)

        faults = Faults(db, clusters, gunicorn, pg_version, stop_event)
        schedule = make_schedule(args, window)
        results["schedule"] = [(round(t, 1), k) for t, k in schedule]
        threads = [threading.Thread(target=submitter, daemon=True) for _ in range(args.clients)]
        threads += [threading.Thread(target=poller, daemon=True) for _ in range(2)]
        fault_thread = threading.Thread(target=faults.run, args=(schedule, t0), daemon=True)
        for thread in [*threads, fault_thread]:
            thread.start()

        # Progress, until every job is final or the timeout. A cluster that
        # exits by itself is restarted 5 s later (systemd Restart=always,
        # RestartSec=5) and reported: it should never happen.
        final_since = None
        results["cluster_exits"] = []
        while True:
            time.sleep(5)
            for cluster in clusters:
                if cluster.process.poll() is not None and faults.lock.acquire(blocking=False):
                    try:
                        if cluster.process.poll() is not None:
                            code = cluster.process.returncode
                            results["cluster_exits"].append({"cluster": cluster.name, "returncode": code})
                            log(f"cluster {cluster.name} exited by itself with {code}: restarting it")
                            cluster.kill_group()
                            cluster.start()
                    finally:
                        faults.lock.release()
            rows = dict(db.query("SELECT status, count(*) FROM synthesis_job GROUP BY status"))
            total = sum(rows.values())
            done_submitting = all(not t.is_alive() for t in threads[: args.clients])
            log(f"t={time.monotonic() - t0:.0f}s jobs={total} {rows} load={os.getloadavg()[0]:.1f}")
            all_final = total and all(s in FINAL for s in rows)
            if done_submitting and all_final and not fault_thread.is_alive():
                final_since = time.monotonic()
                break
            if time.monotonic() - t0 > window + args.timeout:
                break
        wall = (final_since or time.monotonic()) - t0
        stop_event.set()
        fault_thread.join(5)
        for thread in threads:
            thread.join(5)

        # Every job through the API too, as its client would see it.
        http = Http(port, record)
        api_final = Counter()
        for entry in submitted.values():
            for job_id in entry["ids"]:
                path, token = f"/api/v1/jobs/{job_id}", entry["token"]
                answer = retrying(lambda path=path, token=token: http.request("final", "GET", path, token), 60)
                api_final[json.loads(answer[2])["status"] if answer and answer[0] == 200 else f"http {answer}"] += 1
        results["api_final_statuses"] = dict(api_final)
        results["wall_s"] = round(wall, 1)
        results["load_average_before"] = [round(x, 2) for x in load_before]
        results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        stop_event.set()
        for service in services:
            service.stop()

    try:
        results.update(check(args, db, submitted, record, media, faults.events))
        results["faults"] = faults.events
        results["logs"] = scan_logs(tmp)
        results["settings"] = {
            "clusters": args.clusters,
            "Q_WORKERS": args.q_workers,
            "gunicorn": f"{args.gunicorn_workers} gthread workers x 2 threads",
            "TTS_HEARTBEAT_STALE_SECONDS": "default (20)",
            "TTS_MAX_ATTEMPTS": "default (3)",
            "engine": "eSpeak NG (child process per worker)",
            "jobs": f"3 turns, every {args.long_every}th 12 turns; mp3/ogg/wav",
        }
        exit_code = print_summary(results)
    finally:
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2, default=str))
        if db.conn is not None:
            db.conn.close()
        if args.keep:
            log(f"kept: database {args.database}, media and logs in {tmp}")
        else:
            with psycopg.connect(f"{base_url}/postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(exit_code)


def check(args, db, submitted, record, media, events):
    jobs = db.query(
        "SELECT j.id, j.status, j.error_code, j.attempts, j.audio, j.idempotency_key, u.username,"
        " j.result_metadata->>'latency_ms', extract(epoch FROM j.completed_at - j.created_at)"
        " FROM synthesis_job j JOIN auth_user u ON u.id = j.owner_id"
    )
    by_id = {str(row[0]): row for row in jobs}
    statuses = Counter(row[1] for row in jobs)
    failed = Counter(f"{row[2]}" for row in jobs if row[1] == "failed")
    # Lost: a client was answered with a job that is not there, or gave up.
    answered = {job_id for e in submitted.values() for job_id in e["ids"]}
    lost = [job_id for job_id in answered if job_id not in by_id]
    gave_up = [n for n, e in submitted.items() if e.get("gave_up", True)]
    # Doubled: more than one id for a key, more than one job for a key, jobs
    # nobody asked for.
    two_ids = [n for n, e in submitted.items() if len(e["ids"]) > 1]
    keys = Counter(row[5] for row in jobs)
    two_jobs = [k for k, n in keys.items() if n > 1]
    unasked = [job_id for job_id in by_id if job_id not in answered]
    stuck = [job_id for job_id, row in by_id.items() if row[1] not in FINAL]

    # Storage: exactly one audio file per completed job, nothing else.
    before = storage_orphans(db, media, jobs)
    # Then cleanup's own sweep, as its daily run would do once the files are
    # past their grace (an hour): what it leaves is what nobody ever deletes.
    from datetime import timedelta

    import time_machine
    from django.db import connections
    from django.utils import timezone

    from synthesis.orphans import sweep_orphan_files

    connections.close_all()
    with time_machine.travel(timezone.now() + timedelta(hours=2), tick=False):
        sweep = sweep_orphan_files()
    connections.close_all()
    after = storage_orphans(db, media, jobs)
    # Queue rows left once every job ended: a task a killed cluster had pulled
    # stays locked for django-q2's retry (13 minutes), its job having been
    # released with a new task; redelivered then, it finds nothing to claim.
    from django_q.models import OrmQ

    queue_left = [
        {"func": row.task.get("func"), "job": str((row.task.get("args") or ["?"])[0]), "lock": str(row.lock)}
        for row in OrmQ.objects.all()
    ]
    for row in queue_left:
        status = db.query("SELECT status FROM synthesis_job WHERE id::text = %s", (row["job"],))
        row["job_status"] = status[0][0] if status else None

    # What the API's clients saw around each PostgreSQL restart.
    for event in events:
        if event["kind"] != "postgres" or "restart_monotonic" not in event:
            continue
        start, end = event["restart_monotonic"]
        window = [(t, status) for t, _k, status in record if start - 1 <= t <= end + 60]
        errors = [(t, status) for t, status in window if not (isinstance(status, int) and status < 500)]
        event["api_during_restart"] = dict(Counter(str(status) for _t, status in errors))
        if errors:
            last_error = max(t for t, _s in errors)
            ok_after = [t for t, status in window if isinstance(status, int) and status < 500 and t > last_error]
            event["api_answering_again_s"] = round(min(ok_after) - start, 2) if ok_after else None

    http = Counter()
    for _t, kind, status in record:
        http[f"{kind} {status}"] += 1
    http_totals = Counter(str(status) for _t, _k, status in record)
    resumed = sum(1 for row in jobs if row[3] and row[3] > 1)
    latencies = sorted(float(row[8]) for row in jobs if row[1] == "completed" and row[8] is not None)
    return {
        "jobs_submitted": len(submitted),
        "submits_retried": sum(1 for e in submitted.values() if e.get("tries", 1) > 1),
        "submits_answered_by_replay": sum(1 for e in submitted.values() if 200 in e["statuses"]),
        "jobs_in_db": len(jobs),
        "final_statuses": dict(statuses),
        "failed_by_code": dict(failed),
        "resumed_jobs": resumed,
        "attempts": dict(Counter(row[3] for row in jobs)),
        "lost": {"answered_but_missing": lost, "client_gave_up": gave_up},
        "stuck": stuck,
        "doubled": {
            "two_ids_for_one_key": two_ids,
            "two_jobs_for_one_key": two_jobs,
            "jobs_nobody_asked_for": unasked,
            "completed_without_audio_file": before.pop("completed_without_audio_file"),
            "audio_shared": before.pop("audio_shared"),
        },
        "orphans_before_cleanup": before,
        "cleanup_sweep": sweep,
        "orphans": {k: v for k, v in after.items() if k not in ("completed_without_audio_file", "audio_shared")},
        "queue_rows_left": queue_left,
        "http": dict(sorted(http.items())),
        "http_totals": dict(sorted(http_totals.items())),
        "submit_to_completed_s": {
            "median": round(statistics.median(latencies), 2) if latencies else None,
            "p95": round(latencies[int(0.95 * (len(latencies) - 1))], 2) if latencies else None,
            "max": round(latencies[-1], 2) if latencies else None,
        },
    }


def storage_orphans(db, media, jobs):
    files = [p for p in media.rglob("*") if p.is_file()]
    names = {p.relative_to(media).as_posix() for p in files}
    partial = sorted(n for n in names if n.rsplit("/", 1)[-1].startswith(".partial-"))
    audio_files = {n for n in names if n.startswith("audio/") and n not in partial}
    referenced = {row[4] for row in jobs if row[4]}
    segment_rows = {row[0] for row in db.query("SELECT file FROM synthesis_segment")}
    segment_files = {n for n in names if n.startswith("segments/") and n not in partial}
    return {
        "completed_without_audio_file": [
            str(r[0]) for r in jobs if r[1] == "completed" and (not r[4] or r[4] not in audio_files)
        ],
        "audio_shared": [a for a, n in Counter(row[4] for row in jobs if row[4]).items() if n > 1],
        "partial_files": partial,
        "audio_without_job": sorted(audio_files - referenced),
        "segment_files_without_row": sorted(segment_files - segment_rows),
        "segment_rows_without_file": sorted(segment_rows - segment_files),
        "segments_of_failed_or_cancelled_jobs": db.query(
            "SELECT count(*) FROM synthesis_segment s JOIN synthesis_job j ON j.id = s.job_id"
            " WHERE j.status IN ('failed', 'cancelled')"
        )[0][0],
        "other_files": sorted(n for n in names if not n.startswith(("audio/", "segments/")) and n not in partial),
    }


def scan_logs(tmp):
    found = {}
    for path in sorted(tmp.glob("*.log")):
        text = path.read_text(errors="replace")
        # Each traceback: the log line before it and the exception it ends with.
        lines = text.splitlines()
        excerpts = []
        for i, line in enumerate(lines):
            if line.startswith("Traceback (most recent call last)"):
                end = next((j for j in range(i + 1, len(lines)) if lines[j] and not lines[j][0].isspace()), i)
                excerpts.append({"after": lines[i - 1][:200] if i else "", "error": lines[end][:300]})
        found[path.name] = {
            "traceback_excerpts": excerpts,
            "tracebacks": text.count("Traceback (most recent call last)"),
            "job crashed": text.count("job crashed"),
            "engine crashed": text.count("engine crashed"),
            "Internal Server Error": text.count("Internal Server Error"),
            "job released": text.count("job released"),
            "database unavailable": text.count("database unavailable"),
        }
    return found


def print_summary(r):
    events = r.get("faults", [])
    by_kind = Counter(e["kind"] for e in events)
    hit = Counter(e["kind"] for e in events if e.get("jobs_hit"))
    recoveries = {}
    outcomes = {}
    for e in events:
        for outcome in (e.get("outcome") or {}).values():
            outcomes.setdefault(e["kind"], Counter())[outcome] += 1
        # Running again (or done): a job that failed did not recover.
        values = [
            v for job, v in (e.get("recovery_s") or {}).items() if v is not None and e["outcome"][job] != "failed"
        ]
        if e["kind"] == "gunicorn" and e.get("replaced_after_s") is not None:
            values = [e["replaced_after_s"]]
        recoveries.setdefault(e["kind"], []).extend(values)
    failed_total = r["final_statuses"].get("failed", 0)
    lost = len(r["lost"]["answered_but_missing"]) + len(r["lost"]["client_gave_up"])
    doubled = sum(len(v) for v in r["doubled"].values())
    orphans = sum(len(v) if isinstance(v, list) else v for v in r["orphans"].values())
    orphans_before = sum(len(v) if isinstance(v, list) else v for v in r["orphans_before_cleanup"].values())
    crash_codes = ("WORKER_LOST", "INTERRUPTED", "ENGINE_CRASHED", "INTERNAL_ERROR", "TIMEOUT")
    failed_by_crash = sum(n for code, n in r["failed_by_code"].items() if code in crash_codes)
    http500 = sum(n for k, n in r["http_totals"].items() if k.isdigit() and k.startswith("5") and k != "503")
    not_json_503 = r["http_totals"].get("503-not-json", 0)
    rows = [
        ("jobs submitted / in database", f"{r['jobs_submitted']} / {r['jobs_in_db']}"),
        (
            "submits retried / answered 200 replayed",
            f"{r['submits_retried']} / {r['submits_answered_by_replay']} (same Idempotency-Key)",
        ),
        ("wall time", f"{r['wall_s']} s (load {r['load_average_before']} -> {r['load_average_after']})"),
        ("faults injected", ", ".join(f"{k} {n} (hit a job: {hit[k]})" for k, n in sorted(by_kind.items()))),
        *[(f"  {k}: jobs hit, then", dict(v)) for k, v in sorted(outcomes.items())],
        ("final states", ", ".join(f"{k} {n}" for k, n in sorted(r["final_statuses"].items()))),
        ("failed because of a crash", f"{failed_by_crash} ({', '.join(crash_codes)})"),
        ("failed, all codes", f"{failed_total} {r['failed_by_code'] or ''}"),
        ("resumed jobs / attempts", f"{r['resumed_jobs']} / {r['attempts']}"),
        ("lost", lost),
        ("stuck", len(r["stuck"])),
        ("doubled", doubled),
        ("orphan files (incl. .partial-*) after cleanup", orphans),
        ("  before cleanup's sweep (deleted by it)", f"{orphans_before} ({r['cleanup_sweep']['deleted']})"),
        ("HTTP status counts", ", ".join(f"{k}: {n}" for k, n in r["http_totals"].items())),
        ("HTTP 500 (any 5xx but 503) / 503 not JSON", f"{http500} / {not_json_503}"),
        ("submit -> completed", r["submit_to_completed_s"]),
        ("clusters that exited by themselves", len(r.get("cluster_exits", []))),
        (
            "queue rows left (jobs all final)",
            f"{len(r['queue_rows_left'])} {dict(Counter(q['job_status'] for q in r['queue_rows_left']))}",
        ),
    ]
    for kind, values in sorted(recoveries.items()):
        label = "worker replaced" if kind == "gunicorn" else "fault -> running again"
        if values:
            figures = f"median {statistics.median(values):.2f} s, max {max(values):.2f} s, n={len(values)}"
            rows.append((f"{kind}: {label}", figures))
    for e in events:
        if e["kind"] == "postgres" and "restart_took_s" in e:
            rows.append(
                (
                    "postgres: restart took / API errors / API back",
                    f"{e['restart_took_s']} s / {e.get('api_during_restart') or 'none'} / "
                    f"{e.get('api_answering_again_s', 'never failed')} s after the restart began",
                )
            )
    width = max(len(a) for a, _ in rows)
    print()
    for a, b in rows:
        print(f"{a:<{width}}  {b}")
    print()
    broken = (
        failed_total or lost or r["stuck"] or doubled or orphans or http500 or not_json_503 or r.get("cluster_exits")
    )
    print("invariants:", "BROKEN" if broken else "all hold")
    return 1 if broken else 0


if __name__ == "__main__":
    main()

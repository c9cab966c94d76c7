"""The JSON API under a real server, against PostgreSQL, with a worker; prints JSON.

    .venv/bin/python bench/api.py [--connections 8] [--duration 10] [--rounds 3] ...
    make bench

Measures as issue 10 did: gunicorn (3 sync workers, DEBUG off) and ``wrk``
(the Debian package; 8 connections, 10 s a measurement, 3 rounds), beside a
bare Django view (``HttpResponse("ok")`` in bench/urls.py, the same settings
and middleware) in the same round. What it does, from nothing to nothing:

1. drops and recreates the database ``ttsjobs_bench`` (``--database``) on
   BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432), migrates it,
   and creates the bench users, each with an API token;
2. starts ``gunicorn ttsjobs.wsgi`` with bench/settings.py (persistent
   database connections) and ``manage.py run_worker`` on that database, and
   waits for /healthz to say both are up;
3. measures pickup (one job at a time on an idle worker, submit to claim,
   from the database), then pauses the worker and, each round, with wrk:
   the bare view; submit (POST /api/v1/jobs, rotating over the round's
   users' tokens); status (GET /api/v1/jobs/<id>, rotating over every bench
   job with its owner's token); the same with If-None-Match (the 304 a
   poller gets). (Not /healthz: it answers 503 once the paused worker's
   heartbeat is a minute old.) For each: req/s, its ratio to the
   round's bare view, p50/p90/p99, and the CPU per request of the server's
   processes, PostgreSQL's backends (from /proc) and wrk;
4. prints one JSON object (and the table on stderr), then stops the server
   and the worker and drops the database, also when something failed, on
   Ctrl-C or on SIGTERM.

The per-user limit (3 active jobs) stays as configured: each round's submits
rotate over ``--submit-users`` users (3,000; each user's three submits close
together, see submit_requests), so a round can accept 9,000 jobs before any
user reaches the limit, and every submit takes the limit's lock and count as
in production. Raising the limit in the bench settings
instead would let one user's active jobs pile up into the thousands, and the
count the limit makes would then measure that, not a real user's submit.

The worker is paused (SIGSTOP) while the API is measured, unless
``--worker-during-api running``: otherwise it would be synthesizing the
bench's jobs on the same two cores as the server.
"""

import argparse
import http.client
import json
import os
import platform
import random
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGETS = {
    "status_ratio_to_bare": 0.35,
    "status_p99_ms": 20,
    "submit_ratio_to_bare": 0.20,
    "submit_p99_ms": 50,
    "pickup_median_s": 0.5,
}

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
    parser.add_argument(
        "--connections", "--clients", type=int, default=8, help="wrk's concurrent connections (default 8)"
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk per measurement (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every measurement (default 3)")
    parser.add_argument(
        "--submit-users",
        type=int,
        default=3000,
        help="users (each with a token) the submits of one round rotate over; the per-user limit of 3 "
        "active jobs allows 3 submits each, so a round can accept up to 3x this many (default 3000)",
    )
    parser.add_argument("--pickups", type=int, default=30, help="jobs for the pickup measurement (default 30)")
    parser.add_argument("--gunicorn-workers", type=int, default=3, help="(default 3, as in issue 10)")
    parser.add_argument("--gunicorn-class", default="sync", choices=["sync", "gthread"], help="(default sync)")
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
    parser.add_argument("--database", default="ttsjobs_bench", help="(scale mode: the prefix of its databases)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs) for a look")
    scale = parser.add_argument_group("scale mode (bench/scale.py)")
    scale.add_argument(
        "--jobs",
        type=int,
        help="measure at 1,000 jobs and at this many (10,000 users, a heavy user with 10 %%, 60 days, "
        "10,000 queued) instead of the plain run; prints a table of both",
    )
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


# --- one-off requests ---------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection, for the requests that are not
    load (start-up checks, pickup). http.client reopens it by itself when
    the server answers ``Connection: close`` (gunicorn's sync workers)."""

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


# --- the load: wrk ----------------------------------------------------------

WRK = shutil.which("wrk") or "/usr/bin/wrk"

# Rotates over a list of requests (each thread starts at its own place and
# steps by the number of threads, so no two threads send the same one) and
# prints its figures as one JSON line. wrk counts a 4xx/5xx answer as a
# "status" error; 2xx and 3xx (the 304 of a poller) are successes.
WRK_LUA = r"""
local items = dofile(os.getenv("WRK_ITEMS"))
local threads, counter = {}, 0
function setup(thread)
  thread:set("first", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  stride = tonumber(args[1])
  position = first
  built = {}
  for k, item in ipairs(items) do
    built[k] = wrk.format(item[1], item[2], item[3], item[4])
  end
end
function request()
  local req = built[(position % #built) + 1]
  position = position + stride
  return req
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, "status": %d, ' ..
    '"timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


def lua_string(text: str) -> str:
    """A Lua long string holding ``text`` exactly (no escapes in it)."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def write_items(path, requests):
    """The Lua file WRK_LUA loads: a list of {method, path, headers, body}."""
    lines = ["return {"]
    for method, url, headers, body in requests:
        header_table = ", ".join(f"[ {lua_string(k)} ] = {lua_string(v)}" for k, v in headers.items())
        body_text = "nil" if body is None else lua_string(body)
        lines.append(f"  {{{lua_string(method)}, {lua_string(url)}, {{{header_table}}}, {body_text}}},")
    lines.append("}")
    Path(path).write_text("\n".join(lines) + "\n")


def run_wrk(port, requests, *, tmp, connections, duration, threads=2):
    """wrk with ``connections`` connections for ``duration`` seconds, sending
    ``requests`` (method, path, headers, body) in turn. Returns its figures:
    requests, req/s, p50/p90/p99/max in ms, errors, and wrk's own CPU."""
    items = Path(tmp) / "wrk-items.lua"
    script = Path(tmp) / "wrk.lua"
    write_items(items, requests)
    script.write_text(WRK_LUA)
    threads = min(threads, connections)
    cmd = [WRK, "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--timeout", "10s",
           "-s", str(script), f"http://127.0.0.1:{port}", "--", str(threads)]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "WRK_ITEMS": str(items)})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if done.returncode or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout[-2000:]} {done.stderr[-2000:]}")
    raw = json.loads(line[len("WRKJSON ") :])
    errors = {k: raw[k] for k in ("connect", "read", "write", "status", "timeout") if raw[k]}
    wrk_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {
        "requests": raw["requests"],
        "errors": errors,
        "req_per_s": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p90_ms": round(raw["p90_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "max_ms": round(raw["max_us"] / 1000, 2),
        "mean_ms": round(raw["mean_us"] / 1000, 2),
        "wrk_cpu_ms_per_request": round(1000 * wrk_cpu / max(raw["requests"], 1), 3),
    }


def check_answer(port, request, expected):
    """One request, by hand, before wrk sends it thousands of times: wrk only
    tells 2xx/3xx from the rest."""
    method, url, headers, body = request
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, url, body=body.encode() if body else None, headers=headers)
        response = conn.getresponse()
        content = response.read()
    finally:
        conn.close()
    if response.status != expected:
        raise RuntimeError(f"{method} {url} answered {response.status}, not {expected}: {content[:300]!r}")
    return response, content


def measure_http(port, requests, *, tmp, connections, duration, server_pgid, database, expected=None):
    """run_wrk plus the CPU per request of the server's processes and of
    PostgreSQL's backends for ``database`` (from /proc)."""
    if expected is not None:
        check_answer(port, requests[0], expected)
    before = cpu_snapshot(server_pgid, database)
    figures = run_wrk(port, requests, tmp=tmp, connections=connections, duration=duration)
    cpu = cpu_ms_per_request(before, cpu_snapshot(server_pgid, database), max(figures["requests"], 1))
    cpu["wrk"] = figures.pop("wrk_cpu_ms_per_request")
    figures["cpu_ms_per_request"] = cpu
    return figures


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def submit_requests(tokens, per_user=3, block=16):
    """Each user's ``per_user`` submits (the limit) close together, as a
    client sends a few jobs: blocks of ``block`` users, each block three
    times over. Any 8 requests in a row are then 8 users (no two wait on
    one user's lock), and a token is recorded as used (one UPDATE a
    minute, ApiToken.touch) on one submit in three, as in the Python-client
    bench before; rotating over all the users instead would write it on
    every submit, which no client does."""
    body = json.dumps(JOB_BODY)
    order = []
    for start in range(0, len(tokens), block):
        order += tokens[start : start + block] * per_user
    return [("POST", "/api/v1/jobs", {**bearer(t), "Content-Type": "application/json"}, body) for t in order]


def status_requests(jobs, etags=None):
    """``jobs``: (job id, token) pairs; with ``etags``, each request sends its
    job's ETag back (If-None-Match), as a poller does."""
    requests = []
    for job_id, token in jobs:
        headers = bearer(token)
        if etags:
            headers["If-None-Match"] = etags[job_id]
        requests.append(("GET", f"/api/v1/jobs/{job_id}", headers, None))
    return requests


def bench_jobs(tokens_by_user):
    """(job id, token) of every job the users of ``tokens_by_user`` (user id
    → token) own, and each job's ETag, from the database."""
    from synthesis.api import job_etag
    from synthesis.models import Job

    jobs, etags = [], {}
    for job in Job.objects.filter(owner_id__in=list(tokens_by_user)).defer("input_params", "lexicon").order_by("?"):
        jobs.append((str(job.pk), tokens_by_user[job.owner_id]))
        etags[str(job.pk)] = job_etag(job)
    return jobs, etags


def ranges(rounds):
    """Per measurement: min and max over the rounds of req/s, ratio, p50, p99."""
    summary = {}
    for name in rounds[0]:
        values = [r[name] for r in rounds]
        summary[name] = {
            key: [min(v[key] for v in values), max(v[key] for v in values)]
            for key in ("req_per_s", "ratio_to_bare", "p50_ms", "p99_ms")
        }
    return summary


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
    """``count`` users named ``<prefix><n>``, each with an API token, in a few
    bulk inserts. Returns their tokens' secrets, in user order."""
    from django.contrib.auth import get_user_model

    from synthesis.models import API_TOKEN_PREFIX, ApiToken, hash_token

    User = get_user_model()
    users = [User(username=f"{prefix}{i:05d}") for i in range(count)]
    for user in users:
        user.set_unusable_password()  # hashing a real password costs ~0.3 s each
    User.objects.bulk_create(users, batch_size=1000)
    created = list(User.objects.filter(username__startswith=prefix).order_by("username"))
    secrets_ = [API_TOKEN_PREFIX + secrets.token_urlsafe(32) for _ in created]
    ApiToken.objects.bulk_create(
        [ApiToken(owner=u, name="bench", prefix=s[:12], key_hash=hash_token(s)) for u, s in zip(created, secrets_)],
        batch_size=1000,
    )
    return secrets_


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


def http_rounds(port, args, *, tmp, server_pgid, database, submitters, extra=None):
    """The HTTP measurements, ``args.rounds`` times: the bare view, submit (a
    round's own ``args.submit_users`` users from ``submitters``, (user id,
    token) pairs), status and status with If-None-Match of every job those
    users own, then ``extra`` (name → (requests, expected status)), each for
    ``args.duration`` s of wrk. Returns a list of rounds, each a dict of
    figures with their ratio to the round's bare view."""
    measure = lambda requests, expected: measure_http(  # noqa: E731
        port, requests, tmp=tmp, connections=args.connections, duration=args.duration,
        server_pgid=server_pgid, database=database, expected=expected,
    )  # fmt: skip
    bare = [("GET", "/bench/bare", {}, None)]
    # Warm every server process up (imports, URLconf, catalogues, database
    # connection, the token path) before anything is timed.
    run_wrk(port, bare, tmp=tmp, connections=args.connections, duration=2)
    run_wrk(port, status_requests([("00000000-0000-0000-0000-000000000000", submitters[0][1])]), tmp=tmp,
            connections=args.connections, duration=2)  # fmt: skip
    rounds = []
    for number in range(args.rounds):
        figures = {"bare view": measure(bare, 200)}
        users = submitters[number * args.submit_users : (number + 1) * args.submit_users]
        figures["submit"] = measure(submit_requests([token for _, token in users]), 201)
        used = dict(submitters[: (number + 1) * args.submit_users])
        jobs, etags = bench_jobs(used)
        figures["status"] = measure(status_requests(jobs), 200)
        figures["status, If-None-Match (304)"] = measure(status_requests(jobs, etags), 304)
        for name, (requests, expected) in (extra or {}).items():
            figures[name] = measure(requests, expected)
        for values in figures.values():
            values["ratio_to_bare"] = round(values["req_per_s"] / figures["bare view"]["req_per_s"], 3)
        figures["status"]["jobs_rotated_over"] = len(jobs)
        rounds.append(figures)
    return rounds


def http_table(rounds):
    """Markdown: one row per measurement, the range over the rounds."""
    lines = ["| what | req/s | ratio to bare | p50 | p99 | CPU ms per request (server + PostgreSQL) |",
             "|---|---|---|---|---|---|"]  # fmt: skip

    def span(values, fmt):
        low, high = min(values), max(values)
        return fmt.format(low) if fmt.format(low) == fmt.format(high) else f"{fmt.format(low)}–{fmt.format(high)}"

    for name in rounds[0]:
        values = [r[name] for r in rounds]
        cpu = [v["cpu_ms_per_request"]["server"] + (v["cpu_ms_per_request"]["postgres"] or 0) for v in values]
        lines.append(
            f"| {name} | {span([v['req_per_s'] for v in values], '{:,.0f}')} "
            f"| {span([v['ratio_to_bare'] for v in values], '{:.2f}')} "
            f"| {span([v['p50_ms'] for v in values], '{:.1f} ms')} "
            f"| {span([v['p99_ms'] for v in values], '{:.1f} ms')} "
            f"| {span(cpu, '{:.2f}')} |"
        )
    return "\n".join(lines)


def targets_met(rounds):
    worst = lambda name, key, pick: pick(r[name][key] for r in rounds)  # noqa: E731
    return {
        "status_ratio": worst("status", "ratio_to_bare", min) >= TARGETS["status_ratio_to_bare"],
        "status_p99": worst("status", "p99_ms", max) <= TARGETS["status_p99_ms"],
        "submit_ratio": worst("submit", "ratio_to_bare", min) >= TARGETS["submit_ratio_to_bare"],
        "submit_p99": worst("submit", "p99_ms", max) <= TARGETS["submit_p99_ms"],
    }


def main():
    args = parse_args()
    base_url = os.getenv("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
    tmp = Path(tempfile.mkdtemp(prefix="ttsjobs-bench-"))
    (tmp / "static").mkdir()  # STATIC_ROOT: whitenoise warns when it is missing
    port = free_port()
    env = {
        # Not the caller's bucket or settings module: audio stays in the temporary folder.
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DJANGO_"))},
        # ttsjobs' settings and middleware, plus the bare view (bench/urls.py).
        "DJANGO_SETTINGS_MODULE": "bench.settings",
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
        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from django.db import connections

        call_command("migrate", verbosity=0, interactive=False)

        tokens = create_users(args.rounds * args.submit_users, "bench")
        user_ids = get_user_model().objects.filter(username__startswith="bench").order_by("username")
        submitters = list(zip(user_ids.values_list("pk", flat=True), tokens))
        pickup_token = create_users(1, "pickup")[0]
        connections.close_all()

        processes["gunicorn"] = start(server_cmd, env, tmp / "gunicorn.log")
        processes["worker"] = start(worker_cmd, env, tmp / "worker.log")
        wait_until_healthy(port, processes)

        pickup = measure_pickup(port, pickup_token, args.pickups)
        if args.worker_during_api == "paused":
            os.killpg(processes["worker"].pid, signal.SIGSTOP)

        rounds = http_rounds(
            port, args, tmp=tmp, server_pgid=processes["gunicorn"].pid, database=args.database,
            submitters=submitters,
        )  # fmt: skip

        # A paused worker stays paused: stop() wakes it only to end it.
        from synthesis.models import Job

        bench_jobs_ = Job.objects.filter(owner__username__startswith="bench")
        worker_during_api = {
            "started": bench_jobs_.exclude(started_at=None).count(),
            "completed": bench_jobs_.filter(status=Job.Status.COMPLETED).count(),
            "submitted": bench_jobs_.count(),
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
                "note": "server, worker, PostgreSQL and wrk share the cores",
            },
            "server": {
                "command": "gunicorn ttsjobs.wsgi " + " ".join(server_cmd[4:]),
                "settings": "bench.settings (ttsjobs.settings + the bare view)",
                "DEBUG": 0,
                "DB_CONN_MAX_AGE": args.conn_max_age,
            },
            "load": {
                "tool": f"wrk -t2 -c{args.connections} -d{args.duration}s, a Lua script rotating over the requests",
                "rounds": args.rounds,
            },
            "worker": {
                "command": "manage.py run_worker",
                "Q_WORKERS": args.q_workers,
                "during_api_phases": args.worker_during_api,
                "bench_jobs": worker_during_api,
            },
            "per_user_limit": (
                f"{os.environ.get('TTS_MAX_ACTIVE_JOBS_PER_USER', 3)} (unchanged): each round's submits rotate "
                f"over {args.submit_users} users, so none reaches it while the round accepts up to "
                f"{3 * args.submit_users} jobs"
            ),
            "rounds": rounds,
            "ranges": ranges(rounds),
            "table": http_table(rounds),
            "pickup": pickup,
            "queries_per_request": queries,
            "targets": {
                **TARGETS,
                "met": {**targets_met(rounds), "pickup_median": pickup["median_s"] < TARGETS["pickup_median_s"]},
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
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result, indent=2))
    print(result["table"], file=sys.stderr)


if __name__ == "__main__":
    main()

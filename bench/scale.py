"""bench/api.py --jobs N: the same measurements at 1,000 jobs and at N, side by side.

For each size, from nothing to nothing: a fresh database ``<database>_<size>``
filled by bench/scale_data.py (10,000 users, one heavy user with 10 % of the
jobs, 60 days of history, 10,000 queued), then

- over HTTP, gunicorn (the same command as bench/api.py, with
  bench/settings.py: the app plus a bare ``HttpResponse("ok")`` view) and
  ``--clients`` concurrent keep-alive clients: the bare view, submit, status,
  and the heavy user's HTML job list (session cookie);
- in this process (Django's test client, DEBUG off, median of --repeat runs
  after one warm-up): the heavy user's API list (first page, offset 10,000, a
  cursor at the same depth), HTML list (first page, page 500) and its polled
  fragment, the admin changelist (plain, filtered, searched, page 100) and
  the user changelist with its job counts,
  cleanup_jobs --dry-run, job_stats and reap_jobs, each with its query count.

No worker runs: the queued tasks are placeholders, and pickup is measured by
the plain bench/api.py.
"""

import json
import os
import signal
import statistics
import sys
import time
from io import StringIO

import scale_data
from api import (
    JOB_BODY,
    ROOT,
    Connection,
    admin_connection,
    create_users,
    drop_database,
    free_port,
    recreate_database,
    run_concurrently,
    start,
    stop,
    summarise,
)


def database_exists(base_url, name):
    with admin_connection(base_url) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def session_cookie(user):
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


def timed(call, repeat):
    """(median ms, queries) of ``call`` after one warm-up run."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    # Each request empties the query log (request_started): start from empty.
    reset_queries()
    with CaptureQueriesContext(connection) as captured:
        result = call()
    queries = len(captured)  # now: the next request empties the log it reads from
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(1000 * (time.perf_counter() - started))
    return round(statistics.median(times), 2), queries, result


def in_process(heavy, staff, heavy_token, repeat):
    from django.core.management import call_command
    from django.test import Client

    from synthesis.models import Job, JobCount

    api = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {heavy_token}")
    site = Client(HTTP_HOST="127.0.0.1")
    site.force_login(heavy)
    admin = Client(HTTP_HOST="127.0.0.1")
    admin.force_login(staff)
    watch = ",".join(str(pk) for pk in Job.objects.for_user(heavy).active().values_list("pk", flat=True))
    # A cursor 10,000 jobs deep (or as deep as the heavy user's jobs go).
    depth = min(10_000, api.get("/api/v1/jobs").json()["total"] - 40)
    cursor = api.get("/api/v1/jobs", {"offset": depth - 20, "limit": 20}).json()["next_cursor"]

    def get(client, url, params=None, **headers):
        def call():
            response = client.get(url, params or {}, **headers)
            assert response.status_code == 200, (url, response.status_code, response.get("Location"))
            return response

        return call

    def command(name, *args):
        def call():
            out = StringIO()
            call_command(name, *args, stdout=out)
            return out.getvalue().strip()

        return call

    changelist = "/admin/synthesis/job/"
    admin_page = min(100, sum(JobCount.objects.by_status().values()) // 50)  # page 100, or the last
    surfaces = {
        "api list, first page (heavy user)": get(api, "/api/v1/jobs"),
        "api list, offset 10,000": get(api, "/api/v1/jobs", {"offset": 10_000}),
        "api list, cursor at 10,000 (or the end)": get(api, "/api/v1/jobs", {"cursor": cursor}),
        "html list /jobs/ (heavy user)": get(site, "/jobs/"),
        "html list, page 500": get(site, "/jobs/", {"page": 500}),
        "polled fragment": get(site, "/jobs/", {"watch": watch}, HTTP_HX_REQUEST="true", HTTP_HX_TRIGGER="job-list"),
        "admin changelist": get(admin, changelist),
        "admin, status + provider filter": get(admin, changelist, {"status__exact": "failed", "provider": "espeak"}),
        "admin, search a title": get(admin, changelist, {"q": "Podcast 4242"}),
        "admin, search a username": get(admin, changelist, {"q": "scale00042"}),
        "admin, page 100 (or the last)": get(admin, changelist, {"p": admin_page}),
        "admin, search the heavy user": get(admin, changelist, {"q": "scale00000"}),
        "admin user changelist": get(admin, "/admin/auth/user/"),
        "cleanup_jobs --dry-run": command("cleanup_jobs", "--dry-run"),
        "job_stats": command("job_stats", "--json"),
        "reap_jobs": command("reap_jobs"),
    }
    results = {}
    for name, call in surfaces.items():
        ms, queries, result = timed(call, repeat)
        results[name] = {"ms": ms, "queries": queries}
        if name == "cleanup_jobs --dry-run":
            results[name]["output"] = result
    return results


def measure_size(args, base_url, size, env, server_cmd):
    name = f"{args.database}_{size}"
    reuse = args.reuse_data and database_exists(base_url, name)
    figures = {"jobs": size}
    gunicorn = None
    try:
        if not reuse:
            recreate_database(base_url, name)
        os.environ.update(env, DATABASE_URL=f"{base_url}/{name}")
        from django.db import connections

        connections.close_all()
        connections["default"].settings_dict["NAME"] = name
        from django.core.management import call_command

        # Also on a reused database: the code may have gained migrations since.
        call_command("migrate", verbosity=0, interactive=False)
        if not reuse:
            import psycopg

            started = time.perf_counter()
            try:
                with psycopg.connect(f"{base_url}/{name}", autocommit=True) as conn:
                    figures["data"] = scale_data.build(conn, size)
            except BaseException:
                # Half a fill must not pass for a filled database next time (--reuse-data).
                connections.close_all()
                drop_database(base_url, name)
                raise
            figures["data"]["built_in_s"] = round(time.perf_counter() - started, 1)
        from django.contrib.auth import get_user_model

        from synthesis.models import ApiToken, Job

        User = get_user_model()
        heavy = User.objects.get(username="scale00000")
        staff, _ = User.objects.get_or_create(username="scale-staff", defaults={"is_staff": True, "is_superuser": True})
        heavy_token = ApiToken.objects.create_token(heavy, "bench")[1]
        clients = args.clients
        per_user = int(os.environ.get("TTS_MAX_ACTIVE_JOBS_PER_USER", 3))
        users_per_client = -(-args.submits // per_user)
        prefix = f"b{int(time.time()) % 100000}x"  # fresh submitters, also on a reused database
        tokens = create_users(clients * users_per_client, prefix)
        cookie = session_cookie(heavy)
        connections.close_all()

        port = free_port()
        cmd = [*server_cmd, "--bind", f"127.0.0.1:{port}"]
        gunicorn = start(cmd, {**env, "DATABASE_URL": f"{base_url}/{name}"}, args.tmp / f"gunicorn-{size}.log")
        deadline = time.monotonic() + 90
        while True:
            try:
                conn = Connection(port)
                status, _ = conn.request("GET", "/bench/bare")
                conn.close()
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or gunicorn.poll() is not None:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.2)

        def html_list(conn, c, i):
            conn.http.request("GET", "/jobs/", headers={"Host": "127.0.0.1", "Cookie": f"sessionid={cookie}"})
            response = conn.http.getresponse()
            return response.status, response.read()

        run_concurrently(port, clients, 20, lambda conn, c, i: conn.request("GET", "/bench/bare"))
        run_concurrently(port, clients, 5, html_list)
        http = {}
        lat, wall, codes, _ = run_concurrently(
            port, clients, args.yardstick, lambda conn, c, i: conn.request("GET", "/bench/bare")
        )
        http["bare view"] = summarise(lat, wall, codes, 200)

        def submit(conn, c, i):
            return conn.request(
                "POST", "/api/v1/jobs", token=tokens[c * users_per_client + i // per_user], body=JOB_BODY
            )

        lat, wall, codes, bodies = run_concurrently(port, clients, args.submits, submit)
        http["submit"] = summarise(lat, wall, codes, 201)
        job_ids = [
            [
                (json.loads(body)["id"], c * users_per_client + i // per_user)
                for i, (s, body) in enumerate(per)
                if s == 201
            ]
            for c, per in enumerate(bodies)
        ]

        def status(conn, c, i):
            job_id, user = job_ids[c][i % len(job_ids[c])]
            return conn.request("GET", f"/api/v1/jobs/{job_id}", token=tokens[user])

        lat, wall, codes, bodies = run_concurrently(port, clients, args.statuses, status)
        http["status"] = summarise(lat, wall, codes, 200)

        # A poller that sends back the ETag it got: the job has not changed,
        # so every answer is a 304 (the worker is not running).
        etags = {}
        for per in job_ids:
            conn = Connection(port)
            for job_id, user in per:
                conn.http.request("GET", f"/api/v1/jobs/{job_id}", headers={
                    "Host": "127.0.0.1", "Authorization": f"Bearer {tokens[user]}"})  # fmt: skip
                response = conn.http.getresponse()
                response.read()
                etags[job_id] = response.headers["ETag"]
            conn.close()

        def conditional_status(conn, c, i):
            job_id, user = job_ids[c][i % len(job_ids[c])]
            headers = {"Host": "127.0.0.1", "Authorization": f"Bearer {tokens[user]}", "If-None-Match": etags[job_id]}
            conn.http.request("GET", f"/api/v1/jobs/{job_id}", headers=headers)
            response = conn.http.getresponse()
            return response.status, response.read()

        lat, wall, codes, _ = run_concurrently(port, clients, args.statuses, conditional_status)
        http["status, If-None-Match (304)"] = summarise(lat, wall, codes, 304)
        lat, wall, codes, _ = run_concurrently(port, clients, args.html_requests, html_list)
        http["html list (heavy user)"] = summarise(lat, wall, codes, 200)
        stop(gunicorn)
        gunicorn = None
        for values in http.values():
            values["ratio_to_bare"] = round(values["req_per_s"] / http["bare view"]["req_per_s"], 3)
        figures["http"] = http
        figures["in_process"] = in_process(heavy, staff, heavy_token, args.repeat)
        Job.objects.filter(owner__username__startswith=prefix).delete()
        connections.close_all()
    finally:
        stop(gunicorn)
        if "django" in sys.modules:
            from django.db import connections

            connections.close_all()
        if not args.reuse_data:
            drop_database(base_url, name)
    return figures


def table(results):
    """Markdown: one row per measurement, one column per size."""
    sizes = [r["jobs"] for r in results]
    lines = ["| what | " + " | ".join(f"{n:,} jobs" for n in sizes) + " |", "|---" * (len(sizes) + 1) + "|"]
    for key in results[0]["http"]:
        cells = []
        for r in results:
            h = r["http"][key]
            ratio = "" if key == "bare view" else f" ({h['ratio_to_bare']:.2f} of bare)"
            cells.append(f"{h['req_per_s']:,.0f} req/s{ratio}, p50 {h['p50_ms']:.1f} ms, p99 {h['p99_ms']:.1f} ms")
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    for key in results[0]["in_process"]:
        cells = [f"{r['in_process'][key]['ms']:.1f} ms, {r['in_process'][key]['queries']} queries" for r in results]
        first = results[0]["in_process"][key]["ms"]
        for i in range(1, len(results)):
            cells[i] += f" (×{results[i]['in_process'][key]['ms'] / first:.1f})"
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(args, base_url, env, server_cmd):
    """Called by bench/api.py's main() when --jobs is given."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load_before = os.getloadavg()
    env = {**env, "DJANGO_SETTINGS_MODULE": "bench.settings"}
    os.environ.update(env)
    os.environ["LOG_LEVEL"] = "WARNING"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    # DEBUG off: pages name their static files through the manifest.
    call_command("collectstatic", interactive=False, verbosity=0)
    results = [measure_size(args, base_url, size, env, server_cmd) for size in sorted({1000, args.jobs})]
    output = {
        "machine": {
            "cores": os.cpu_count(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "note": "server, PostgreSQL and these clients share the cores with whatever else runs",
        },
        "server": " ".join(server_cmd),
        "clients": args.clients,
        "sizes": results,
        "table": table(results),
    }
    print(json.dumps(output, indent=2))
    print(output["table"], file=sys.stderr)

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
  fragment (every row sent, and nothing changed: 204), the admin changelist (plain, filtered, searched, page 100) and
  the user changelist with its job counts,
  cleanup_jobs --dry-run, job_stats and reap_jobs, each with its query count.

No worker runs: the queued tasks are placeholders, and pickup is measured by
the plain bench/api.py.
"""

import json
import os
import re
import signal
import statistics
import sys
import time
from io import StringIO

import scale_data
from api import (
    ROOT,
    Connection,
    admin_connection,
    create_users,
    drop_database,
    free_port,
    http_rounds,
    recreate_database,
    start,
    stop,
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
    # The digests of the rows the list shows, which the browser sends back with each poll.
    shown = re.findall(r'name="shown" value="(\w+)"', site.get("/jobs/", HTTP_HX_REQUEST="true").content.decode())
    # A cursor 10,000 jobs deep (or as deep as the heavy user's jobs go).
    depth = min(10_000, api.get("/api/v1/jobs").json()["total"] - 40)
    cursor = api.get("/api/v1/jobs", {"offset": depth - 20, "limit": 20}).json()["next_cursor"]

    def get(client, url, params=None, status=200, **headers):
        def call():
            response = client.get(url, params or {}, **headers)
            assert response.status_code == status, (url, response.status_code, response.get("Location"))
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
        # Without digests every watched row is sent, as when each has changed.
        "polled fragment": get(site, "/jobs/", {"watch": watch}, HTTP_HX_REQUEST="true", HTTP_HX_TRIGGER="job-list"),
        "polled fragment, nothing changed (204)": get(
            site, "/jobs/", {"watch": watch, "shown": shown}, 204, HTTP_HX_REQUEST="true", HTTP_HX_TRIGGER="job-list"
        ),
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
        prefix = f"b{int(time.time()) % 100000}x"  # fresh submitters, also on a reused database
        tokens = create_users(args.rounds * args.submit_users, prefix)
        ids = User.objects.filter(username__startswith=prefix).order_by("username").values_list("pk", flat=True)
        submitters = list(zip(ids, tokens))
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

        html_list = [("GET", "/jobs/", {"Cookie": f"sessionid={cookie}"}, None)]
        figures["http"] = http_rounds(
            port, args, tmp=args.tmp, server_pgid=gunicorn.pid, database=name, submitters=submitters,
            extra={"html list (heavy user)": (html_list, 200)},
        )  # fmt: skip
        stop(gunicorn)
        gunicorn = None
        # The submitters' jobs go first: the in-process figures are of the
        # filled table, not of what the HTTP rounds added to it.
        Job.objects.filter(owner__username__startswith=prefix).delete()
        User.objects.filter(username__startswith=prefix).delete()
        figures["in_process"] = in_process(heavy, staff, heavy_token, args.repeat)
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
    """Markdown: one row per measurement, one column per size; over HTTP the
    range over the rounds."""
    sizes = [r["jobs"] for r in results]
    lines = ["| what | " + " | ".join(f"{n:,} jobs" for n in sizes) + " |", "|---" * (len(sizes) + 1) + "|"]

    def span(values, fmt):
        low, high = fmt.format(min(values)), fmt.format(max(values))
        return low if low == high else f"{low}–{high}"

    for key in results[0]["http"][0]:
        cells = []
        for r in results:
            h = [round_[key] for round_ in r["http"]]
            ratio = "" if key == "bare view" else f" ({span([x['ratio_to_bare'] for x in h], '{:.2f}')} of bare)"
            cells.append(
                f"{span([x['req_per_s'] for x in h], '{:,.0f}')} req/s{ratio}, "
                f"p50 {span([x['p50_ms'] for x in h], '{:.1f}')} ms, p99 {span([x['p99_ms'] for x in h], '{:.1f}')} ms"
            )
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
        "load": f"wrk -t2 -c{args.connections} -d{args.duration}s, {args.rounds} rounds",
        "sizes": results,
        "table": table(results),
    }
    print(json.dumps(output, indent=2))
    print(output["table"], file=sys.stderr)

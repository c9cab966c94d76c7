"""Where a status, a 304 and a submit spend CPU, in-process; prints a profile.

    .venv/bin/python bench/api_profile.py [--requests 1000] [--profile status|inm|submit|bare]

Calls Django's WSGI handler directly (no server, no client) with the bench
settings (bench/settings.py, DEBUG off) on a fresh PostgreSQL database
``ttsjobs_bench_profile`` (BENCH_PG_URL), dropped at the end. For each kind
of request: the CPU per request of this process and of its PostgreSQL
backend (from /proc), then a cProfile of one kind with the CPU clock
(``time.process_time``: waiting for PostgreSQL is not counted), grouped by
package, and the functions by cumulative time.
"""

import argparse
import collections
import cProfile
import io
import json
import os
import pstats
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import api  # noqa: E402  (bench/api.py: JOB_BODY, create_users, the database helpers)

GROUPS = ("psycopg", "django/db/models/sql", "django/db/models", "django/db/backends", "django/db",
          "django/middleware", "django/contrib", "django/core/handlers", "django/http", "django/urls",
          "django/utils", "django", "corsheaders", "whitenoise", "axes", "django_htmx", "django_q",
          "synthesis", "json", "hashlib", "uuid")  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--profile", default="status", choices=["bare", "status", "inm", "submit"])
    parser.add_argument("--database", default="ttsjobs_bench_profile")
    args = parser.parse_args()
    base_url = os.getenv("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
    tmp = tempfile.mkdtemp(prefix="ttsjobs-profile-")
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "bench.settings", "DATABASE_URL": f"{base_url}/{args.database}", "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "0",
        "DB_CONN_MAX_AGE": "60", "VAR_DIR": tmp, "LOG_LEVEL": "ERROR",
    })  # fmt: skip
    os.makedirs(f"{tmp}/static")
    api.recreate_database(base_url, args.database)
    try:
        run(args)
    finally:
        from django.db import connections

        connections.close_all()
        api.drop_database(base_url, args.database)


def run(args):
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.management import call_command
    from django.db import connection

    from synthesis.api import job_etag
    from synthesis.models import Job

    call_command("migrate", verbosity=0, interactive=False)
    # Enough users that no submit meets the 3-active-jobs limit.
    count = 100 + 3 * args.requests
    tokens = api.create_users(count, "p")
    ids = get_user_model().objects.filter(username__startswith="p").order_by("username").values_list("pk", flat=True)
    token_of = dict(zip(ids, tokens))
    app = WSGIHandler()
    body = json.dumps(api.JOB_BODY).encode()

    def environ(method, path, token=None, data=None, **extra):
        env = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
               "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1", "wsgi.url_scheme": "http",
               "wsgi.input": io.BytesIO(data or b""), "wsgi.errors": sys.stderr, "SERVER_PROTOCOL": "HTTP/1.1",
               "REMOTE_ADDR": "127.0.0.1", **extra}  # fmt: skip
        if token:
            env["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        if data:
            env.update(CONTENT_TYPE="application/json", CONTENT_LENGTH=str(len(data)))
        return env

    def call(env):
        status = []
        result = app(env, lambda s, headers, exc=None: status.append(s))
        b"".join(result)
        result.close()
        return status[0]

    for token in tokens[:100]:  # 100 users with 3 jobs each, to read
        assert call(environ("POST", "/api/v1/jobs", token, body)).startswith("201")
    jobs = [(str(j.pk), token_of[j.owner_id], job_etag(j)) for j in Job.objects.defer("input_params")]
    submitted = [300]  # the next submit's number: users from 100 on, 3 each

    def request(kind, i):
        job_id, token, etag = jobs[i % len(jobs)]
        if kind == "bare":
            return environ("GET", "/bench/bare")
        if kind == "status":
            return environ("GET", f"/api/v1/jobs/{job_id}", token)
        if kind == "inm":
            return environ("GET", f"/api/v1/jobs/{job_id}", token, HTTP_IF_NONE_MATCH=etag)
        submitted[0] += 1
        return environ("POST", "/api/v1/jobs", tokens[submitted[0] // 3], body)

    def postgres_cpu():
        fields = open(f"/proc/{connection.connection.info.backend_pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    n = args.requests
    for kind in ("bare", "status", "inm", "submit"):
        for i in range(20):
            call(request(kind, i))  # warm up
        envs = [request(kind, i) for i in range(n if kind != "submit" else n // 2)]
        pg, cpu = postgres_cpu(), time.process_time()
        statuses = collections.Counter(call(env) for env in envs)
        cpu, pg = time.process_time() - cpu, postgres_cpu() - pg
        print(f"{kind:7s} CPU per request: Python {1000 * cpu / len(envs):.3f} ms, "
              f"PostgreSQL {1000 * pg / len(envs):.3f} ms  {dict(statuses)}")  # fmt: skip

    envs = [request(args.profile, i) for i in range(n if args.profile != "submit" else n // 2)]
    profile = cProfile.Profile(time.process_time)
    profile.enable()
    for env in envs:
        call(env)
    profile.disable()
    stats = pstats.Stats(profile)
    groups = collections.Counter()
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        groups[next((g for g in GROUPS if f"/{g}/" in filename or filename.endswith(f"/{g}.py")), "other")] += tottime
    total = sum(groups.values())
    print(f"\n{args.profile}: {1000 * total / len(envs):.3f} ms per request under the profiler, by package:")
    for group, seconds in groups.most_common():
        print(f"  {group:24s} {100 * seconds / total:5.1f} %")
    stats.sort_stats("cumulative").print_stats(45)


if __name__ == "__main__":
    main()

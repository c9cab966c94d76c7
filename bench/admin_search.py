"""The admin's job changelist, searched, at 1,000 and 1,000,000 jobs: time in
the view, time in SQL and rows shown, so that a search that finds more rows
in the bigger table (and renders them) is not taken for one that reads more.

    .venv/bin/python bench/admin_search.py            # after bench/api.py --jobs 1000000 --reuse-data

Reads the databases bench/api.py --jobs N --reuse-data kept
(``ttsjobs_bench_1000`` and ``ttsjobs_bench_<N>``; BENCH_PG_URL as there),
changes nothing in them but a session row. DEBUG off, bench/settings.py,
the median of --repeat runs after one warm-up.
"""

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TERMS = [
    ("a username (90 jobs at 1M, 1 at 1,000)", {"q": "scale00042"}),
    ("the heavy user's username", {"q": "scale00000"}),
    ("a username prefix (10 users)", {"q": "scale0004"}),
    ("a title's beginning, rare", {"q": "Podcast 4242"}),
    ("a title's beginning, common (over 500)", {"q": "Podcast"}),
    ("a title's beginning, old jobs", {"q": "Podcast 1"}),
    ("an id prefix", {"q": "abcd"}),
    ("no search, page 20", {"p": "20"}),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--database", default="ttsjobs_bench")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    base_url = os.getenv("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
    var = Path(tempfile.mkdtemp(prefix="ttsjobs-admin-search-"))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="0",
        VAR_DIR=str(var),
        LOG_LEVEL="WARNING",
        DATABASE_URL=f"{base_url}/{args.database}_1000",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, connections
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    call_command("collectstatic", interactive=False, verbosity=0)
    results = {}
    for size in (1000, args.jobs):
        connections.close_all()
        connections["default"].settings_dict["NAME"] = f"{args.database}_{size}"
        staff, _ = get_user_model().objects.get_or_create(
            username="scale-staff", defaults={"is_staff": True, "is_superuser": True}
        )
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(staff)
        for name, params in TERMS:
            totals, sql = [], []
            for _ in range(args.repeat + 1):
                with CaptureQueriesContext(connection) as captured:
                    started = time.perf_counter()
                    response = client.get("/admin/synthesis/job/", params)
                    totals.append(1000 * (time.perf_counter() - started))
                assert response.status_code == 200, (name, response.status_code)
                sql.append(1000 * sum(float(q["time"]) for q in captured.captured_queries))
            results.setdefault(name, {})[size] = (
                statistics.median(totals[1:]),
                statistics.median(sql[1:]),
                response.content.count(b'class="action-checkbox"'),
                len(captured.captured_queries),
            )
    print(f"| search | {1000:,} jobs: view, SQL, rows | {args.jobs:,} jobs: view, SQL, rows |")
    print("|---|---|---|")
    for name, sizes in results.items():
        cells = [
            f"{ms:.1f} ms, {sql:.1f} ms, {rows} rows ({queries} queries)" for ms, sql, rows, queries in sizes.values()
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"load average after: {os.getloadavg()}", file=sys.stderr)


if __name__ == "__main__":
    main()

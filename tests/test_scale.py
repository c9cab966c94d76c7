"""What the pages, the API and the admin cost does not grow with the job
table: the same number of queries with N and 3N jobs, and (on PostgreSQL)
every hot query can be answered from an index. bench/api.py --jobs N measures
the time at 1,000,000 jobs; these pin the shape that makes it flat."""

import re
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from synthesis.models import Job, JobCount

pytestmark = pytest.mark.django_db
User = get_user_model()
POLL = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TRIGGER": "job-list"}


def add_jobs(n, alice, others):
    """n jobs: most of them alice's and finished, some of other users
    waiting in the queue; alice keeps one pending and one processing job."""
    now = timezone.now()
    statuses = [Job.Status.COMPLETED, Job.Status.FAILED, Job.Status.CANCELLED]
    Job.objects.bulk_create(
        Job(
            owner=alice if i % 3 else others[i % len(others)],
            status=statuses[i % 3] if i % 3 else Job.Status.PENDING,
            provider="espeak",
            title=f"Dialogue {i}",
            input_params={"turns": [], "voice_assignments": [{"speaker": "A", "voice_id": "en"}]},
            created_at=now - timedelta(minutes=n - i),
            completed_at=now if i % 3 else None,
        )
        for i in range(n)
    )


@pytest.fixture
def active(alice):
    return [
        Job.objects.create(owner=alice, provider="espeak", input_params={"turns": []}),
        Job.objects.create(owner=alice, provider="espeak", input_params={"turns": []}, status=Job.Status.PROCESSING),
    ]


def queries(client, url, params=None, **headers):
    if callable(params):
        params = params(client)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params or {}, **headers)
    assert response.status_code in (200, 204), response.content[:500]
    return len(captured)


def shown_on_the_page(watch):
    def params(client):
        page = client.get(reverse("job_list")).content.decode()
        return {"watch": watch, "shown": re.findall(r'name="shown" value="(\w+)"', page)}

    return params


def test_query_counts_do_not_grow_with_the_table(client, alice, staff, active):
    others = [User.objects.create_user(f"user{i}") for i in range(3)]
    watch = ",".join(str(job.pk) for job in active)
    surfaces = {
        "list page": (alice, reverse("job_list"), {}, {}),
        "list page 2": (alice, reverse("job_list"), {"status": "completed", "page": 2}, {}),
        "polled fragment": (alice, reverse("job_list"), {"watch": watch}, POLL),
        # As the page polls: with the digests of the rows it shows (a 204 while they hold).
        "polled fragment, nothing changed": (alice, reverse("job_list"), shown_on_the_page(watch), POLL),
        "api list": (alice, "/api/v1/jobs", {"limit": 5}, {}),
        "api list, deep offset": (alice, "/api/v1/jobs", {"limit": 5, "offset": 20}, {}),
        "admin changelist": (staff, reverse("admin:synthesis_job_changelist"), {}, {}),
        "admin, filtered and searched": (
            staff,
            reverse("admin:synthesis_job_changelist"),
            {"status__exact": "completed", "provider": "espeak", "q": "Dialogue", "p": 2},
            {},
        ),
        "admin, a username searched": (staff, reverse("admin:synthesis_job_changelist"), {"q": "alice"}, {}),
        "admin, a title searched": (staff, reverse("admin:synthesis_job_changelist"), {"q": "dialogue 1"}, {}),
        "admin user changelist": (staff, reverse("admin:auth_user_changelist"), {}, {}),
    }
    expected = {
        "list page": 4,  # session, user, tab counts, one page of rows (queue places included)
        "list page 2": 4,
        "polled fragment": 3,  # session, user, the watched jobs
        "polled fragment, nothing changed": 3,
        "api list": 4,  # session, user, counts, one page
        "api list, deep offset": 4,
        # session, user, the group filter, the users counted twice (Django's
        # page count and full count: users, not jobs), the page with its job
        # counts as subqueries over synthesis_jobcount
        "admin user changelist": 6,
    }
    counts = []
    for n in (30, 90):
        add_jobs(n, alice, others)
        measured = {}
        for name, (user, url, params, headers) in surfaces.items():
            client.force_login(user)
            measured[name] = queries(client, url, params, **headers)
        counts.append(measured)
    assert counts[0] == counts[1]
    assert {name: counts[0][name] for name in expected} == expected


# --- the plans (PostgreSQL) --------------------------------------------------------


def plan_of(queryset_or_sql, params=()):
    """EXPLAIN with sequential scans priced out: with the few rows a test
    has, the planner rightly prefers to read the whole table, which says
    nothing about a million rows. Switched off, a sequential scan still
    appears when no index can answer the query: that is what is pinned."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        try:
            if isinstance(queryset_or_sql, str):
                cursor.execute("EXPLAIN " + queryset_or_sql, params)
                return "\n".join(row[0] for row in cursor.fetchall())
            return queryset_or_sql.explain()
        finally:
            cursor.execute("SET LOCAL enable_seqscan = on")


def user_admin_counts():
    from synthesis.admin import JobCountsUserAdmin

    return JobCountsUserAdmin.job_count_annotations()


def title_prefix_sql(term):
    """The admin's title search, as synthesis.admin.titles_starting_with runs it."""
    from synthesis.admin import TITLE_PREFIX_SQL

    return (TITLE_PREFIX_SQL, [connection.ops.prep_for_like_query(term) + "%", 1001])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="plans are PostgreSQL's")
def test_hot_queries_use_an_index(alice, active):
    add_jobs(60, alice, [User.objects.create_user("other")])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE synthesis_job")
    mine = Job.objects.for_user(alice)
    last = mine.newest_first()[5]
    hot = {
        "api page at an offset": mine.defer("input_params").page(20, 21),
        "api page after a cursor": mine.after(last.created_at, last.pk).newest_first()[:21],
        "list rows with queue places": mine.filter(status=Job.Status.COMPLETED).page(20, 20).with_queue_position(),
        "polled rows": Job.objects.polled_rows_sql(alice, [j.pk for j in active]),
        "tab counts": JobCount.objects.for_user(alice),
        "admin newest first": Job.objects.order_by("-created_at", "-pk")[:51],
        "admin one user's jobs": Job.objects.filter(owner=alice).order_by("-created_at", "-pk")[:51],
        "admin user counts": User.objects.annotate(**user_admin_counts()).order_by("username")[:100],
        "admin id prefix": Job.objects.filter(pk__gte=uuid.UUID(int=0), pk__lte=uuid.UUID(int=2**100)),
        "cleanup": Job.objects.expired().order_by("completed_at", "pk")[:500],
        "reaper": Job.objects.filter(status=Job.Status.PROCESSING, heartbeat_at__lt=timezone.now()),
        "oldest pending": Job.objects.filter(status=Job.Status.PENDING).order_by("created_at")[:1],
    }
    hot["admin title prefix"] = title_prefix_sql("Dialogue 4")
    for name, queryset in hot.items():
        plan = plan_of(*queryset) if isinstance(queryset, tuple) else plan_of(queryset)
        assert "Seq Scan on synthesis_job" not in plan, f"{name}:\n{plan}"
        assert "Index" in plan, f"{name}:\n{plan}"

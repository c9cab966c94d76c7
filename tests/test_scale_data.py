"""bench/scale_data.py writes jobs with SQL, column by column: when a
migration adds a column it has to follow, or the scale bench fails (or, worse,
measures rows the app would never write). This builds a small data set with
it into the test database and checks it against the app's own view of it."""

import importlib.util
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, Q

from synthesis.models import Job, JobTotal
from tests.test_job_counts import counted, total_truth, totals, truth

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="scale_data writes PostgreSQL's SQL")

JOBS = 2000


def load_scale_data():
    path = Path(__file__).resolve().parent.parent / "bench" / "scale_data.py"
    spec = importlib.util.spec_from_file_location("scale_data", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db(transaction=True)  # its own connection commits; the flush afterwards empties the tables
def test_scale_data_builds_jobs_the_app_reads_and_counts():
    import psycopg

    settings = connection.settings_dict
    with psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"] or None,
        password=settings["PASSWORD"] or None,
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        autocommit=True,
    ) as conn:
        figures = load_scale_data().build(conn, JOBS)

    assert figures["jobs"] == Job.objects.count() == JOBS
    heavy = get_user_model().objects.get(username="scale00000")
    assert figures["heavy_user_jobs"] == Job.objects.filter(owner=heavy).count() == JOBS // 10
    assert figures["pending"] == figures["queued_tasks"] > 0
    # The counters the triggers would have kept (rebuilt after the load), and
    # their totals, match the rows.
    assert counted() == truth()
    assert totals() == total_truth()
    by_status = dict(Job.objects.order_by().values_list("status").annotate(n=Count("pk")))
    assert JobTotal.objects.by_status() == {status: by_status.get(status, 0) for status in Job.Status.values}
    assert total_truth()["completed"][1] > 0  # files and bytes counted too
    # Jobs read back through the ORM as the app writes them: a dialogue, and
    # for a completed one its audio, recorded size and file id.
    for job in Job.objects.filter(Q(status="completed") | Q(status="pending")).order_by("?")[:50]:
        assert job.input_params["turns"] and job.input_params["voice_assignments"]
        assert job.progress_total == len(job.input_params["turns"])
        if job.status == "completed":
            assert job.audio and job.result_metadata["size_bytes"] > 0 and job.audio_file_id

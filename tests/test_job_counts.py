"""JobCount: the per-owner, per-status counts the database keeps with
triggers, whatever changes the job table (ORM saves, bulk updates, deletes,
cascades), compared with a real COUNT after each step; and JobTotal, their
sum per status (in shards), kept from them by triggers too."""

import pytest
from django.db.models import BigIntegerField, Count, Q, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from synthesis.models import Job, JobCount, JobTotal
from tests.factories import make_job

pytestmark = pytest.mark.django_db


def counted():
    """What the triggers kept, without the rows that went back to zero."""
    return {
        (row.owner_id, row.status): (row.jobs, row.files, row.bytes)
        for row in JobCount.objects.all()
        if (row.jobs, row.files, row.bytes) != (0, 0, 0)
    }


def totals():
    """What the total triggers kept, summed over the shards, without zeros."""
    summed = {}
    for row in JobTotal.objects.all():
        jobs, files, size = summed.get(row.status, (0, 0, 0))
        summed[row.status] = (jobs + row.jobs, files + row.files, size + row.bytes)
    return {status: values for status, values in summed.items() if values != (0, 0, 0)}


def total_truth():
    summed = {}
    for (_owner, status), (jobs, files, size) in truth().items():
        old = summed.get(status, (0, 0, 0))
        summed[status] = (old[0] + jobs, old[1] + files, old[2] + size)
    return summed


def truth():
    rows = (
        Job.objects.order_by()
        .values("owner_id", "status")
        .annotate(
            jobs=Count("pk"),
            files=Count("pk", filter=~Q(audio="")),
            bytes=Sum(Cast(KT("result_metadata__size_bytes"), BigIntegerField()), filter=~Q(audio="")),
        )
    )
    return {(r["owner_id"], r["status"]): (r["jobs"], r["files"], int(r["bytes"] or 0)) for r in rows}


def test_counts_follow_every_kind_of_change(alice, bob):
    assert counted() == truth() == {}
    jobs = [make_job(alice, Job.Status.PENDING, ended_days_ago=None) for _ in range(3)]
    make_job(bob, Job.Status.COMPLETED, audio=True)
    make_job(bob, Job.Status.FAILED)
    assert counted() == truth()
    assert counted()[(bob.pk, "completed")] == (1, 1, 1000)
    assert totals() == total_truth() == {"pending": (3, 0, 0), "completed": (1, 1, 1000), "failed": (1, 0, 0)}

    assert jobs[0].cancel()  # a conditional UPDATE
    Job.objects.claim(jobs[1].pk, "w")
    Job.objects.filter(owner=alice, status=Job.Status.PROCESSING).update(progress_done=2)  # not counted: no change
    assert counted() == truth()

    claimed = Job.objects.get(pk=jobs[1].pk)
    assert claimed.complete("audio/x.mp3", {"size_bytes": 4321, "duration_ms": 1})
    assert counted()[(alice.pk, "completed")] == (1, 1, 4321) and counted() == truth()

    Job.objects.bulk_create(Job(owner=alice, provider="espeak", input_params={"turns": []}) for _ in range(5))
    Job.objects.filter(owner=alice, status=Job.Status.PENDING).update(status=Job.Status.CANCELLED)
    assert counted() == truth()
    assert totals() == total_truth()

    jobs[0].refresh_from_db()
    jobs[0].title = "renamed"
    jobs[0].save()  # a full save rewrites every column; nothing counted changes
    Job.objects.filter(owner=alice, status=Job.Status.CANCELLED)[:1].get().delete_with_audio()
    assert counted() == truth()

    bob.delete()  # the cascade deletes bob's jobs and counts, in whatever order
    assert counted() == truth() and not JobCount.objects.filter(owner_id=bob.pk, jobs__gt=0).exists()
    assert totals() == total_truth()


def test_by_status_names_every_status(alice):
    make_job(alice, Job.Status.FAILED)
    assert JobCount.objects.for_user(alice).by_status() == {
        "pending": 0,
        "processing": 0,
        "completed": 0,
        "failed": 1,
        "cancelled": 0,
    }


def test_rebuild_recounts_from_the_jobs(alice, bob):
    make_job(alice, Job.Status.COMPLETED, audio=True)
    make_job(bob, Job.Status.COMPLETED)
    JobCount.objects.update(jobs=99)
    JobTotal.objects.update(files=7)
    JobCount.objects.rebuild()
    assert counted() == truth()
    assert totals() == total_truth()


def test_totals_are_sharded_by_owner(django_user_model):
    """Users whose ids differ by SHARDS share a row; neighbours do not."""
    users = [django_user_model.objects.create_user(f"u{i}") for i in range(JobTotal.SHARDS + 1)]
    for user in users:
        make_job(user, Job.Status.FAILED)
    rows = {row.shard: row.jobs for row in JobTotal.objects.filter(status="failed")}
    assert sum(rows.values()) == len(users)
    assert rows[users[0].pk % JobTotal.SHARDS] == 2
    assert len(rows) == JobTotal.SHARDS
    assert JobTotal.objects.by_status()["failed"] == len(users)


@pytest.mark.django_db(transaction=True)
def test_totals_stay_exact_under_concurrent_moves(django_user_model):
    """Users on the same and on different shards submitting, claiming and
    finishing at once: every transaction commits (no lock-order deadlock
    between the per-user rows and the shared total rows), and the totals are
    the rows' sums."""
    import threading

    from django.db import connection

    from synthesis.validation import clean_job_request
    from tests.conftest import dialogue

    params = clean_job_request(dialogue())[1]
    users = [django_user_model.objects.create_user(f"c{i}") for i in range(2 * JobTotal.SHARDS)]
    barrier = threading.Barrier(len(users))
    errors = []

    def work(user, n):
        try:
            barrier.wait()
            for i in range(4):
                job = Job.objects.submit(user, params, provider="espeak")
                if i % 2:
                    job.cancel()
                    continue
                Job.objects.claim(job.pk, f"w{n}")
                claimed = Job.objects.get(pk=job.pk)
                claimed.complete(f"audio/{job.pk}.mp3", {"size_bytes": 100 + n, "duration_ms": 1})
        except Exception as error:  # a deadlock, a lost update
            errors.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(user, n)) for n, user in enumerate(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert counted() == truth()
    assert totals() == total_truth()
    assert totals()["completed"][0] == totals()["cancelled"][0] == 2 * len(users)

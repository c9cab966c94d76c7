"""Operator figures about the job table, for ``manage.py job_stats``.

Counts by status, stored files and their bytes are maintained counters,
exact: synthesis_jobtotal (at most 16 rows a status: JobTotal), the sum of
the per-user counters in synthesis_jobcount, both kept by database triggers
in the transaction of every job insert, status move and delete. So the
figures cost the same at any number of jobs and of users. The rest reads
index ranges (oldest pending, the last hour). Storage bytes are the jobs'
recorded sizes, not a listing of the bucket.
"""

import statistics
from datetime import timedelta

from django.db.models import Count, Min, Sum
from django.utils import timezone

from synthesis.models import Job, JobTotal


def job_stats(now=None) -> dict:
    now = now or timezone.now()
    counts = JobTotal.objects.by_status()
    stored = JobTotal.objects.aggregate(files=Sum("files"), bytes=Sum("bytes"))

    oldest_pending = Job.objects.filter(status=Job.Status.PENDING).aggregate(t=Min("created_at"))["t"]

    hour_ago = now - timedelta(hours=1)
    recent = Job.objects.finished().filter(completed_at__gte=hour_ago, completed_at__lte=now)
    finished = dict(recent.order_by().values_list("status").annotate(n=Count("pk")))
    # Latency as a user feels it: from submission to audio ready.
    latencies = [
        (completed - created).total_seconds() * 1000
        for created, completed in recent.filter(status=Job.Status.COMPLETED).values_list("created_at", "completed_at")
    ]

    return {
        "generated_at": now.isoformat(),
        "jobs_by_status": counts,
        "jobs_total": sum(counts.values()),
        "oldest_pending_age_seconds": round((now - oldest_pending).total_seconds(), 1) if oldest_pending else None,
        "finished_last_hour": {status: finished.get(status, 0) for status in map(str, Job.FINAL_STATUSES)},
        "median_latency_ms_last_hour": round(statistics.median(latencies)) if latencies else None,
        "counts": "maintained counters (synthesis_jobtotal), exact",
        "storage_files": stored["files"] or 0,
        "storage_bytes": stored["bytes"] or 0,
    }

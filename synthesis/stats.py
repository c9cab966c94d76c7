"""Operator figures about the job table, for ``manage.py job_stats``.

Counts by status, stored files and their bytes are maintained counters
(synthesis_jobcount, kept exact by database triggers on every insert, status
move and delete), summed over their few rows per user: no scan of the job
table. The rest reads index ranges (oldest pending, the last hour). Storage
bytes are the jobs' recorded sizes, not a listing of the bucket.
"""

import statistics
from datetime import timedelta

from django.db.models import Count, Min, Sum
from django.utils import timezone

from synthesis.models import Job, JobCount


def job_stats(now=None) -> dict:
    now = now or timezone.now()
    counts = JobCount.objects.by_status()
    stored = JobCount.objects.aggregate(files=Sum("files"), bytes=Sum("bytes"))

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
        "counts": "maintained counters (synthesis_jobcount), exact",
        "storage_files": stored["files"] or 0,
        "storage_bytes": stored["bytes"] or 0,
    }

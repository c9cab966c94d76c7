"""Operator figures about the job table, for ``manage.py job_stats``.

Every figure is one aggregate query over an indexed column, so it is cheap on
a large table; storage bytes come from each job's recorded size rather than
listing the bucket.
"""

import statistics
from datetime import timedelta

from django.db.models import BigIntegerField, Count, Min, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils import timezone

from synthesis.models import Job


def job_stats(now=None) -> dict:
    now = now or timezone.now()
    by_status = dict(Job.objects.order_by().values_list("status").annotate(n=Count("pk")))
    counts = {status: by_status.get(status, 0) for status in Job.Status.values}

    oldest_pending = Job.objects.filter(status=Job.Status.PENDING).aggregate(t=Min("created_at"))["t"]

    hour_ago = now - timedelta(hours=1)
    recent = Job.objects.finished().filter(completed_at__gte=hour_ago, completed_at__lte=now)
    finished = dict(recent.order_by().values_list("status").annotate(n=Count("pk")))
    # Latency as a user feels it: from submission to audio ready.
    latencies = [
        (completed - created).total_seconds() * 1000
        for created, completed in recent.filter(status=Job.Status.COMPLETED).values_list("created_at", "completed_at")
    ]

    stored = Job.objects.exclude(audio="").aggregate(
        bytes=Sum(Cast(KT("result_metadata__size_bytes"), BigIntegerField())), files=Count("pk")
    )
    return {
        "generated_at": now.isoformat(),
        "jobs_by_status": counts,
        "jobs_total": sum(counts.values()),
        "oldest_pending_age_seconds": round((now - oldest_pending).total_seconds(), 1) if oldest_pending else None,
        "finished_last_hour": {status: finished.get(status, 0) for status in map(str, Job.FINAL_STATUSES)},
        "median_latency_ms_last_hour": round(statistics.median(latencies)) if latencies else None,
        "storage_files": stored["files"],
        "storage_bytes": stored["bytes"] or 0,
    }

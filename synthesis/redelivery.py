"""Hand a task back to the queue when the cluster that pulled it died.

django-q2's ORM broker "pulls" a task by setting its queue row's ``lock`` to
now + ``retry`` (780 s here) and deletes the row when the task is done. A
cluster killed between the pull and the claim (SIGKILL, OOM, a lost host)
leaves the row locked: no cluster, not even the restarted one, sees the task
again for 13 minutes, and its job waits in ``pending`` counting against its
owner's limit while later jobs run in under a second.

A queue row cannot say which cluster pulled it, so the rule is about the job:
a synthesis task pulled more than ``TTS_QUEUE_RELEASE_GRACE_SECONDS`` ago
whose job is still pending is unlocked (its lock set to now) so the next poll
of any cluster delivers it again. A live cluster claims a task within
milliseconds of pulling it when a worker is free; when all its workers are
busy the task waits in its local queue and may be released too, which only
means a second delivery: at-least-once is safe here because the task's first
act is the conditional claim (pending → processing), so exactly one delivery
runs the job and the other returns "not claimed".

Called at worker start-up, by every cluster's guard loop every few seconds
(synthesis.health.HeartbeatBroker), and by the reaper.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Exists
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ

from synthesis.models import Job

log = logging.getLogger("synthesis.jobs")

SYNTHESIS_TASK = "synthesis.tasks.run_synthesis"


def release_stranded_tasks(now=None, grace_seconds: float | None = None) -> int:
    """Unlock the queue rows of pulled synthesis tasks whose job is still
    pending after the grace period. Returns how many were released.

    Cheap at any queue length: only rows locked right now are read (at most a
    few per cluster: its workers plus ``queue_limit``), then one query for
    their jobs.
    """
    now = now or timezone.now()
    grace = settings.TTS_QUEUE_RELEASE_GRACE_SECONDS if grace_seconds is None else grace_seconds
    # A pull sets lock = pull time + RETRY, so "pulled before now - grace"
    # is "lock before now + RETRY - grace"; "lock after now" is "still locked".
    pulled_before = now + timedelta(seconds=Conf.RETRY - grace)
    queue = OrmQ.objects.using(Conf.ORM)
    locked = list(queue.filter(lock__gt=now, lock__lt=pulled_before).only("pk", "payload", "lock"))
    job_of_row = {}
    for row in locked:
        task = row.task
        if task.get("func") == SYNTHESIS_TASK and task.get("args"):
            job_of_row[row.pk] = (row, str(task["args"][0]))
    if not job_of_row:
        return 0
    pending = {
        str(pk)
        for pk in Job.objects.filter(
            pk__in=[job_id for _row, job_id in job_of_row.values()], status=Job.Status.PENDING
        ).values_list("pk", flat=True)
    }
    released = 0
    for row, job_id in job_of_row.values():
        if job_id not in pending:
            continue
        # Conditional on the lock we read (no cluster pulled it again since) and
        # on the job still being pending in the same statement (a claim between
        # the read above and here keeps its row locked).
        still_pending = Job.objects.filter(pk=job_id, status=Job.Status.PENDING)
        if queue.filter(pk=row.pk, lock=row.lock).filter(Exists(still_pending)).update(lock=now):
            released += 1
            pulled_ago = (now - (row.lock - timedelta(seconds=Conf.RETRY))).total_seconds()
            log.info(
                "job redelivered job_id=%s task_id=%s pulled_seconds_ago=%.0f", job_id, row.task.get("id"), pulled_ago
            )
    return released

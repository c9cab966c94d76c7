"""/healthz, and the heartbeat that tells it a worker cluster is alive.

How a cluster reports: django-q2's cluster process saves its status (``Stat``)
every guard cycle (0.5 s) through its broker's ``set_stat``, into Django's
cache. The default cache is per process, so a web process cannot see it, and
a shared database cache would take a write lock twice a second. Instead the
broker below (``Q_CLUSTER["broker_class"]``) is the ORM broker plus one
UPDATE of a ``ClusterHeartbeat`` row at most every HEARTBEAT_EVERY seconds.
/healthz then costs two indexed queries: ``SELECT 1`` and the newest
heartbeat.
"""

import time
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_q.brokers.orm import ORM

from synthesis.models import ClusterHeartbeat, Job
from synthesis.outage import RETRY_AFTER_SECONDS
from synthesis.redelivery import release_stranded_tasks

HEARTBEAT_EVERY = 10  # seconds between two writes of a cluster's heartbeat
HEARTBEAT_MAX_AGE = 60  # /healthz wants a heartbeat at most this old
HEARTBEAT_FORGET_AFTER = 24 * 3600  # rows of clusters gone this long are deleted
RELEASE_EVERY = 2  # seconds between two looks for runs that died (see below)


class HeartbeatBroker(ORM):
    """django-q2's ORM broker that also records this cluster's heartbeat in
    the database and releases tasks that dead clusters pulled (redelivery.py)."""

    _last_beat = 0.0
    _last_release = 0.0

    def set_stat(self, key: str, value: str, timeout: int):
        now = time.monotonic()
        if now - self._last_release >= RELEASE_EVERY:
            # The sentinel runs this every guard cycle; it is also the process
            # that replaces a worker killed mid-job. Looking here every few
            # seconds releases that job (to resume) at once, and any host's
            # job whose heartbeat went stale, instead of once a minute.
            self._last_release = now
            try:
                Job.objects.release_dead_runs(settings.TTS_WORKER_NAME)
            except DatabaseError:
                pass  # the next cycle tries again

        if now - self._last_beat >= HEARTBEAT_EVERY:
            try:
                record_heartbeat(cluster_id=key.rsplit(":", 1)[-1])
                self._last_beat = now
                # Same cadence: tasks a dead cluster pulled and never claimed
                # go back to the queue within seconds, not after `retry`.
                release_stranded_tasks()
            except DatabaseError:
                # The guard loop must not die because the database blinked;
                # the next cycle tries again and /healthz sees the gap.
                pass
        return super().set_stat(key, value, timeout)


def record_heartbeat(cluster_id: str, now=None):
    now = now or timezone.now()
    updated = ClusterHeartbeat.objects.filter(cluster_id=cluster_id).update(seen_at=now)
    if not updated:
        # First beat of this cluster run: clear out rows of clusters long gone
        # (each run has a new cluster id) and add ours.
        ClusterHeartbeat.objects.filter(seen_at__lt=now - timedelta(seconds=HEARTBEAT_FORGET_AFTER)).delete()
        ClusterHeartbeat.objects.update_or_create(
            cluster_id=cluster_id, defaults={"worker_name": settings.TTS_WORKER_NAME, "seen_at": now}
        )


def check_health(now=None) -> tuple[bool, dict]:
    now = now or timezone.now()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        latest = ClusterHeartbeat.objects.order_by("-seen_at").values("worker_name", "seen_at").first()
    except DatabaseError as error:
        return False, {
            "status": "unavailable",
            "reason": f"database: {error.__class__.__name__}",
            "database": "error",
            "worker": None,
        }
    body = {"status": "ok", "reason": None, "database": "ok", "worker": None}
    if latest:
        body["worker"] = {
            "name": latest["worker_name"],
            "last_seen_seconds": round((now - latest["seen_at"]).total_seconds(), 1),
        }
    if latest is None or latest["seen_at"] < now - timedelta(seconds=HEARTBEAT_MAX_AGE):
        body["status"] = "unavailable"
        body["reason"] = f"no worker cluster has reported in the last {HEARTBEAT_MAX_AGE} seconds"
        return False, body
    return True, body


@require_GET
@never_cache
def healthz(request):
    """No login: load balancers and uptime monitors poll it."""
    healthy, body = check_health()
    if body["worker"] and not request.user.is_staff:
        # A host name is for operators, not for anyone who can reach the URL.
        # (Only read when the database answered: request.user may need it.)
        del body["worker"]["name"]
    response = JsonResponse(body, status=200 if healthy else 503)
    if body["database"] == "error":
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response

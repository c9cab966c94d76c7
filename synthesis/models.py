import hashlib
import json
import logging
import os
import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, connections, models, transaction
from django.db.models import Case, F, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _
from django_q.tasks import async_task

from synthesis import i18n, lexicon
from synthesis.audio import Audio
from synthesis.counting import count_or_estimate
from synthesis.pauses import strip_pauses
from synthesis.providers import all_providers
from synthesis.segments import decode_lossless
from synthesis.speakable import speakable
from synthesis.validation import clean_job_request

log = logging.getLogger("synthesis.jobs")


# What each failure code means, for the pages in a language other than the
# worker's English (Job.failure_text).
FAILURE_SUMMARIES = {
    "TIMEOUT": _("The job ran past its time limit and was stopped."),
    "QUEUE_EXPIRED": _("No worker picked this job up in time."),
    "WORKER_LOST": _("The job was interrupted too many times (the worker running it stopped)."),
    "NO_AUDIO": _("A turn has nothing to say once emoji and symbols are left out."),
    "ENGINE_CRASHED": _("The speech engine crashed on a turn."),
    "ENGINE_UNAVAILABLE": _("The speech engine is not available on this server."),
    "PROVIDER_UNAVAILABLE": _("The speech provider is not available on this server."),
    "PROVIDER_AUTH_FAILED": _("The speech provider refused the server's credentials."),
    "PROVIDER_BAD_AUDIO": _("The speech provider sent audio that could not be read."),
    "PROVIDER_RATE_LIMITED": _("The speech provider is limiting requests; try again later."),
    "PROVIDER_REJECTED": _("The speech provider refused the text or the voice."),
    "PROVIDER_TIMEOUT": _("The speech provider did not answer in time."),
    "PROVIDER_UNREACHABLE": _("The speech provider could not be reached."),
    "PROVIDER_ERROR": _("The speech provider reported an error."),
    "SYNTHESIS_FAILED": _("Speech synthesis failed."),
    "VOICE_NOT_FOUND": _("A chosen voice is not available."),
    "INTERNAL_ERROR": _("Synthesis failed unexpectedly; the error has been logged."),
    "MARKED_FAILED": _("Marked failed by staff."),
}


class JobLimitExceeded(Exception):
    def __init__(self, current_jobs: int, max_jobs: int):
        # Raised while a request is served: in that request's language.
        super().__init__(
            gettext("You already have %(current)s active jobs; the limit is %(max)s.")
            % {"current": current_jobs, "max": max_jobs}
        )
        self.current_jobs = current_jobs
        self.max_jobs = max_jobs


class IdempotencyKeyReused(Exception):
    """The Idempotency-Key of an earlier submission, sent with another body."""

    def __init__(self, job):
        super().__init__(
            gettext("This Idempotency-Key was already used for a different request; send a new key for a new job.")
        )
        self.job = job


def audio_upload_to(job, filename):
    # The token makes the name unguessable even to someone who knows the job id.
    ext = filename.rsplit(".", 1)[-1]
    return f"audio/{job.created_at:%Y/%m}/{job.id}-{secrets.token_urlsafe(12)}.{ext}"


def segment_upload_to(segment, filename):
    # One folder per job: a segment is its job's work, never shared.
    ext = filename.rsplit(".", 1)[-1]
    return f"segments/{segment.job_id}/{segment.turn_index:04d}-{secrets.token_urlsafe(6)}.{ext}"


def enqueue_run(job_id) -> str:
    """Put a synthesis task for the job on the queue; call inside the
    transaction that makes the job pending, so the two commit together."""
    return async_task("synthesis.tasks.run_synthesis", str(job_id), task_name=f"synthesize {job_id}", group="synthesis")


class CountUpTo(Subquery):
    """COUNT(*) of a sliced subquery: reads at most its LIMIT rows."""

    template = "(SELECT COUNT(*) FROM (%(subquery)s) AS counted)"
    output_field = models.IntegerField()


class JobQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(owner=user)

    def active(self):
        return self.filter(status__in=Job.ACTIVE_STATUSES)

    def finished(self):
        return self.filter(status__in=Job.FINAL_STATUSES)

    def with_queue_position(self):
        """Annotate ``queue_position`` on pending jobs: 1 + the pending jobs of
        any user created before it (the queue is first come, first served).
        Counting stops past QUEUE_POSITION_CAP jobs ahead, so a page costs the
        same with 10 or 100,000 jobs waiting; a position past the cap reads
        "more than QUEUE_POSITION_CAP ahead" (Job.queue_position_known).
        Job.objects.polled_rows() writes the same count out in SQL."""
        ahead = Job.objects.filter(status=Job.Status.PENDING, created_at__lt=OuterRef("created_at")).order_by()
        return self.annotate(
            queue_position=Case(
                When(status=Job.Status.PENDING, then=CountUpTo(ahead.values("pk")[: Job.QUEUE_POSITION_CAP + 1]) + 1),
                default=None,
                output_field=models.IntegerField(),
            )
        )

    def newest_first(self):
        # The id breaks ties between jobs created in the same microsecond, so
        # pages and cursors never skip or repeat a job.
        return self.order_by("-created_at", "-pk")

    def page(self, offset: int, limit: int):
        """Rows ``offset`` to ``offset + limit`` newest first, as a queryset
        (still open to only()/annotate()). The rows skipped are read from the
        index alone (owner, created_at, id) in a subquery, not fetched from
        the table one by one: offset 10,000 costs about as much as offset 0."""
        ids = self.newest_first().values("pk")[offset : offset + limit]
        return self.filter(pk__in=ids).newest_first()

    def after(self, created_at, pk):
        """The jobs after (older than) the one at (created_at, pk) in
        newest_first() order: a cursor, whatever the depth one index range."""
        # The redundant created_at__lte bounds the index range; the OR alone
        # would be a filter over every row before it.
        return self.filter(created_at__lte=created_at).filter(
            Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk)
        )

    def expired(self, now=None):
        """Jobs past their retention: completed/failed after TTS_RETENTION_DAYS,
        cancelled after TTS_CANCELLED_RETENTION_DAYS (counted from completion)."""
        now = now or timezone.now()
        keep = now - timedelta(days=settings.TTS_RETENTION_DAYS)
        keep_cancelled = now - timedelta(days=settings.TTS_CANCELLED_RETENTION_DAYS)
        return self.filter(
            Q(status__in=[Job.Status.COMPLETED, Job.Status.FAILED], completed_at__lt=keep)
            | Q(status=Job.Status.CANCELLED, completed_at__lt=keep_cancelled)
        )


DRY_RUN_EXACT_UP_TO = 1000


class JobManager(models.Manager.from_queryset(JobQuerySet)):
    def polled_rows(self, user, ids) -> list["Job"]:
        """The job list's poll (every 2 s per open list while a job waits or
        runs): the jobs ``ids`` of ``user`` and every other active job of
        theirs, with Job.ROW_FIELDS, ``assignments`` and ``duration_ms``
        decoded, and ``queue_position`` as with_queue_position() counts it.

        The same rows as ``for_user(user).filter(Q(pk__in=ids) |
        Q(status__in=ACTIVE_STATUSES)).only(*ROW_FIELDS).with_queue_position()``
        with the two JSON keys annotated, written out in SQL (valid on
        PostgreSQL and SQLite ≥ 3.38) and read with a plain cursor: building
        and compiling that query took the ORM about 3 ms a poll, three times
        what PostgreSQL spends on it, and Manager.raw() another 0.25 ms of
        Python. tests/test_views_jobs.py checks that both give the same rows."""
        database = connections[self.db]
        columns = polled_columns()
        with database.cursor() as cursor:
            cursor.execute(*self.polled_rows_sql(user, ids))
            rows = cursor.fetchall()
        width = len(columns.fields)
        jobs = []
        for row in rows:
            job = columns.build(database, row[:width])
            assignments, duration_ms, job.queue_position = row[width:]
            # JSON comes as text from both databases.
            job.assignments = json.loads(assignments) if assignments is not None else None
            job.duration_ms = json.loads(duration_ms) if duration_ms is not None else None
            jobs.append(job)
        return jobs

    def polled_rows_sql(self, user, ids) -> tuple[str, list]:
        """polled_rows' query: polled_columns(), then assignments, duration_ms
        and queue_position."""
        database = connections[self.db]
        columns = polled_columns().sql(database, alias="j")
        table = database.ops.quote_name(self.model._meta.db_table)
        watched = ""
        if ids:
            watched = f"j.id IN ({', '.join(['%s'] * len(ids))}) OR "
        sql = (
            f"SELECT {columns}, j.input_params -> 'voice_assignments' AS assignments, "
            "j.result_metadata -> 'duration_ms' AS duration_ms, "
            "CASE WHEN j.status = %s THEN 1 + (SELECT COUNT(*) FROM ("
            f"SELECT 1 FROM {table} ahead WHERE ahead.status = %s AND ahead.created_at < j.created_at "
            f"LIMIT {Job.QUEUE_POSITION_CAP + 1:d}) counted) END AS queue_position "
            f"FROM {table} j WHERE j.owner_id = %s AND ({watched}j.status IN (%s, %s)) "
            "ORDER BY j.created_at DESC, j.id DESC"
        )
        pk = self.model._meta.pk
        params = [
            Job.Status.PENDING,
            Job.Status.PENDING,
            user.pk,
            *(pk.get_db_prep_value(value, database) for value in ids),
            *Job.ACTIVE_STATUSES,
        ]
        return sql, params

    def submit(
        self,
        user,
        params: dict,
        *,
        provider: str,
        idempotency_key: str = "",
        request_hash: str = "",
        based_on: "Job | None" = None,
        retake_turns: list[int] = (),
    ) -> "Job":
        """Create a pending job for ``user`` and enqueue its task, or raise
        JobLimitExceeded. ``params`` must already be validated.

        With an ``idempotency_key`` (the API's Idempotency-Key header), a key
        this user sent in the last TTS_IDEMPOTENCY_KEY_HOURS returns that job
        instead (``job.replayed`` is True; nothing is created or counted), or
        raises IdempotencyKeyReused when ``request_hash`` differs.

        ``based_on``: the user's own job this one re-renders (its unchanged
        turns are not spoken again); ``retake_turns``: turns to speak anew
        even so ("regenerate this line")."""
        if based_on is not None and based_on.owner_id != user.pk:
            # Segments are never shared across users; callers fetch the
            # source through get_job_for_user, so this is a bug if it fires.
            raise ValueError("A job can only be based on a job of the same user.")
        limit = settings.TTS_MAX_ACTIVE_JOBS_PER_USER
        # What the user's dictionary says now, for this job's words: later
        # edits change neither what the job says it used nor what a resumed
        # run speaks. Read before the lock: matching 1,000 entries against
        # 100,000 characters need not hold up the user's other submits.
        if getattr(user, "has_lexicon_entries", True):
            used_entries = LexiconEntry.objects.for_user(user).snapshot(params, provider)
        else:
            used_entries = []  # none, said the token's query a moment ago (ApiTokenManager.authenticate)
        with transaction.atomic():
            # Lock the user's row so concurrent submits by the same user queue
            # up here: the count below and the insert are then one step.
            # (On SQLite, transaction_mode IMMEDIATE already serialises writers.)
            # The lock also makes a retry racing its original wait for it and
            # then find its job below; the unique constraint is the backstop.
            list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk"))
            if idempotency_key:
                earlier = self._job_for_key(user, idempotency_key)
                if earlier is not None:
                    if earlier.request_hash != request_hash:
                        raise IdempotencyKeyReused(earlier)
                    earlier.replayed = True
                    log.info("job submit replayed job_id=%s owner=%s", earlier.pk, user.pk)
                    return earlier
            current = self.for_user(user).active().count()
            if current >= limit:
                raise JobLimitExceeded(current, limit)
            job = self.model(
                owner=user,
                provider=provider,
                input_params=params,
                title=Job.make_title(params),
                progress_total=len(params["turns"]),
                idempotency_key=idempotency_key,
                request_hash=request_hash if idempotency_key else "",
                based_on=based_on,
                retake_turns=sorted(set(retake_turns)),
                lexicon=used_entries,
            )
            # The ORM broker writes the queue row in this same transaction, so
            # a job is never committed without its task, nor a task without its
            # job, and no worker can see the task before the job row exists.
            # Enqueueing first saves an UPDATE for task_id (this is why
            # django-q2's `sync` mode, which would run the task right here,
            # is not supported).
            job.task_id = enqueue_run(job.pk)
            job.save(force_insert=True)
        log.info("job submitted job_id=%s owner=%s turns=%d provider=%s", job.pk, user.pk, job.progress_total, provider)
        job.replayed = False
        return job

    def _job_for_key(self, user, key: str) -> "Job | None":
        """The job ``user`` submitted with ``key`` while the key lives. An
        expired key is released here (one more UPDATE, only then) so that the
        unique constraint lets the new job take it."""
        earlier = self.for_user(user).filter(idempotency_key=key).exclude(idempotency_key="").first()
        if earlier is None:
            return None
        if earlier.created_at >= timezone.now() - timedelta(hours=settings.TTS_IDEMPOTENCY_KEY_HOURS):
            return earlier
        self.filter(pk=earlier.pk).update(idempotency_key="", request_hash="")
        return None

    def expire_idempotency_keys(self, now=None, *, dry_run: bool = False) -> int:
        """Forget the keys older than TTS_IDEMPOTENCY_KEY_HOURS (cleanup_jobs):
        the jobs stay, a retry with such a key makes a new job."""
        cutoff = (now or timezone.now()) - timedelta(hours=settings.TTS_IDEMPOTENCY_KEY_HOURS)
        expired = self.exclude(idempotency_key="").filter(created_at__lt=cutoff)
        if dry_run:
            return expired.count()
        return expired.update(idempotency_key="", request_hash="")

    def claim(self, job_id, worker_name: str) -> "Job | None":
        """pending → processing. Returns the job, or None when someone else
        got it first (a second delivery, a cancel): at-least-once delivery
        makes this the task's first act.

        django-q2 delivers a task again when the worker that pulled it died.
        If that run's job is still processing with a stale heartbeat (nobody
        released it yet), the redelivery takes it over as the next attempt."""
        now = timezone.now()
        run_token = uuid.uuid4()
        stale = now - timedelta(seconds=settings.TTS_HEARTBEAT_STALE_SECONDS)
        claimable = Q(status=Job.Status.PENDING) | Q(
            status=Job.Status.PROCESSING, heartbeat_at__lt=stale, attempts__lt=settings.TTS_MAX_ATTEMPTS
        )
        claimed = self.filter(claimable, pk=job_id).update(
            status=Job.Status.PROCESSING,
            started_at=now,
            first_started_at=Coalesce("first_started_at", Value(now, output_field=models.DateTimeField())),
            heartbeat_at=now,
            deadline_at=now + timedelta(seconds=settings.TTS_JOB_DEADLINE_SECONDS),
            worker_name=worker_name,
            worker_pid=os.getpid(),
            run_token=run_token,
            attempts=F("attempts") + 1,
            progress_done=0,
        )
        if not claimed:
            return None
        job = self.get(pk=job_id)
        log.info("job claimed job_id=%s worker=%s attempt=%d", job_id, worker_name, job.attempts)
        return job

    def reap(self, now=None) -> dict:
        """Fail processing jobs past their deadline, release (or, with their
        attempts used up, fail) those with a stale heartbeat, and fail pending
        jobs nobody picked up in time."""
        now = now or timezone.now()
        too_old = now - timedelta(seconds=settings.TTS_PENDING_MAX_AGE_SECONDS)
        counts = {}
        counts["timeout"] = self._fail_where(
            Q(status=Job.Status.PROCESSING, deadline_at__lt=now),
            "TIMEOUT",
            "The job ran past its time limit and was stopped.",
            now,
        )
        counts["stale"] = self.release_stale(now)
        counts["pending_expired"] = self._fail_where(
            Q(status=Job.Status.PENDING, created_at__lt=too_old),
            "QUEUE_EXPIRED",
            "No worker picked this job up in time.",
            now,
        )
        return counts

    def release_stale(self, now=None) -> int:
        """Runs whose heartbeat stopped (a lost host, a frozen process): back
        to pending to resume from their segments, or failed once their
        attempts are used up. Returns how many were released or failed."""
        now = now or timezone.now()
        stale = now - timedelta(seconds=settings.TTS_HEARTBEAT_STALE_SECONDS)
        return sum(self._release_where(Q(status=Job.Status.PROCESSING, heartbeat_at__lt=stale), now))

    def release_interrupted(self, worker_name: str, now=None) -> int:
        """Called at worker start-up: anything this worker name was processing
        died with the previous run, and resumes."""
        released, _failed = self._release_where(
            Q(status=Job.Status.PROCESSING, worker_name=worker_name), now or timezone.now()
        )
        return released

    def release_dead_runs(self, worker_name: str, now=None) -> int:
        """Called every few seconds by each cluster: release the runs of this
        host whose process is gone (a worker killed by a signal or the OOM
        killer is replaced by django-q2, but its job would otherwise wait for
        the heartbeat to go stale), and any host's stale runs."""
        now = now or timezone.now()
        mine = self.filter(status=Job.Status.PROCESSING, worker_name=worker_name).values_list("pk", "worker_pid")
        dead = [pk for pk, pid in mine if pid and not _process_exists(pid)]
        handled = 0
        if dead:
            handled += sum(
                self._release_where(Q(status=Job.Status.PROCESSING, worker_name=worker_name, pk__in=dead), now)
            )
        return handled + self.release_stale(now)

    def _release_where(self, condition, now) -> tuple[int, int]:
        """processing → pending with a new task, one job at a time; a job with
        its attempts used up fails with WORKER_LOST instead. Returns how many
        were released and how many failed."""
        released = failed = 0
        for job_id in list(self.filter(condition).values_list("pk", flat=True)):
            # Enqueue, then move the job in the same transaction: if another
            # process released it first, the UPDATE matches nothing and the
            # rollback takes the task back, so a release adds exactly one task.
            with transaction.atomic():
                task_id = enqueue_run(job_id)
                moved = self.filter(condition, pk=job_id, attempts__lt=settings.TTS_MAX_ATTEMPTS).update(
                    status=Job.Status.PENDING, task_id=task_id, **Job.RUN_RESET
                )
                if not moved:
                    transaction.set_rollback(True)
            if moved:
                released += 1
                log.info("job released job_id=%s reason=interrupted", job_id)
            else:
                failed += self._fail_where(
                    condition & Q(pk=job_id, attempts__gte=settings.TTS_MAX_ATTEMPTS),
                    "WORKER_LOST",
                    f"The job was interrupted {settings.TTS_MAX_ATTEMPTS} times (the worker running it stopped).",
                    now,
                )
        return released, failed

    def delete_expired(self, now=None, *, batch_size: int = 500, dry_run: bool = False) -> dict:
        """Delete jobs past retention with their audio, in batches so no lock
        is held for long. A missing file is fine; a storage error keeps the
        row for the next run."""
        expired = self.expired(now).order_by("completed_at", "pk")
        if dry_run:
            # Exact up to DRY_RUN_EXACT_UP_TO; a backlog past that is the
            # planner's estimate, not a count of every expired row.
            would_delete, exact = count_or_estimate(expired, DRY_RUN_EXACT_UP_TO)
            return {"deleted": 0, "would_delete": would_delete, "exact": exact, "errors": 0, "stopped_early": False}
        deleted, errors, stopped_early = 0, 0, False
        after = None
        while True:
            # Keyset pagination over (completed_at, pk): rows kept after a
            # storage error are stepped over without an ever-growing exclude
            # list. Each row's delete is its own short transaction.
            batch = expired
            if after is not None:
                batch = batch.filter(Q(completed_at__gt=after[0]) | Q(completed_at=after[0], pk__gt=after[1]))
            jobs = list(batch.only("pk", "audio", "completed_at")[:batch_size])
            if not jobs:
                break
            # Taken now: delete() sets the instance's pk to None.
            after = (jobs[-1].completed_at, jobs[-1].pk)
            batch_deleted = 0
            for job in jobs:
                try:
                    job.delete_with_audio()
                    batch_deleted += 1
                except Exception:
                    errors += 1
                    log.exception("cleanup could not delete audio job_id=%s", job.pk)
            deleted += batch_deleted
            if batch_deleted == 0 and errors:
                # A whole batch failed: the storage is most likely down. Stop
                # rather than log one error per expired row; the next run retries.
                stopped_early = True
                break
        log.info("cleanup finished deleted=%d errors=%d stopped_early=%s", deleted, errors, stopped_early)
        return {"deleted": deleted, "errors": errors, "stopped_early": stopped_early}

    # Jobs failed per statement by the reaper (_fail_where).
    REAP_BATCH = 500

    def _fail_where(self, condition, code, message, now) -> int:
        """Fail the jobs matching ``condition``, REAP_BATCH at a time: a
        batch's rows are locked (rows another transaction holds, a worker
        finishing one, are skipped: the next run sees them), failed in one
        UPDATE and their segments read in one query. A backlog (the pending
        jobs of a day without workers) costs a few queries per 500 jobs, not
        two per job. Returns how many were failed."""
        failed = 0
        while True:
            with transaction.atomic():
                # FOR UPDATE re-checks the condition on the row it locks (the
                # job may have completed since the snapshot), so the UPDATE
                # moves exactly these rows. (SQLite: the IMMEDIATE transaction
                # holds the database's write lock instead.)
                ids = list(
                    self.filter(condition)
                    .order_by()
                    .select_for_update(skip_locked=True)
                    .values_list("pk", flat=True)[: self.REAP_BATCH]
                )
                if ids:
                    failed += self.filter(condition, pk__in=ids).update(
                        status=Job.Status.FAILED, error_code=code, error_message=message, completed_at=now
                    )
            for job_id in ids:
                log.info("job reaped job_id=%s code=%s", job_id, code)
            discard_segments_of(ids)
            if len(ids) < self.REAP_BATCH:
                return failed


def discard_segments_of(job_ids) -> None:
    """Job.discard_segments for many jobs that ended without audio, their
    segments read in one query: a file that cannot be deleted is logged and
    keeps its row (cleanup deletes it with the job)."""
    if not job_ids:
        return
    deleted = []
    for segment in Segment.objects.filter(job_id__in=list(job_ids)).order_by():
        try:
            if segment.file:
                segment.file.storage.delete(segment.file.name)
            deleted.append(segment.pk)
        except Exception:
            log.exception("could not delete segments job_id=%s", segment.job_id)
    if deleted:
        Segment.objects.filter(pk__in=deleted).delete()


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


class Job(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        PROCESSING = "processing", _("Processing")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    ACTIVE_STATUSES = (Status.PENDING, Status.PROCESSING)
    FINAL_STATUSES = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)
    # Beyond this many jobs ahead a waiting job's place is not counted (see
    # with_queue_position): "more than 100 ahead" is all anyone needs, and
    # each waiting row on a page (polled every 2 s) reads up to this many
    # index entries.
    QUEUE_POSITION_CAP = 100
    # What a row of the job list shows, and nothing more: input_params can
    # hold 100,000 characters of dialogue, so only its voice assignments are
    # read (as the annotation ``assignments``), and of result_metadata only
    # ``duration_ms``.
    ROW_FIELDS = (
        "id", "title", "status", "provider", "progress_done", "progress_total", "created_at",
        "started_at", "completed_at", "error_code", "error_message",
    )  # fmt: skip
    # What a release (processing → pending) clears: the next claim sets it anew.
    RUN_RESET = {"run_token": None, "worker_pid": None, "heartbeat_at": None, "deadline_at": None, "started_at": None}

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs")
    job_type = models.CharField(max_length=32, default="multi_role_tts")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    provider = models.CharField(max_length=32)
    title = models.CharField(max_length=120, blank=True)
    input_params = models.JSONField()

    audio = models.FileField(upload_to=audio_upload_to, blank=True, max_length=255)
    # The original contract's `audio_file_id`: the id of the completed job's
    # audio file, set with it (a new one if the audio were ever replaced).
    audio_file_id = models.UUIDField(null=True, blank=True, editable=False)
    result_metadata = models.JSONField(default=dict, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    error_message = models.TextField(blank=True)
    retry_count = models.PositiveIntegerField(default=0)
    # Runs started (each claim counts one). A run that died is resumed while
    # this is under TTS_MAX_ATTEMPTS; a graceful stop gives its attempt back.
    attempts = models.PositiveIntegerField(default=0)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)

    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    # The first claim's time, kept when a run is released and resumed (which
    # clears started_at): latency_ms counts from here, over every run.
    first_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    completed_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)

    # Proof of ownership of a run: set by the claim, required by every later
    # move, so a worker whose job was reaped cannot complete it afterwards.
    worker_name = models.CharField(max_length=255, blank=True)
    # The process running the job on that host: its cluster releases the job
    # as soon as this process is gone, without waiting for the heartbeat.
    worker_pid = models.PositiveIntegerField(null=True, blank=True, editable=False)
    run_token = models.UUIDField(null=True, blank=True, editable=False)
    task_id = models.CharField(max_length=64, blank=True)

    # The API client's Idempotency-Key and a hash of the request body it came
    # with: a retry of the same request returns this job (see submit()).
    idempotency_key = models.CharField(max_length=255, blank=True, default="", editable=False)
    request_hash = models.CharField(max_length=64, blank=True, default="", editable=False)
    # Edit and re-render: the job this one is a new version of (always the
    # same owner's). Its run reuses that job's kept segments for every turn
    # whose sound would not change, except the turns in ``retake_turns``.
    based_on = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="versions", editable=False
    )
    retake_turns = models.JSONField(default=list, blank=True, editable=False)
    # The user's pronunciation dictionary entries that occur in this job's
    # text, as they were at submission ({written, spoken, kind,
    # case_sensitive, applied}): what the runs apply, whatever the dictionary
    # says later. ``applied`` is false for phonemes this provider cannot take.
    lexicon = models.JSONField(default=list, blank=True, editable=False)

    objects = JobManager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The id ends each list index: pages are ordered (created_at, id),
            # so a deep page's ids come from the index alone (see page_ids())
            # and a cursor resumes exactly where the last page ended.
            models.Index(fields=["owner", "-created_at", "-id"], name="job_owner_recent"),
            models.Index(fields=["owner", "status", "-created_at", "-id"], name="job_owner_status"),
            # The admin's newest-first list of everyone's jobs.
            models.Index(fields=["-created_at", "-id"], name="job_recent"),
            models.Index(fields=["status", "deadline_at"], name="job_status_deadline"),
            models.Index(fields=["status", "heartbeat_at"], name="job_status_heartbeat"),
            models.Index(fields=["status", "created_at"], name="job_status_created"),
            models.Index(fields=["status", "completed_at"], name="job_status_completed"),
            # Partial: only jobs submitted with a key pay for these.
            models.Index(fields=["created_at"], condition=~Q(idempotency_key=""), name="job_idempotency_created"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"], condition=~Q(idempotency_key=""), name="job_owner_idempotency_key"
            ),
        ]

    def __str__(self):
        return f"{self.title or self.pk} ({self.status})"

    @staticmethod
    def make_title(params: dict, words: int = 8) -> str:
        # Pause markers are not words of the dialogue.
        text = " ".join(strip_pauses(turn["text"]) for turn in params["turns"][:3])
        parts = text.split()
        title = " ".join(parts[:words])
        return (title + " …" if len(parts) > words else title)[:120]

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def queue_position_known(self) -> bool:
        position = getattr(self, "queue_position", None)
        # Counted up to QUEUE_POSITION_CAP + 1 ahead: that one more says "more than".
        return position is not None and position <= self.QUEUE_POSITION_CAP + 1

    @property
    def can_cancel(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def failure_text(self) -> str:
        """Why the job failed, in the page's language. The stored message is
        written by the worker, in English, with the particulars (which turn,
        what the provider said); in another language the pages show what its
        code means instead, and the stored message beneath (failure_detail)."""
        summary = FAILURE_SUMMARIES.get(self.error_code)
        if summary is None or (get_language() or "en").startswith("en"):
            return self.error_message or str(summary or "")
        return str(summary)

    @property
    def failure_detail(self) -> str:
        """The worker's own message, when failure_text is a translated summary."""
        text = self.failure_text
        return self.error_message if self.error_message and self.error_message != text else ""

    @property
    def was_resumed(self) -> bool:
        """A run of this job was interrupted and a later one went on from its kept turns."""
        return self.attempts > 1

    @property
    def can_resubmit(self) -> bool:
        return self.status in (self.Status.FAILED, self.Status.CANCELLED)

    @property
    def speakers(self) -> list[str]:
        seen = []
        for turn in self.input_params.get("turns", []):
            if turn["speaker"] not in seen:
                seen.append(turn["speaker"])
        return seen

    @property
    def voice_for_speaker(self) -> dict:
        return {a["speaker"]: a for a in self.input_params.get("voice_assignments", [])}

    @property
    def output_format(self) -> str:
        return self.input_params.get("output_format", "mp3")

    @property
    def turn_timings(self) -> list[dict]:
        """Where each turn is in the audio: ``[{turn_index, speaker, start_ms,
        end_ms}]`` as the original contract names them. Results written before
        migration 0004 (or by a worker still running older code during a
        deploy) said ``turns: [{index, …}]``; both read the same."""
        meta = self.result_metadata or {}
        if "turn_timings" in meta:
            return meta["turn_timings"] or []
        return [
            {"turn_index": t.get("index"), **{k: v for k, v in t.items() if k != "index"}}
            for t in meta.get("turns") or []
        ]

    @property
    def elapsed_ms(self) -> int | None:
        if self.started_at and self.completed_at:
            return int((self.completed_at - self.started_at).total_seconds() * 1000)
        return None

    @property
    def seconds_left(self) -> float | None:
        """Estimate for a processing job from the pace of the turns done so
        far; None until the first turn is done."""
        if self.status != self.Status.PROCESSING or not self.started_at or not self.progress_done:
            return None
        per_turn = (timezone.now() - self.started_at).total_seconds() / self.progress_done
        return max(0.0, per_turn * (self.progress_total - self.progress_done))

    @property
    def expires_at(self):
        if not self.completed_at:
            return None
        days = (
            settings.TTS_CANCELLED_RETENTION_DAYS
            if self.status == self.Status.CANCELLED
            else settings.TTS_RETENTION_DAYS
        )
        return self.completed_at + timedelta(days=days)

    # --- state moves: each one conditional UPDATE ---------------------------

    def _move(self, from_status, *, by_run=None, **fields) -> bool:
        """One conditional UPDATE; ``by_run`` (a run token) also requires
        that this run still owns the job."""
        qs = Job.objects.filter(pk=self.pk, status=from_status)
        if by_run is not None:
            qs = qs.filter(run_token=by_run)
        moved = qs.update(**fields) == 1
        if moved:
            for name, value in fields.items():
                if not hasattr(value, "resolve_expression"):
                    setattr(self, name, value)
        return moved

    def cancel(self) -> bool:
        """pending or processing → cancelled, and its kept segments deleted.
        False when the job already ended. A running worker notices at its next
        heartbeat (every TTS_HEARTBEAT_INTERVAL_SECONDS), stops, and removes
        its partial output; a segment it stores after this UPDATE is refused
        by the run-token check and deleted by the worker itself."""
        now = timezone.now()
        messages = {
            self.Status.PENDING: "Cancelled before it started.",
            self.Status.PROCESSING: "Cancelled while it was running.",
        }
        moved = False
        for from_status, message in messages.items():
            moved = self._move(
                from_status,
                status=self.Status.CANCELLED,
                completed_at=now,
                error_code="CANCELLED",
                error_message=message,
            )
            if moved:
                log.info("job cancelled job_id=%s was=%s", self.pk, from_status)
                break
        if not moved:
            self.refresh_from_db(fields=["status"])
            return False
        self.discard_segments()
        return True

    def record_progress(self, done: int) -> bool:
        """Progress and heartbeat. False when the run lost ownership of the
        job (reaped, released or cancelled), so the worker should stop."""
        now = timezone.now()
        return self._move(self.Status.PROCESSING, by_run=self.run_token, progress_done=done, heartbeat_at=now)

    def beat(self) -> bool:
        """Heartbeat only, from the run's heartbeat thread."""
        return bool(
            Job.objects.filter(pk=self.pk, status=self.Status.PROCESSING, run_token=self.run_token).update(
                heartbeat_at=timezone.now()
            )
        )

    def keep_segment(
        self,
        turn_index: int,
        key: str,
        data: bytes,
        ext: str,
        *,
        frames: int,
        sample_rate: int,
        done: int,
        sentences: list | None = None,
    ):
        """Store one synthesized turn and record it, with the progress, if
        this run still owns the job. Returns the Segment, or None when the
        run lost the job (its file is then deleted again)."""
        segment = Segment(
            job=self,
            turn_index=turn_index,
            content_key=key,
            frames=frames,
            sample_rate=sample_rate,
            sentences=sentences or [],
        )
        # The file first: a row never points at a file that isn't there.
        segment.file.save(f"turn.{ext}", ContentFile(data), save=False)
        try:
            with transaction.atomic():
                # The UPDATE holds the job's row until commit, so a cancel
                # waits for this segment and then sees (and deletes) it.
                if not self.record_progress(done):
                    transaction.set_rollback(True)
                    owned = False
                else:
                    # A stale row for this turn (another key) was deleted
                    # before synthesis; a zombie run's row cannot get here.
                    segment.save(force_insert=True)
                    owned = True
        except BaseException:
            segment.file.storage.delete(segment.file.name)
            raise
        if not owned:
            segment.file.storage.delete(segment.file.name)
            return None
        return segment

    def delete_segments(self, segments=None):
        """Delete the job's kept segments (or those given), files first: a
        storage error leaves the row, so a later delete retries."""
        for segment in list(segments if segments is not None else Segment.objects.filter(job_id=self.pk)):
            if segment.file:
                segment.file.storage.delete(segment.file.name)
            segment.delete()

    def delete_segment_leftovers(self) -> int:
        """Delete the files in this job's segment folder that no row records:
        a run killed between storing a turn and recording it left one (or,
        killed during the save, a ``.partial-*`` file). Called by a resumed
        run, which owns the job now: an earlier run can no longer record a
        segment (its token is refused, and it deletes its own file). Returns
        how many were deleted."""
        storage = Segment._meta.get_field("file").storage
        folder = f"segments/{self.pk}"
        try:
            _directories, files = storage.listdir(folder)
        except FileNotFoundError:
            return 0
        recorded = set(Segment.objects.filter(job_id=self.pk).values_list("file", flat=True))
        leftovers = [f"{folder}/{name}" for name in files if f"{folder}/{name}" not in recorded]
        for name in leftovers:
            storage.delete(name)
        return len(leftovers)

    def discard_segments(self):
        """delete_segments for a job that ended without audio: a storage
        error is logged, not raised (the move stands; cleanup deletes what is
        left with the job)."""
        try:
            self.delete_segments()
        except Exception:
            log.exception("could not delete segments job_id=%s", self.pk)

    def release(self, reason: str, *, counts: bool = False) -> bool:
        """processing → pending with a new task, by the run itself (a graceful
        stop, a lost database connection). Its segments stay, so the next run
        resumes. Unless ``counts``, the run gives its attempt back: stopping
        cleanly for a deploy is not a failure of the job."""
        fields = {"status": self.Status.PENDING, **self.RUN_RESET}
        if not counts:
            fields["attempts"] = F("attempts") - 1
        with transaction.atomic():
            task_id = enqueue_run(self.pk)
            moved = self._move(self.Status.PROCESSING, by_run=self.run_token, task_id=task_id, **fields)
            if not moved:
                transaction.set_rollback(True)
        if moved:
            log.info("job released job_id=%s reason=%s", self.pk, reason)
        return moved

    def record_retry(self) -> bool:
        moved = Job.objects.filter(pk=self.pk, status=self.Status.PROCESSING, run_token=self.run_token).update(
            retry_count=F("retry_count") + 1, heartbeat_at=timezone.now()
        )
        if moved:
            self.retry_count += 1
        return bool(moved)

    def complete(self, audio_name: str, metadata: dict) -> bool:
        moved = self._move(
            self.Status.PROCESSING,
            by_run=self.run_token,
            status=self.Status.COMPLETED,
            audio=audio_name,
            audio_file_id=uuid.uuid4(),
            result_metadata=metadata,
            progress_done=self.progress_total,
            completed_at=timezone.now(),
            heartbeat_at=timezone.now(),
        )
        if moved:
            log.info(
                "job completed job_id=%s duration_ms=%s latency_ms=%s",
                self.pk,
                metadata.get("duration_ms"),
                metadata.get("latency_ms"),
            )
        return moved

    def fail(self, code: str, message: str) -> bool:
        moved = self._move(
            self.Status.PROCESSING,
            by_run=self.run_token,
            status=self.Status.FAILED,
            error_code=code,
            error_message=message,
            completed_at=timezone.now(),
        )
        if moved:
            log.info("job failed job_id=%s code=%s", self.pk, code)
            self.discard_segments()
        return moved

    def mark_failed_by_staff(self, message: str = "Marked failed by staff.") -> bool:
        moved = self._move(
            self.Status.PROCESSING,
            status=self.Status.FAILED,
            error_code="MARKED_FAILED",
            error_message=message,
            completed_at=timezone.now(),
        )
        if moved:
            log.info("job failed job_id=%s code=MARKED_FAILED", self.pk)
            self.discard_segments()
        return moved

    def resubmit(self) -> "Job":
        """A new pending job with the same input, counted against the limit.

        The input is checked again exactly like a new submission (raising
        JobRequestInvalid): since this job was made, the limits may have been
        lowered, or its provider or a voice removed, and the worker must never
        see input that would be refused today."""
        provider, params = clean_job_request({**self.input_params, "provider": self.provider})
        return Job.objects.submit(self.owner, params, provider=provider)

    @property
    def can_rerender(self) -> bool:
        """Edit and re-render, regenerate a line: from a completed job, whose
        turns are all kept as segments for the new version to reuse."""
        return self.status == self.Status.COMPLETED

    def retake(self, turns: list[int]) -> "Job":
        """A new version of this job with the same input in which the turns
        at these positions are spoken again ("regenerate this line") and every
        other one is reused. Validated again and counted against the limit
        like any new job (JobRequestInvalid, JobLimitExceeded)."""
        provider, params = clean_job_request({**self.input_params, "provider": self.provider})
        return Job.objects.submit(self.owner, params, provider=provider, based_on=self, retake_turns=turns)

    def delete_with_audio(self):
        """Delete the row, its stored file and its segments' files. A storage
        error propagates and the row stays, so the next cleanup retries."""
        self.delete_segments()
        if self.audio:
            self.audio.storage.delete(self.audio.name)
        self.delete()


class Segment(models.Model):
    """One synthesized turn of a job, kept in storage (lossless) as soon as it
    exists: a run synthesizes only the turns without one, so a run that died
    resumes where it stopped. Owned through its job, never shared."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="segments")
    turn_index = models.PositiveIntegerField(help_text=_("Position of the turn in the job's dialogue, from 0."))
    content_key = models.CharField(max_length=64, help_text=_("Hash of what shapes the sound (synthesis.segments)."))
    file = models.FileField(upload_to=segment_upload_to, max_length=255)
    frames = models.PositiveBigIntegerField()
    sample_rate = models.PositiveIntegerField()
    sentences = models.JSONField(
        default=list,
        blank=True,
        help_text=_(
            "Where each sentence the engine spoke starts and ends, in ms from the segment's first sample "
            "(synthesis.sentences); empty for segments kept before sentences were timed."
        ),
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["job", "turn_index"]
        constraints = [models.UniqueConstraint(fields=["job", "turn_index"], name="segment_one_per_turn")]

    def __str__(self):
        return f"turn {self.turn_index} of {self.job_id}"

    @property
    def duration_ms(self) -> float:
        return 1000.0 * self.frames / self.sample_rate

    def load(self) -> Audio:
        """The turn's Audio, read back from storage sample for sample."""
        with self.file.open("rb") as f:
            return decode_lossless(f.read())


class Waveform(models.Model):
    """The loudest sample of every block (``waveform.BLOCK`` samples, in
    whole percent) of a completed MP3 job's mix: what its waveform's levels
    are cut from. A new version that reuses the job's MP3 frames
    (synthesis.splice) takes the levels of the blocks it reuses from here
    instead of mixing those turns again. About 46 KB for 20 minutes; kept
    out of ``result_metadata``, which the API returns."""

    job = models.OneToOneField(Job, on_delete=models.CASCADE, primary_key=True, related_name="waveform")
    block = models.PositiveIntegerField(help_text=_("Samples per level."))
    levels = models.BinaryField(help_text=_("One byte per block: its loudest sample in percent of full scale."))

    def __str__(self):
        return f"waveform of {self.job_id}"


# --- maintained counts ----------------------------------------------------------


class JobCountQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(owner=user)

    def by_status(self) -> dict:
        """{status: jobs} summed over the rows of this queryset, every status
        present (0 when none). One query over at most five rows per owner."""
        counts = dict(self.order_by().values_list("status").annotate(n=models.Sum("jobs")))
        return {status: counts.get(status) or 0 for status in Job.Status.values}


class JobCountManager(models.Manager.from_queryset(JobCountQuerySet)):
    def rebuild(self) -> int:
        """Recount everything from synthesis_job (after a bulk load with the
        triggers disabled, or if a restore left the two out of step). Takes a
        full scan of the job table: an operator's tool, not a request's."""
        with transaction.atomic():
            self.all().delete()
            with connection.cursor() as cursor:
                cursor.execute(JOB_COUNT_REBUILD_SQL[connection.vendor])
                # The totals follow the rows above by trigger; summed anew
                # too, in case they were what was out of step.
                JobTotal.objects.all().delete()
                cursor.execute(JOB_TOTAL_REBUILD_SQL)
            return self.count()


class JobCount(models.Model):
    """How many jobs each owner has in each status, and how many stored audio
    files of how many bytes, kept by database triggers on synthesis_job (see
    migration 0005): every insert, delete and status move adjusts the two rows
    concerned in the same transaction, however it is made (the ORM, a bulk
    update, the admin, psql). Tab counts, the API's ``total`` and job_stats
    read these few rows instead of counting up to 100,000 jobs per request.

    No foreign-key constraint: when a user is deleted, their jobs' delete
    triggers run after or before this row goes, in an order Django chooses."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_constraint=False, related_name="job_counts"
    )
    status = models.CharField(max_length=16)  # no choices: a new status needs no migration here
    jobs = models.BigIntegerField(default=0)
    files = models.BigIntegerField(default=0)
    bytes = models.BigIntegerField(default=0)

    objects = JobCountManager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "status"], name="jobcount_owner_status")]

    def __str__(self):
        return f"{self.owner_id} {self.status}: {self.jobs}"


class JobTotalQuerySet(models.QuerySet):
    def by_status(self) -> dict:
        """{status: jobs} over every shard, every status present (0 when
        none). One query over at most SHARDS rows per status."""
        counts = dict(self.order_by().values_list("status").annotate(n=models.Sum("jobs")))
        return {status: counts.get(status) or 0 for status in Job.Status.values}


class JobTotal(models.Model):
    """The whole table's jobs, stored files and bytes per status, for
    job_stats: the sum of synthesis_jobcount's rows, kept by database
    triggers on synthesis_jobcount (migration 0012), so it is exactly as
    exact as those, in the same transaction, and job_stats reads at most
    SHARDS rows per status whatever the number of users.

    Why shards: one row per status would be a row every submit, claim and
    completion of every user updates, so concurrent transactions would queue
    on it. A user's counts go to shard ``owner_id % SHARDS``: two users'
    submits meet on a row one time in SHARDS, and one user's already queue on
    their own synthesis_jobcount row. A job's move touches two rows of the
    same shard, after the user's rows and in the same (status) order, so it
    adds no lock-order cycle. Kept off synthesis_job's own triggers on
    purpose: SQLite rebuilds that table (and restores 0005's triggers) when a
    migration changes it; synthesis_jobcount is not rebuilt that way (a
    migration that changes it on SQLite must recreate 0012's triggers)."""

    SHARDS = 16

    shard = models.SmallIntegerField()
    status = models.CharField(max_length=16)
    jobs = models.BigIntegerField(default=0)
    files = models.BigIntegerField(default=0)
    bytes = models.BigIntegerField(default=0)

    objects = JobTotalQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["shard", "status"], name="jobtotal_shard_status")]

    def __str__(self):
        return f"{self.shard} {self.status}: {self.jobs}"


# What one job row adds to its (owner, status) row: 1 job, and its file with
# its recorded size when it has audio. Used by the triggers and by rebuild().
_PG_SIZE = (
    "CASE WHEN {row}.audio <> '' AND jsonb_typeof({row}.result_metadata -> 'size_bytes') = 'number' "
    "THEN ({row}.result_metadata ->> 'size_bytes')::numeric::bigint ELSE 0 END"
)
_SQLITE_SIZE = (
    "CASE WHEN {row}.audio <> '' AND json_type({row}.result_metadata, '$.size_bytes') IN ('integer', 'real') "
    "THEN CAST(json_extract({row}.result_metadata, '$.size_bytes') AS INTEGER) ELSE 0 END"
)
JOB_COUNT_REBUILD_SQL = {
    vendor: (
        "INSERT INTO synthesis_jobcount (owner_id, status, jobs, files, bytes) "
        "SELECT owner_id, status, COUNT(*), SUM(CASE WHEN audio <> '' THEN 1 ELSE 0 END), "
        f"COALESCE(SUM({size.format(row='synthesis_job')}), 0) FROM synthesis_job GROUP BY owner_id, status"
    )
    for vendor, size in (("postgresql", _PG_SIZE), ("sqlite", _SQLITE_SIZE))
}
# JobTotal's rows from synthesis_jobcount's (a few rows per user, not a job scan).
JOB_TOTAL_REBUILD_SQL = (
    "INSERT INTO synthesis_jobtotal (shard, status, jobs, files, bytes) "
    f"SELECT owner_id % {JobTotal.SHARDS}, status, SUM(jobs), SUM(files), SUM(bytes) FROM synthesis_jobcount "
    f"GROUP BY owner_id % {JobTotal.SHARDS}, status"
)


# --- API tokens ---------------------------------------------------------------

API_TOKEN_PREFIX = "tts_"


def hash_token(secret: str) -> str:
    # The secret is 256 random bits, so a plain SHA-256 is enough: there is
    # nothing to brute-force, and a fast hash keeps each API request cheap.
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(owner=user)

    def active(self):
        return self.filter(revoked_at__isnull=True)

    def revoke_all(self) -> int:
        """Revoke every live token in the queryset; returns how many."""
        ids = list(self.active().values_list("pk", flat=True))
        revoked = self.model.objects.filter(pk__in=ids, revoked_at__isnull=True).update(revoked_at=timezone.now())
        for token_id in ids:
            log.info("api token revoked token_id=%s reason=password_changed", token_id)
        return revoked


class ApiTokenManager(models.Manager.from_queryset(ApiTokenQuerySet)):
    def create_token(self, owner, name: str) -> tuple["ApiToken", str]:
        """Create a token and return it with its secret. The secret is shown
        to the user once and never stored: only its hash is."""
        secret = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = self.create(owner=owner, name=name, prefix=secret[:12], key_hash=hash_token(secret))
        log.info("api token created token_id=%s owner=%s", token.pk, owner.pk)
        return token, secret

    def authenticate(self, secret: str, *, job_id=None, job_defer=(), lexicon=False) -> "ApiToken | None":
        """The live token for ``secret`` (its owner loaded and active), or None.

        With ``job_id``, the owner's job of that id is read in the same query
        (without the fields in ``job_defer``) and set as ``token.job``: None
        when the id is not a job of the token's owner (another user's job is
        not told apart from one that does not exist).

        With ``lexicon``, the same query also says whether the owner has
        pronunciation dictionary entries (``token.owner.has_lexicon_entries``),
        so that a submit by a user without any need not read them (JobManager.submit).

        One hand-written query, not the ORM's: it is the first thing every API
        request does, and compiling the ORM's query for the token, then the
        job's, cost about as much CPU as PostgreSQL answering them (see
        bench/README.md); the SQL is made once per process (RawSelect)."""
        if not secret.startswith(API_TOKEN_PREFIX) or len(secret) > 200:
            return None
        wants_job = job_id is not None
        if wants_job:
            try:
                job_id = uuid.UUID(str(job_id))
            except ValueError:
                job_id = None  # not a job id: the token alone, and no job
        conn = connections[self.db]
        query = token_query(conn, with_job=job_id is not None, job_defer=tuple(job_defer), lexicon=lexicon)
        params = [hash_token(secret)] if job_id is None else [query.job_param(conn, job_id), hash_token(secret)]
        with conn.cursor() as cursor:
            cursor.execute(query.sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        token, owner, *job = query.build(conn, row)
        token.owner = owner
        if lexicon:
            owner.has_lexicon_entries = bool(row[-1])
        if wants_job:
            token.job = job[0] if job and job[0].pk is not None else None
            if token.job is not None:
                token.job.owner = owner
        token.touch()
        return token


class RawColumns:
    """A model's columns in a hand-written SELECT, and a row's values back
    into an instance as the ORM makes them (the backend's converters, then
    the field's: a UUID from SQLite's text, a dict from JSON)."""

    def __init__(self, model, exclude=(), only=None):
        self.model = model
        self.table = model._meta.db_table
        self.fields = [
            f for f in model._meta.concrete_fields if f.name not in exclude and (only is None or f.name in only)
        ]
        self.attnames = [f.attname for f in self.fields]
        self._converters = {}

    def sql(self, conn, alias=None) -> str:
        """The columns, qualified by the table's name or by ``alias``."""
        qn = conn.ops.quote_name
        return ", ".join(f"{qn(alias or self.table)}.{qn(f.column)}" for f in self.fields)

    def converters(self, conn):
        if conn.alias not in self._converters:
            found = []
            for field in self.fields:
                col = field.get_col(self.table)
                found.append((col, conn.ops.get_db_converters(col) + col.get_db_converters(conn)))
            self._converters[conn.alias] = found
        return self._converters[conn.alias]

    def build(self, conn, values):
        converted = []
        for value, (col, converters) in zip(values, self.converters(conn)):
            for converter in converters:
                value = converter(value, col, conn)
            converted.append(value)
        return self.model.from_db(conn.alias, self.attnames, converted)


class TokenQuery:
    """SELECT token, owner [, job] WHERE the token's hash, live, owner active."""

    def __init__(self, conn, *, with_job: bool, job_defer: tuple, lexicon: bool):
        qn = conn.ops.quote_name
        User = get_user_model()
        self.parts = [RawColumns(ApiToken), RawColumns(User)]
        token, user = (qn(p.table) for p in self.parts)
        joins = f"INNER JOIN {user} ON {user}.{qn('id')} = {token}.{qn('owner_id')}"
        if with_job:
            self.parts.append(RawColumns(Job, exclude=job_defer))
            job = qn(Job._meta.db_table)
            same_owner = f"{job}.{qn('owner_id')} = {token}.{qn('owner_id')}"
            joins += f" LEFT OUTER JOIN {job} ON ({job}.{qn('id')} = %s AND {same_owner})"
        columns = ", ".join(p.sql(conn) for p in self.parts)
        if lexicon:
            entries = qn(LexiconEntry._meta.db_table)
            columns += f", EXISTS (SELECT 1 FROM {entries} WHERE {entries}.{qn('owner_id')} = {token}.{qn('owner_id')})"
        self.sql = (
            f"SELECT {columns} FROM {token} {joins} "
            f"WHERE {token}.{qn('key_hash')} = %s AND {token}.{qn('revoked_at')} IS NULL AND {user}.{qn('is_active')}"
        )
        self.widths = [len(p.fields) for p in self.parts]

    def job_param(self, conn, job_id):
        return Job._meta.pk.get_db_prep_value(job_id, conn)

    def build(self, conn, row):
        instances, start = [], 0
        for part, width in zip(self.parts, self.widths):
            instances.append(part.build(conn, row[start : start + width]))
            start += width
        return instances


_token_queries = {}
_polled_columns = []


def polled_columns() -> RawColumns:
    """Job.ROW_FIELDS as JobManager.polled_rows reads them (made once per process)."""
    if not _polled_columns:
        _polled_columns.append(RawColumns(Job, only=Job.ROW_FIELDS))
    return _polled_columns[0]


def token_query(conn, *, with_job: bool, job_defer: tuple, lexicon: bool) -> TokenQuery:
    key = (conn.alias, conn.vendor, with_job, job_defer, lexicon)
    if key not in _token_queries:
        _token_queries[key] = TokenQuery(conn, with_job=with_job, job_defer=job_defer, lexicon=lexicon)
    return _token_queries[key]


class ApiToken(models.Model):
    LAST_USED_PRECISION = timedelta(minutes=1)

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text=_("The first characters of the secret, to tell tokens apart."))
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenManager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def touch(self):
        """Record a use. At most one write a minute per token: a script
        polling every second should not turn every read into a write."""
        now = timezone.now()
        stale = now - self.LAST_USED_PRECISION
        if self.last_used_at is not None and self.last_used_at >= stale:
            # The row was read a moment ago: nothing to write, so no query
            # (one round trip less on every API request; see bench/api.py).
            return
        # Conditional: of two requests that both saw a stale value, one writes.
        ApiToken.objects.filter(pk=self.pk).filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale)).update(
            last_used_at=now
        )
        self.last_used_at = now

    def revoke(self) -> bool:
        """False when it was already revoked."""
        now = timezone.now()
        moved = ApiToken.objects.filter(pk=self.pk, revoked_at__isnull=True).update(revoked_at=now) == 1
        if moved:
            self.revoked_at = now
            log.info("api token revoked token_id=%s owner=%s", self.pk, self.owner_id)
        return moved


# --- pronunciation dictionary ------------------------------------------------


class LexiconFull(Exception):
    def __init__(self, current: int, maximum: int):
        super().__init__(
            gettext("Your dictionary already has %(current)s entries; the limit is %(maximum)s. Delete some first.")
            % {"current": f"{current:,}", "maximum": f"{maximum:,}"}
        )
        self.current = current
        self.maximum = maximum


class LexiconEntryInvalid(Exception):
    """``errors`` maps each bad field to its (translated) message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors


class LexiconEntryQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(owner=user)

    def snapshot(self, params: dict, provider_name: str) -> list[dict]:
        """The entries of this queryset (a user's) that occur in the job's
        turns, as the job keeps them. Matched against the text as the engine
        will get it (synthesis.speakable). ``applied`` says whether this
        provider can speak the entry: phonemes go only to engines that take
        their alphabet, elsewhere the written form is spoken (documented)."""
        entries = [row.as_entry() for row in self]
        if not entries:
            return []
        used = lexicon.matching(entries, [speakable(turn["text"]) for turn in params["turns"]])
        provider = all_providers().get(provider_name)
        alphabets = provider.capabilities.phoneme_alphabets if provider is not None else ()
        return [entry.as_dict() | {"applied": not entry.is_phonemes or entry.kind in alphabets} for entry in used]


class LexiconEntryManager(models.Manager.from_queryset(LexiconEntryQuerySet)):
    def add(self, user, *, written, spoken, kind=lexicon.RESPELLING, case_sensitive=False) -> "LexiconEntry":
        """A new entry for ``user``: LexiconEntryInvalid naming the bad
        fields, LexiconFull at TTS_MAX_LEXICON_ENTRIES."""
        entry = self.model(owner=user)
        maximum = settings.TTS_MAX_LEXICON_ENTRIES
        with transaction.atomic():
            # The user's row lock makes count-then-insert one step: two
            # concurrent adds at 999 entries cannot both get in.
            list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk"))
            current = self.for_user(user).count()
            if current >= maximum:
                raise LexiconFull(current, maximum)
            entry.change(written=written, spoken=spoken, kind=kind, case_sensitive=case_sensitive)
        return entry


class LexiconEntry(models.Model):
    """One line of a user's pronunciation dictionary: how ``written`` is to be
    spoken (synthesis.lexicon has the matching rules)."""

    class Kind(models.TextChoices):
        RESPELLING = lexicon.RESPELLING, _("Respelling")
        ESPEAK = lexicon.ESPEAK, _("eSpeak phonemes")
        IPA = lexicon.IPA, _("IPA phonemes")

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lexicon_entries")
    written = models.CharField(_("written form"), max_length=lexicon.MAX_WRITTEN)
    spoken = models.CharField(_("spoken form"), max_length=lexicon.MAX_SPOKEN)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.RESPELLING)
    case_sensitive = models.BooleanField(_("case-sensitive"), default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = LexiconEntryManager()

    class Meta:
        ordering = ["written", "id"]
        verbose_name = _("pronunciation dictionary entry")
        verbose_name_plural = _("pronunciation dictionary entries")
        constraints = [models.UniqueConstraint(fields=["owner", "written"], name="lexicon_owner_written")]

    def __str__(self):
        return f"{self.written} → {self.spoken}"

    def as_entry(self) -> lexicon.Entry:
        return lexicon.Entry(self.written, self.spoken, self.kind, self.case_sensitive)

    def as_dict(self) -> dict:
        return {
            "id": self.pk,
            **self.as_entry().as_dict(),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }

    def change(self, **fields) -> None:
        """Set and save the given fields (written, spoken, kind,
        case_sensitive), or raise LexiconEntryInvalid naming the bad ones."""
        values = {
            "written": self.written,
            "spoken": self.spoken,
            "kind": self.kind,
            "case_sensitive": self.case_sensitive,
        } | fields
        errors = lexicon.check_entry(values["written"], values["spoken"], values["kind"], values["case_sensitive"])
        if "written" not in errors:
            values["written"] = lexicon.normalise_term(values["written"])
            clash = self._clash(values["written"], values["case_sensitive"])
            if clash is not None:
                errors["written"] = gettext("You already have an entry for “%(written)s”.") % {"written": clash.written}
        if errors:
            raise LexiconEntryInvalid(errors)
        values["spoken"] = lexicon.normalise_term(values["spoken"])
        for field, value in values.items():
            setattr(self, field, value)
        self.updated_at = timezone.now()
        if self.pk is None:
            self.created_at = self.updated_at
        try:
            with transaction.atomic():
                self.save()
        except IntegrityError:
            # A concurrent request added the same written form first.
            raise LexiconEntryInvalid(
                {"written": gettext("You already have an entry for “%(written)s”.") % {"written": self.written}}
            ) from None

    def _clash(self, written: str, case_sensitive: bool) -> "LexiconEntry | None":
        """Another entry of the owner that would match the same words: the
        same written form, or the same but for case where either ignores case."""
        others = LexiconEntry.objects.for_user(self.owner_id).exclude(pk=self.pk)
        for other in others.filter(written__iexact=written):
            if other.written == written or not (case_sensitive and other.case_sensitive):
                return other
        # iexact is ASCII-only on SQLite: a Unicode clash is caught by the
        # exact constraint at least.
        return None


# --- worker liveness ----------------------------------------------------------


class ClusterHeartbeatQuerySet(models.QuerySet):
    def recent(self, seconds: int, now=None):
        return self.filter(seen_at__gte=(now or timezone.now()) - timedelta(seconds=seconds))


class ClusterHeartbeat(models.Model):
    """One row per running django-q2 cluster, refreshed every few seconds by
    synthesis.health.HeartbeatBroker, read by /healthz. django-q2 keeps its
    own cluster status in Django's cache, which is per process unless a shared
    cache is configured; this row is visible to every web host."""

    cluster_id = models.CharField(max_length=64, unique=True)
    worker_name = models.CharField(max_length=255)
    seen_at = models.DateTimeField(db_index=True)

    objects = ClusterHeartbeatQuerySet.as_manager()

    def __str__(self):
        return f"{self.worker_name} ({self.cluster_id})"


# The sender as a string: the user model may not be loaded yet when this runs.
@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="revoke_api_tokens")
def revoke_tokens_on_password_change(sender, instance, created, **kwargs):
    """Saving a user with a new password revokes the user's API tokens
    (whoever set it: the account page, the admin, ``changepassword``), since
    a stolen password may have minted them.

    ``_password`` is how Django itself tells a new password from a re-hash:
    set_password() sets it and save() clears it after post_save, while the
    silent re-hash at login (a hasher upgrade) clears it before saving."""
    if not created and getattr(instance, "_password", None) is not None:
        ApiToken.objects.for_user(instance).revoke_all()


# --- the user's language ------------------------------------------------------


class LanguagePreference(models.Model):
    """The UI language a user chose in the page header, so it follows them to
    another browser: copied into the session at login (synthesis.i18n)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True)
    # One of settings.LANGUAGES; checked where it is set, not as choices, so
    # offering one more language needs no migration.
    language = models.CharField(max_length=15)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.user_id}: {self.language}"


@receiver(user_logged_in, dispatch_uid="restore_ui_language")
def restore_language(sender, request, user, **kwargs):
    """At login, the language the user chose last time, wherever that was:
    kept in the session, where synthesis.i18n's middleware finds it."""
    if request is None or not hasattr(request, "session"):
        return
    language = LanguagePreference.objects.filter(user=user).values_list("language", flat=True).first()
    if i18n.supported(language):
        request.session[i18n.SESSION_KEY] = language

"""Edit and re-render: a new version of a job reuses the kept segments of the
job it is based on for every turn whose sound would not change.

A turn's sound is named by its content key (provider, engine version, voice,
language, text after clean-up, mode: ``synthesis.segments.content_key``), so
"unchanged" needs no diff of the scripts: a turn of the new version whose key
is among the source's segments is copied, whatever its position (lines moved,
inserted or deleted around it); everything else is spoken. The copy is a new
name in the new job's folder (on local storage a hard link to the same bytes,
so copying 300 turns writes no audio), so each job still owns its segments
and deleting either version never breaks the other; the source is always the
same user's job (``Job.objects.submit`` refuses another user's).
"""

import logging

from django.db import connection, transaction
from django.db.models.expressions import RawSQL

from synthesis.models import Job, Segment
from synthesis.storage import copy_stored

log = logging.getLogger("synthesis.jobs")


def reuse_segments(job: Job, keys: list[str]) -> int:
    """Copy the source's segments into ``job`` for its turns that have none
    yet and are not to be retaken. Safe to run again (a retried run): turns
    that already have a segment are skipped. Returns how many were copied."""
    if job.based_on_id is None:
        return 0
    source = Job.objects.filter(pk=job.based_on_id, owner_id=job.owner_id).first()
    if source is None:  # deleted since, or (never) someone else's
        return 0
    by_key = {segment.content_key: segment for segment in Segment.objects.filter(job=source)}
    have = set(Segment.objects.filter(job=job).values_list("turn_index", flat=True))
    retake = set(job.retake_turns or [])
    copies = []
    try:
        for index, key in enumerate(keys):
            segment = by_key.get(key)
            if segment is None or index in have or index in retake:
                continue
            # created_at stays the original's (when this sound was made):
            # a segment older than its job is one it reused (reused_turns).
            copy = Segment(
                job=job,
                turn_index=index,
                content_key=key,
                frames=segment.frames,
                sample_rate=segment.sample_rate,
                created_at=segment.created_at,
                sentences=segment.sentences,
            )
            # The file first: a row never points at a file that isn't there.
            # Locally a hard link: the new job has its own name for the same
            # bytes (synthesis.storage.copy_stored), nothing is read or written.
            ext = segment.file.name.rsplit(".", 1)[-1]
            name = copy.file.field.generate_filename(copy, f"turn.{ext}")
            copy.file.name = copy_stored(segment.file.storage, segment.file.name, name)
            copies.append(copy)
        if not copies:
            return 0
        with transaction.atomic():
            # One progress move for all of them, with this run's token: a run
            # that lost the job writes nothing; it notices at its next move.
            owned = job.record_progress(len(have) + len(copies))
            if owned:
                Segment.objects.bulk_create(copies)
    except BaseException:
        delete_files(copies)
        raise
    if not owned:
        delete_files(copies)
        return 0
    log.info("job reused job_id=%s from=%s segments=%d of %d", job.pk, source.pk, len(copies), len(keys))
    return len(copies)


def delete_files(segments):
    for segment in segments:
        try:
            segment.file.storage.delete(segment.file.name)
        except Exception:
            log.exception("could not delete a copied segment job_id=%s", segment.job_id)


# The job's family in one query, whatever its size or depth: up the
# based_on chain to the first version, then down to every version made from
# it and from them. Each step keeps to the owner's jobs. UNION (not UNION ALL)
# drops rows already seen, so even a cycle (impossible: a job is based on an
# older one) could not loop.
FAMILY_SQL = """
WITH RECURSIVE up(id, based_on_id) AS (
    SELECT id, based_on_id FROM {job} WHERE id = %s AND owner_id = %s
    UNION
    SELECT j.id, j.based_on_id FROM {job} j JOIN up ON j.id = up.based_on_id WHERE j.owner_id = %s
), down(id) AS (
    SELECT id FROM up WHERE based_on_id IS NULL OR based_on_id NOT IN (SELECT id FROM up)
    UNION
    SELECT j.id FROM {job} j JOIN down ON j.based_on_id = down.id WHERE j.owner_id = %s
)
SELECT id FROM down
"""


def versions_of(job: Job) -> list[Job]:
    """Every version in the job's family (the first one and all re-renders
    of it, and of them), oldest first, each with its ``number`` (1 for the
    first): what the job page lists. One query."""
    pk = Job._meta.pk.get_db_prep_value(job.pk, connection)
    family = RawSQL(FAMILY_SQL.format(job=Job._meta.db_table), (pk, job.owner_id, job.owner_id, job.owner_id))
    versions = list(
        Job.objects.filter(owner_id=job.owner_id, pk__in=family)
        .order_by("created_at", "pk")
        .only("id", "title", "status", "created_at", "based_on")
    )
    for number, version in enumerate(versions, 1):
        version.number = number
    return versions

"""Stored files that nothing references any more, swept by cleanup_jobs.

A worker killed between storing a job's audio and completing the job, or
during a save, leaves a file no row points to: an audio file, or a temporary
``.partial-*`` file of AtomicFileSystemStorage (it deletes those in a
``finally``, which SIGKILL skips), or on S3 an unfinished multipart upload.
Nothing would ever delete them.

The sweep walks the storage listing under each folder that holds job files
and deletes what is older than ``TTS_ORPHAN_GRACE_SECONDS`` (1 hour) and
referenced by no row. The grace covers the moment between a save and the
row that records it (a run stores its audio, then completes the job), which
is seconds, far below the hour. It stays cheap at any size: the listing is
streamed (S3: 1,000 keys a request, with their dates, so no request per
file), only files past the grace are looked up, 1,000 names a query, by the
job id in their name (the primary key's index; names without one are looked
up by name), and S3 deletes go 1,000 keys a request.
"""

import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone
from storages.backends.s3 import S3Storage

from synthesis.models import Job, Segment

log = logging.getLogger("synthesis.jobs")

BATCH = 1000
JOB_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
PARTIAL_PREFIX = ".partial-"  # synthesis.storage.AtomicFileSystemStorage's temporary files


@dataclass
class StoredFile:
    name: str
    size: int
    modified: datetime


def referenced_audio(names: list[str]) -> set[str]:
    """Which of these names are a job's audio."""
    by_id = {}
    by_name = []
    for name in names:
        match = JOB_ID.search(name.rsplit("/", 1)[-1])
        if match:
            by_id.setdefault(match.group(), []).append(name)
        else:
            by_name.append(name)
    found = set()
    if by_id:
        found |= set(Job.objects.filter(pk__in=list(by_id)).exclude(audio="").values_list("audio", flat=True))
    if by_name:
        found |= set(Job.objects.filter(audio__in=by_name).values_list("audio", flat=True))
    return found


def referenced_segments(names: list[str]) -> set[str]:
    """Which of these names are a kept segment's file. A segment's name is
    ``segments/<job id>/<turn>-<token>.<ext>``: looked up by job id (the
    unique (job, turn) index), never by the unindexed file column."""
    by_id = {}
    for name in names:
        match = JOB_ID.search(name)
        if match:
            by_id.setdefault(match.group(), []).append(name)
    if not by_id:
        return set()
    return set(Segment.objects.filter(job_id__in=list(by_id)).values_list("file", flat=True))


# Each folder of stored files, with the function that says which names in it
# are still referenced.
SWEPT_FOLDERS = [("audio/", referenced_audio), ("segments/", referenced_segments)]


def _is_s3(storage) -> bool:
    return isinstance(storage, S3Storage)


def stored_files(storage, folder: str):
    """Every file under ``folder``, streamed from the storage's own listing."""
    if _is_s3(storage):
        root = storage._normalize_name(folder)
        location = storage._normalize_name("")
        strip = len(location) + 1 if location else 0
        paginator = storage.connection.meta.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=storage.bucket_name, Prefix=root):
            for entry in page.get("Contents", ()):
                yield StoredFile(entry["Key"][strip:], entry["Size"], entry["LastModified"])
        return
    if hasattr(storage, "path"):
        base = storage.path(folder)
        for directory, _dirs, files in os.walk(base):
            for filename in files:
                full = os.path.join(directory, filename)
                try:
                    stat = os.stat(full)
                except FileNotFoundError:
                    continue  # deleted while we walked
                name = os.path.relpath(full, storage.location).replace(os.sep, "/")
                yield StoredFile(name, stat.st_size, datetime.fromtimestamp(stat.st_mtime, tz=UTC))
        return
    # Any other backend: its generic API (a request per file for the dates).
    directories, files = storage.listdir(folder)
    for filename in files:
        name = f"{folder.rstrip('/')}/{filename}"
        yield StoredFile(name, storage.size(name), storage.get_modified_time(name))
    for directory in directories:
        yield from stored_files(storage, f"{folder.rstrip('/')}/{directory}/")


def _delete(storage, names: list[str]) -> int:
    """Delete, 1,000 keys a request on S3; returns how many failed."""
    if _is_s3(storage):
        client = storage.connection.meta.client
        answer = client.delete_objects(
            Bucket=storage.bucket_name,
            Delete={"Objects": [{"Key": storage._normalize_name(name)} for name in names], "Quiet": True},
        )
        for error in answer.get("Errors", ()):
            log.error("cleanup could not delete orphan file=%s error=%s", error.get("Key"), error.get("Code"))
        return len(answer.get("Errors", ()))
    errors = 0
    for name in names:
        try:
            storage.delete(name)
        except Exception:
            errors += 1
            log.exception("cleanup could not delete orphan file=%s", name)
    return errors


def _abort_unfinished_uploads(storage, cutoff, dry_run: bool) -> int:
    """S3's own partial files: multipart uploads started before the cutoff
    and never completed (a worker killed while uploading a large file)."""
    client = storage.connection.meta.client
    aborted = 0
    paginator = client.get_paginator("list_multipart_uploads")
    for page in paginator.paginate(Bucket=storage.bucket_name, Prefix=storage._normalize_name("")):
        for upload in page.get("Uploads", ()):
            if upload["Initiated"] < cutoff:
                if not dry_run:
                    client.abort_multipart_upload(
                        Bucket=storage.bucket_name, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                aborted += 1
    return aborted


def sweep_orphan_files(storage=None, *, now=None, dry_run: bool = False, report=None) -> dict:
    """Delete (or with ``dry_run`` only count) the stored files older than
    the grace period that no row references. ``report(name, size)`` is
    called for each one (the command's verbose listing)."""
    if storage is None:
        storage = Job._meta.get_field("audio").storage
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.TTS_ORPHAN_GRACE_SECONDS)
    counts = {"orphans": 0, "bytes": 0, "deleted": 0, "errors": 0, "unfinished_uploads": 0}

    def sweep(batch: list[StoredFile], referenced):
        # A temporary file is never referenced: no need to ask the database.
        named = [f for f in batch if not f.name.rsplit("/", 1)[-1].startswith(PARTIAL_PREFIX)]
        kept = referenced([f.name for f in named]) if named else set()
        orphans = [f for f in batch if f.name not in kept]
        for orphan in orphans:
            counts["orphans"] += 1
            counts["bytes"] += orphan.size
            if report:
                report(orphan.name, orphan.size)
        if orphans and not dry_run:
            errors = _delete(storage, [f.name for f in orphans])
            counts["errors"] += errors
            counts["deleted"] += len(orphans) - errors

    for folder, referenced in SWEPT_FOLDERS:
        batch = []
        for stored in stored_files(storage, folder):
            if stored.modified >= cutoff:
                continue  # may be a save whose row is not written yet
            batch.append(stored)
            if len(batch) == BATCH:
                sweep(batch, referenced)
                batch = []
        if batch:
            sweep(batch, referenced)
    if _is_s3(storage):
        counts["unfinished_uploads"] = _abort_unfinished_uploads(storage, cutoff, dry_run)
    if not dry_run:
        log.info(
            "cleanup swept orphans deleted=%d bytes=%d errors=%d unfinished_uploads=%d",
            counts["deleted"],
            counts["bytes"],
            counts["errors"],
            counts["unfinished_uploads"],
        )
    return counts

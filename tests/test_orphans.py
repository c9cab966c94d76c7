"""cleanup_jobs sweeps stored files that no job references, and the partial
files a killed save leaves, once they are older than the grace period: on the
local folder and on S3 (moto's server)."""

import os
import signal
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone

from synthesis import orphans
from synthesis.models import Job
from tests.cluster import ROOT
from tests.factories import make_job
from tests.test_storage_s3 import bucket, s3_endpoint  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

LATER = timedelta(hours=1, minutes=1)  # just past the default grace of 1 hour


def cleanup(*args) -> str:
    out = StringIO()
    call_command("cleanup_jobs", *args, stdout=out, stderr=out)
    return out.getvalue()


def store(name: str, size: int = 100) -> str:
    return default_storage.save(name, ContentFile(b"\xff" * size))


KILLED_SAVE = """
import os, sys, time
import django
django.setup()
from django.core.files.base import File
from synthesis.storage import AtomicFileSystemStorage

class Slow(File):
    def chunks(self, chunk_size=None):
        yield b"\\xff" * 4096
        print("writing", flush=True)
        time.sleep(120)
        yield b"never"

AtomicFileSystemStorage(location=sys.argv[1]).save("audio/2026/12/killed.mp3", Slow(None, name="x"))
"""


def save_and_get_killed(media_root: Path):
    """A real process saving a file, SIGKILLed mid-write: its .partial-*
    file stays, since the `finally` that deletes it never runs."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "ttsjobs.settings"}
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_SAVE, str(media_root)], cwd=ROOT, env=env, stdout=subprocess.PIPE
    )
    try:
        assert process.stdout.readline().strip() == b"writing"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    partials = list(media_root.glob("audio/2026/12/.partial-*"))
    assert len(partials) == 1 and not (media_root / "audio/2026/12/killed.mp3").exists()
    return partials[0]


def test_the_grace_period_is_an_hour_by_default(settings):
    assert settings.TTS_ORPHAN_GRACE_SECONDS == 3600


def test_unreferenced_and_partial_files_go_once_past_the_grace(alice, _media_root):
    kept = make_job(alice, Job.Status.COMPLETED, audio=True)
    legacy = make_job(alice, Job.Status.COMPLETED)
    Job.objects.filter(pk=legacy.pk).update(audio=store("audio/legacy/a name without a job id.mp3"))
    legacy.refresh_from_db()
    # A job whose audio was never recorded:
    orphan = store(f"audio/2026/12/{make_job(alice, Job.Status.COMPLETED).pk}-token.mp3")
    orphan_no_id = store("audio/legacy/nobody.mp3")
    partial = save_and_get_killed(_media_root)
    now = timezone.now()

    with time_machine.travel(now + timedelta(minutes=59)):
        assert "deleted 0 orphan file(s)" in cleanup()  # all still within the grace
    assert partial.exists() and default_storage.exists(orphan)

    size = 100 + 100 + partial.stat().st_size
    with time_machine.travel(now + LATER):
        output = cleanup()
    assert f"deleted 3 orphan file(s), {size} bytes, older than 1 h, 0 failed" in output
    assert not partial.exists()
    assert not default_storage.exists(orphan) and not default_storage.exists(orphan_no_id)
    assert default_storage.exists(kept.audio.name) and default_storage.exists(legacy.audio.name)


def test_dry_run_lists_what_would_go_and_deletes_nothing(alice):
    orphan = store("audio/2026/12/nobody.mp3", size=250)
    kept = make_job(alice, Job.Status.COMPLETED, audio=True)
    with time_machine.travel(timezone.now() + LATER):
        output = cleanup("--dry-run", "-v", "2")
    assert "would delete 1 orphan file(s), 250 bytes, older than 1 h" in output
    assert f"orphan {orphan} (250 bytes)" in output
    assert kept.audio.name not in output
    assert default_storage.exists(orphan)


def test_names_are_looked_up_in_batches(alice, monkeypatch, django_assert_max_num_queries):
    monkeypatch.setattr(orphans, "BATCH", 10)
    jobs = [make_job(alice, Job.Status.COMPLETED, audio=True) for _ in range(15)]
    for i in range(10):
        store(f"audio/2026/12/orphan-{i}.mp3")
    # 25 files, 3 batches: at most 2 queries each (by job id, by name).
    with time_machine.travel(timezone.now() + LATER), django_assert_max_num_queries(6):
        counts = orphans.sweep_orphan_files()
    assert counts["deleted"] == 10
    assert all(default_storage.exists(job.audio.name) for job in jobs)


def test_the_daily_task_sweeps_too(alice):
    from synthesis.tasks import cleanup_jobs

    store("audio/2026/12/nobody.mp3")
    with time_machine.travel(timezone.now() + LATER):
        assert cleanup_jobs()["orphan_files"]["deleted"] == 1


def test_s3_orphans_and_unfinished_uploads_go_once_past_the_grace(alice, bucket):  # noqa: F811
    kept = make_job(alice, Job.Status.COMPLETED, audio=True)
    store(f"audio/2026/12/{make_job(alice, Job.Status.COMPLETED).pk}-token.mp3", size=300)
    assert "deleted 0 orphan file(s)" in cleanup()  # everything is new
    # A worker killed while uploading a large file: a multipart upload begun,
    # never completed. (moto dates every upload 2010-11-10, so it is always
    # past the grace here; S3 gives the real date.)
    upload = bucket.create_multipart_upload(Bucket="ttsjobs-audio", Key="audio/2026/12/big.mp3")
    bucket.upload_part(
        Bucket="ttsjobs-audio", Key="audio/2026/12/big.mp3", UploadId=upload["UploadId"], PartNumber=1, Body=b"x"
    )

    with time_machine.travel(timezone.now() + LATER):
        dry = cleanup("--dry-run")
        assert "would delete 1 orphan file(s), 300 bytes" in dry and "1 unfinished S3 upload(s) would be aborted" in dry
        output = cleanup()
    assert "deleted 1 orphan file(s), 300 bytes, older than 1 h, 0 failed; 1 unfinished S3 upload(s) aborted" in output
    keys = [item["Key"] for item in bucket.list_objects_v2(Bucket="ttsjobs-audio")["Contents"]]
    assert keys == [kept.audio.name]
    assert bucket.list_multipart_uploads(Bucket="ttsjobs-audio").get("Uploads", []) == []


def test_segment_files_no_segment_row_references_go_too(alice, _media_root):
    from synthesis.tasks import run_synthesis
    from tests.conftest import dialogue

    job = Job.objects.submit(alice, {k: v for k, v in dialogue().items() if k != "provider"}, provider="espeak")
    run_synthesis(job.pk)
    kept = [s.file.name for s in job.segments.all()]
    assert len(kept) == 3
    # A worker killed between storing a turn and recording it leaves this.
    orphan = store(f"segments/{job.pk}/0003-killed.flac")
    with time_machine.travel(timezone.now() + LATER):
        output = cleanup()
    assert "deleted 1 orphan file(s)" in output
    assert not default_storage.exists(orphan)
    assert all(default_storage.exists(name) for name in kept)

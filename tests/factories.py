"""Jobs in a given state, written straight to the table, for tests of the
staff and operator tools (admin, cleanup, stats) that need many of them, of
any age. For a job moved there by the app's own code (submit, claim, the
worker), see website.submitted_job."""

import uuid
from datetime import timedelta

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from synthesis.models import Job
from tests.conftest import dialogue


def input_params() -> dict:
    body = dialogue()
    body.pop("provider")
    return body


def make_job(owner, status: str, *, ended_days_ago: float | None = 0, audio: bool = False, **fields) -> Job:
    now = timezone.now()
    params = input_params()
    values = {
        "owner": owner,
        "status": status,
        "provider": "espeak",
        "input_params": params,
        "title": Job.make_title(params),
        "progress_total": len(params["turns"]),
    }
    if status != Job.Status.PENDING:
        values["started_at"] = now - timedelta(days=ended_days_ago or 0, seconds=5)
    if status in Job.FINAL_STATUSES and ended_days_ago is not None:
        values["completed_at"] = now - timedelta(days=ended_days_ago)
        values["created_at"] = values["completed_at"] - timedelta(seconds=6)
    if status == Job.Status.PROCESSING:
        values.update(heartbeat_at=now, deadline_at=now + timedelta(minutes=10), worker_name="test")
    if status == Job.Status.COMPLETED:
        values["audio_file_id"] = uuid.uuid4()
        values["result_metadata"] = {
            "duration_ms": 2500,
            "latency_ms": 800,
            "size_bytes": 1000,
            "synthesis_mode": "segmented",
            "format": "mp3",
            "sample_rate": 22050,
            "turn_timings": [{"turn_index": 0, "speaker": "Alice", "start_ms": 0, "end_ms": 900}],
        }
    values.update(fields)
    job = Job.objects.create(**values)
    if audio:
        name = default_storage.save(f"audio/test/{job.pk}.mp3", ContentFile(b"\xff\xfb" + b"\0" * 998))
        Job.objects.filter(pk=job.pk).update(audio=name)
        job.audio = name
    return job

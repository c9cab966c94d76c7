"""Serving a job's stored audio: one place for the pages, the admin and the API."""

from django.http import FileResponse, HttpResponseRedirect

from synthesis.audio import OUTPUT_FORMATS
from synthesis.models import Job


def audio_response(job: Job):
    """The stored audio of a completed job, as an attachment. On S3 a redirect
    to a short-lived presigned URL, so the bytes don't pass through Django."""
    storage = job.audio.storage
    filename = f"ttsjobs-{job.pk}.{job.output_format}"
    content_type = OUTPUT_FORMATS.get(job.output_format, "application/octet-stream")
    if hasattr(storage, "bucket_name"):
        url = storage.url(
            job.audio.name,
            parameters={
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
                "ResponseContentType": content_type,
            },
        )
        return HttpResponseRedirect(url)
    return FileResponse(
        storage.open(job.audio.name, "rb"), as_attachment=True, filename=filename, content_type=content_type
    )

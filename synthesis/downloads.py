"""Serving a job's stored audio: one place for the pages, the admin and the API.

Local files answer HTTP range requests (RFC 9110 §14), so a player can seek in
a long dialogue: without them a browser can only play from the start (it asks
for ``bytes=N-`` when the user seeks, and a 200 with the whole file makes it
start over). Bytes are streamed from the file in chunks, never read whole.
"""

import re

from django.http import FileResponse, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.utils.cache import get_conditional_response
from django.utils.http import http_date, parse_http_date_safe

from synthesis.audio import OUTPUT_FORMATS
from synthesis.models import Job

CHUNK_BYTES = 64 * 1024
RANGE_SPEC = re.compile(r"^(\d*)-(\d*)$")


class RangeNotSatisfiable(Exception):
    """No byte of the file is in the requested range: a 416."""


def requested_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The (first, last) byte positions, inclusive, that a ``Range`` header
    asks for in a file of ``size`` bytes, or None to send the whole file.

    None covers what RFC 9110 lets a server ignore: no header, another unit,
    a syntax error (§14.2: an invalid ranges-specifier is ignored), and
    several ranges: those are answered with the whole file (a 200) rather
    than a multipart/byteranges body no audio player asks for.
    """
    if not header or size <= 0:
        return None
    unit, _, ranges = header.partition("=")
    if unit.strip().lower() != "bytes":
        return None
    specs = [spec.strip() for spec in ranges.split(",") if spec.strip()]
    if len(specs) != 1:
        return None
    match = RANGE_SPEC.match(specs[0])
    if not match or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if first == "":  # suffix-range: the last N bytes
        suffix = int(last)
        if suffix == 0:
            raise RangeNotSatisfiable
        return max(size - suffix, 0), size - 1
    first = int(first)
    if last and int(last) < first:
        return None  # invalid, so ignored (§14.1.1)
    if first >= size:
        raise RangeNotSatisfiable
    return first, min(int(last), size - 1) if last else size - 1


def if_range_matches(header: str, etag: str, last_modified: int) -> bool:
    """§13.1.5: a strong entity tag equal to ours, or exactly our date. A weak
    tag never matches, so a range of a changed file is never spliced in."""
    header = header.strip()
    if header.startswith('"'):
        return header == etag
    if header.startswith("W/"):
        return False
    return parse_http_date_safe(header) == last_modified


def file_chunks(storage, name: str, first: int, length: int):
    # The file is opened when the response starts streaming and closed when it
    # ends (or the client goes away: Django closes the generator).
    with storage.open(name, "rb") as stored:
        stored.seek(first)
        while length > 0:
            chunk = stored.read(min(CHUNK_BYTES, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk


def audio_response(request, job: Job):
    """The stored audio of a completed job, as an attachment. Locally it
    answers range requests; on S3 a redirect to a short-lived presigned URL
    (S3 answers ranges itself), so the bytes don't pass through Django."""
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

    size = storage.size(job.audio.name)
    # A job's audio is written once, completely, under a name of its own and
    # never changed: its id and size identify these exact bytes (a strong tag).
    etag = f'"{job.pk.hex}-{size:x}"'
    last_modified = int((job.completed_at or job.created_at).timestamp())
    not_modified = get_conditional_response(request, etag=etag, last_modified=last_modified)
    if not_modified is not None:
        not_modified["ETag"] = etag
        return not_modified

    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Last-Modified": http_date(last_modified),
        # Someone's own audio: no shared cache, nor the browser's disk (a
        # shared computer), keeps it. Ranges and If-None-Match still work.
        "Cache-Control": "private, no-store",
    }
    byte_range = None
    if_range = request.headers.get("If-Range")
    if if_range is None or if_range_matches(if_range, etag, last_modified):
        try:
            byte_range = requested_range(request.headers.get("Range"), size)
        except RangeNotSatisfiable:
            return HttpResponse(status=416, headers=headers | {"Content-Range": f"bytes */{size}"})

    if byte_range is None:
        response = FileResponse(
            storage.open(job.audio.name, "rb"), as_attachment=True, filename=filename, content_type=content_type
        )
    else:
        first, last = byte_range
        length = last - first + 1
        response = StreamingHttpResponse(
            file_chunks(storage, job.audio.name, first, length), status=206, content_type=content_type
        )
        response["Content-Length"] = str(length)
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    for header, value in headers.items():
        response[header] = value
    return response

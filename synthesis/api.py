"""JSON API v1. Same model methods as the pages; only the transport differs.

Errors are ``{"error": CODE, "message": text, "details": {...}}``. The
messages (``details`` too, keyed by field name) are in the language of the
request's Accept-Language (synthesis.i18n); the codes and keys never change.
"""

import base64
import hashlib
import json
import uuid
from datetime import datetime
from functools import wraps

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpResponseNotModified, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.formats import number_format
from django.utils.http import parse_etags, quote_etag
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_safe

from synthesis.access import get_job_for_user
from synthesis.audio import OUTPUT_FORMATS
from synthesis.downloads import audio_response
from synthesis.models import ApiToken, IdempotencyKeyReused, Job, JobCount, JobLimitExceeded
from synthesis.providers import available_providers
from synthesis.validation import JobRequestInvalid, clean_job_request


def error_response(status: int, code: str, message: str, details: dict | None = None) -> JsonResponse:
    return JsonResponse({"error": code, "message": message, "details": details or {}}, status=status)


def _csrf_failure(request):
    """The reason a session request fails Django's CSRF check, or None.

    The API views are csrf_exempt so that token requests need no CSRF token
    (a bearer token is never sent by the browser on its own, so a forged
    cross-site request cannot carry one). Session requests still can be
    forged, so they get the very same check the middleware would have made.
    """
    # A bare callback: the real view is csrf_exempt, which would skip the check.
    check = CsrfViewMiddleware(lambda req: None)
    rejection = check.process_view(request, lambda req: None, (), {})
    return (
        None if rejection is None else _("CSRF verification failed: send the csrftoken cookie's value in X-CSRFToken.")
    )


def _unauthorized(code: str, message: str) -> JsonResponse:
    response = error_response(401, code, message)
    response["WWW-Authenticate"] = 'Bearer realm="ttsjobs"'
    return response


NOT_READ = object()


def api_login_required(view=None, *, job_defer=None):
    """Like login_required, but answers 401 JSON instead of redirecting, and
    also accepts ``Authorization: Bearer <token>`` (see docs/api-tokens.md).

    ``job_defer`` (a view with a ``job_id``): a function of the request that
    gives the job's fields not to read. A token request then reads the job
    with its token, in one query, and the view finds it as ``request.api_job``
    (None when it is not one of the user's jobs); a session request leaves
    ``request.api_job`` as NOT_READ for the view to read it."""
    if view is None:
        return lambda view: api_login_required(view, job_defer=job_defer)

    @csrf_exempt
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return authenticated(request, *args, **kwargs)
        except RequestDataTooBig:
            # Django raises this when the body passes DATA_UPLOAD_MAX_MEMORY_SIZE
            # (on the first read, before parsing) and would answer with its HTML 400.
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            return error_response(
                413,
                "REQUEST_TOO_LARGE",
                _("The request body is larger than %(max)s bytes.")
                % {"max": number_format(limit, force_grouping=True)},
                {"max_bytes": limit},
            )

    def authenticated(request, *args, **kwargs):
        header = request.headers.get("Authorization")
        if header is not None:
            # A request that names a token is judged by that token alone, even
            # if it also carries a session cookie.
            scheme, _space, secret = header.strip().partition(" ")
            token = None
            if scheme.lower() == "bearer":
                if job_defer is None:
                    # A POST may be a submit, which needs to know whether the
                    # user has dictionary entries: asked in the same query.
                    token = ApiToken.objects.authenticate(secret.strip(), lexicon=request.method == "POST")
                else:
                    token = ApiToken.objects.authenticate(
                        secret.strip(), job_id=kwargs["job_id"], job_defer=job_defer(request)
                    )
            if token is None:
                return _unauthorized("INVALID_TOKEN", _("The API token is unknown or revoked."))
            request.user = token.owner
            request.api_token = token
            request.api_job = token.job if job_defer is not None else NOT_READ
            return view(request, *args, **kwargs)
        request.api_job = NOT_READ
        if not request.user.is_authenticated:
            return _unauthorized("NOT_AUTHENTICATED", _("Log in or send an API token."))
        if request.method not in ("GET", "HEAD", "OPTIONS", "TRACE"):
            reason = _csrf_failure(request)
            if reason:
                return error_response(403, "CSRF_FAILED", reason)
        return view(request, *args, **kwargs)

    return wrapper


def job_not_found(job_id) -> JsonResponse:
    return error_response(404, "JOB_NOT_FOUND", _("No job %(job)s.") % {"job": job_id}, {"job_id": str(job_id)})


def job_summary(job: Job) -> dict:
    return {
        "id": str(job.pk),
        "job_type": job.job_type,
        "status": job.status,
        "provider": job.provider,
        "title": job.title,
        "progress": {"done": job.progress_done, "total": job.progress_total},
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "completed_at": job.completed_at.isoformat() if job.completed_at else None,
        "error_code": job.error_code or None,
        # The original contract: a message only on failed jobs (why a cancelled
        # job ended is in error_code, CANCELLED).
        "error_message": (job.error_message or None) if job.status == Job.Status.FAILED else None,
        "duration_ms": job.result_metadata.get("duration_ms"),
        "download_url": f"/api/v1/jobs/{job.pk}/download" if job.status == Job.Status.COMPLETED else None,
    }


def job_detail(job: Job) -> dict:
    return {
        **job_summary(job),
        "input_params": job.input_params,
        # Extension: the pronunciation dictionary entries the job uses, as
        # they were when it was submitted. Fixed, like the input.
        "lexicon": job.lexicon,
        **_detail_beyond_summary(job),
    }


def _detail_beyond_summary(job: Job) -> dict:
    completed = job.status == Job.Status.COMPLETED
    return {
        # As the original contract says: only a completed job has a result and an audio file.
        "result_metadata": job.result_metadata if completed and job.result_metadata else None,
        "audio_file_id": str(job.audio_file_id) if completed and job.audio_file_id else None,
        "retry_count": job.retry_count,
        # Extension: the job this one re-renders (edit and re-render).
        "based_on": str(job.based_on_id) if job.based_on_id else None,
        # Extension: runs started. Above 1, a run was interrupted (a worker
        # killed or restarted) and the job resumed from its kept turns.
        "attempts": job.attempts,
        "expires_at": job.expires_at.isoformat() if job.expires_at else None,
    }


def job_etag(job: Job) -> str:
    """A strong ETag for a job's detail: a hash of everything in it but the
    input, which never changes once submitted (so it is not read to answer a
    304, and the hash follows any field later added to the detail)."""
    state = {**job_summary(job), **_detail_beyond_summary(job)}
    return quote_etag(hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:32])


IDEMPOTENCY_KEY_MAX_LENGTH = 255


def request_hash(data) -> str:
    """The same JSON document gives the same hash whatever its key order or
    spacing: a client's retry need not serialise byte for byte alike."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def version_source(user, data) -> tuple[Job | None, list[int], dict]:
    """``based_on`` and ``retake_turns`` (extensions of the original
    contract): the user's own job this one re-renders, and the turns to speak
    anew even if unchanged. Another user's job is "not found" like a made-up id."""
    if not isinstance(data, dict):
        return None, [], {}
    errors, source, retake = {}, None, []
    raw = data.get("based_on")
    if raw is not None:
        try:
            source = Job.objects.for_user(user).filter(pk=uuid.UUID(str(raw))).first()
        except ValueError:
            source = None
        if source is None:
            errors["based_on"] = _("No job of yours has this id.")
    raw_retake = data.get("retake_turns", [])
    turns = data.get("turns") if isinstance(data.get("turns"), list) else []
    if not isinstance(raw_retake, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(turns) for i in raw_retake
    ):
        errors["retake_turns"] = _("A list of turn positions (0 to the number of turns - 1).")
    elif raw_retake and raw is None:
        errors["retake_turns"] = _("Only with based_on: a retake is a new version of a job.")
    else:
        retake = raw_retake
    return source, retake, errors


def submit_job(request):
    # Idempotency-Key (an extension of the original contract): a client that
    # lost the response can retry and get the same job, never a second one.
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (1 <= len(key) <= IDEMPOTENCY_KEY_MAX_LENGTH and key.isascii() and key.isprintable()):
        return error_response(
            400,
            "VALIDATION_ERROR",
            _("The Idempotency-Key header is not valid."),
            {
                "Idempotency-Key": _("1 to %(max)s printable ASCII characters, e.g. a UUID.")
                % {"max": IDEMPOTENCY_KEY_MAX_LENGTH}
            },
        )
    try:
        data = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: arrays nested thousands deep exhaust the decoder's stack.
        return error_response(400, "VALIDATION_ERROR", _("The body is not valid JSON."), {"body": str(exc)})
    source, retake, errors = version_source(request.user, data)
    if errors:
        return error_response(400, "VALIDATION_ERROR", _("Some fields are not valid."), errors)
    try:
        provider, params = clean_job_request(data)
        job = Job.objects.submit(
            request.user,
            params,
            provider=provider,
            idempotency_key=key or "",
            request_hash=request_hash(data) if key else "",
            based_on=source,
            retake_turns=retake,
        )
    except JobRequestInvalid as invalid:
        return error_response(400, "VALIDATION_ERROR", _("Some fields are not valid."), invalid.errors)
    except JobLimitExceeded as limit:
        return error_response(
            429, "JOB_LIMIT_EXCEEDED", str(limit), {"current_jobs": limit.current_jobs, "max_jobs": limit.max_jobs}
        )
    except IdempotencyKeyReused as reused:
        return error_response(422, "IDEMPOTENCY_KEY_REUSED", str(reused), {"job_id": str(reused.job.pk)})
    if job.replayed:
        # Not created now: 200, the job as it is now, and a header that says so.
        response = JsonResponse(job_detail(job), status=200)
        response["Idempotent-Replayed"] = "true"
        return response
    return JsonResponse(job_detail(job), status=201)


def encode_cursor(job: Job) -> str:
    return base64.urlsafe_b64encode(f"{job.created_at.isoformat()}|{job.pk}".encode()).decode().rstrip("=")


def decode_cursor(value: str) -> tuple[datetime, uuid.UUID]:
    """(created_at, id) of the last job of the previous page; ValueError if
    it is not a cursor this API made."""
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        created_at, pk = text.split("|")
        created_at = datetime.fromisoformat(created_at)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(value) from exc
    if created_at.tzinfo is None:
        raise ValueError(value)
    return created_at, uuid.UUID(pk)


def list_jobs(request):
    errors = {}
    limit, offset = request.GET.get("limit", "20"), request.GET.get("offset", "0")
    try:
        limit = int(limit)
        if not 1 <= limit <= 100:
            raise ValueError
    except ValueError:
        errors["limit"] = _("Must be a whole number from %(low)s to %(high)s.") % {"low": 1, "high": 100}
    try:
        offset = int(offset)
        if offset < 0:
            raise ValueError
    except ValueError:
        errors["offset"] = _("Must be a whole number, 0 or more.")
    status = request.GET.get("status")
    if status and status not in Job.Status.values:
        errors["status"] = _("Unknown status; use one of %(statuses)s.") % {"statuses": ", ".join(Job.Status.values)}
    cursor = request.GET.get("cursor")
    if cursor:
        try:
            cursor = decode_cursor(cursor)
        except ValueError:
            errors["cursor"] = _("Not a cursor from this API: use next_cursor of the page before.")
        if offset:
            errors["offset"] = _("Give either a cursor or an offset, not both.")
    if errors:
        return error_response(400, "VALIDATION_ERROR", _("Some query parameters are not valid."), errors)
    # The total comes from the counts the database keeps (JobCount), not from
    # counting up to 100,000 rows on every page.
    counts = JobCount.objects.for_user(request.user).by_status()
    total = counts[status] if status else sum(counts.values())
    # A summary never shows the dialogue, and a job's input can hold 100,000
    # characters: a page of 100 jobs must not read megabytes it throws away.
    jobs = Job.objects.for_user(request.user).defer("input_params", "lexicon")
    if status:
        jobs = jobs.filter(status=status)
    if cursor:
        page = list(jobs.after(*cursor).newest_first()[: limit + 1])
    elif offset < total:
        page = list(jobs.page(offset, limit + 1))
    else:
        # Past the end there is nothing to fetch, and an offset beyond 64 bits
        # would overflow the database's integer (a 500) if it were sent.
        page = []
    # One row more than asked says whether there is a next page.
    more, page = len(page) > limit, page[:limit]
    return JsonResponse(
        {
            "items": [job_summary(job) for job in page],
            "total": total,
            "limit": limit,
            "offset": offset,
            "next_cursor": encode_cursor(page[-1]) if more else None,
        }
    )


@require_http_methods(["GET", "POST"])
@api_login_required
def jobs(request):
    if request.method == "POST":
        return submit_job(request)
    return list_jobs(request)


def _status_defer(request) -> tuple:
    # A poller that sends back the ETag it got (If-None-Match) mostly hears
    # 304 Not Modified: then the dialogue, up to 100,000 characters, is
    # neither read from the database nor encoded. Without the header the
    # job is read whole, as before.
    return ("input_params", "lexicon") if request.method == "GET" and "If-None-Match" in request.headers else ()


def _users_job(request, job_id, defer=()) -> Job | None:
    """The job read with the token (api_login_required's job_defer), or read
    now for a session request; None when it is not one of the user's jobs."""
    if request.api_job is not NOT_READ:
        return request.api_job
    try:
        return get_job_for_user(request.user, job_id, defer=defer)
    except Http404:
        return None


@require_http_methods(["GET", "DELETE"])
@api_login_required(job_defer=_status_defer)
def job(request, job_id):
    # With a token, the token and the job are one query (api_login_required).
    defer = _status_defer(request)
    conditional = bool(defer)
    job = _users_job(request, job_id, defer)
    if job is None:
        return job_not_found(job_id)
    if request.method == "DELETE" and not job.cancel():
        return error_response(
            409,
            "JOB_CANNOT_CANCEL",
            _("Only pending or processing jobs can be cancelled; this one is %(status)s.") % {"status": job.status},
            {"status": job.status},
        )
    etag = job_etag(job)
    if conditional:
        sent = parse_etags(request.headers["If-None-Match"])
        if etag in sent or "*" in sent:
            response = HttpResponseNotModified()
            response["ETag"] = etag
            return response
    if conditional:
        # One query for both deferred fields (each would otherwise be one).
        job.refresh_from_db(fields=["input_params", "lexicon"])
    response = JsonResponse(job_detail(job))  # (conditional: one query more, for the input)
    response["ETag"] = etag
    return response


# HEAD too: download managers ask for the size and Accept-Ranges first.
@require_safe
@api_login_required
def download(request, job_id):
    try:
        job = get_job_for_user(request.user, job_id)
    except Http404:
        return job_not_found(job_id)
    if job.status != Job.Status.COMPLETED or not job.audio:
        return error_response(
            404,
            "JOB_NOT_COMPLETED",
            _("The job is %(status)s; there is no audio yet.") % {"status": job.status},
            {"status": job.status},
        )
    return audio_response(request, job)


@require_GET
@api_login_required
def voices(request):
    providers = [
        {
            "name": provider.name,
            "label": provider.label,
            "capabilities": provider.capabilities.as_dict(),
            # An extension: which of a voice assignment's speed, pitch and
            # volume this provider honours, and in what range.
            "voice_settings": provider.settings_as_dict(),
            "voices": [voice.as_dict() for voice in provider.voices()],
        }
        for provider in available_providers().values()
    ]
    return JsonResponse({"providers": providers, "output_formats": list(OUTPUT_FORMATS)})

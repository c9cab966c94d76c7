"""JSON API v1: the user's pronunciation dictionary (``/api/v1/lexicon``).

Same model methods as the account page (LexiconEntry.objects.add,
entry.change); every query starts from the requesting user, so another
user's entry is a 404 like a missing one. Errors are the API's usual
``{"error", "message", "details"}``.
"""

import json

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from synthesis import lexicon
from synthesis.api import api_login_required, error_response
from synthesis.models import LexiconEntry, LexiconEntryInvalid, LexiconFull

FIELDS = ("written", "spoken", "kind", "case_sensitive")
MAX_LIMIT = 1000


def _invalid(details: dict) -> JsonResponse:
    return error_response(400, "VALIDATION_ERROR", _("Some fields are not valid."), details)


def _body(request) -> tuple[dict | None, JsonResponse | None]:
    """The JSON object sent, or the 400 to answer."""
    try:
        data = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return None, _invalid({"body": _("The body is not valid JSON: %(error)s") % {"error": exc}})
    if not isinstance(data, dict):
        return None, _invalid({"body": _("Send a JSON object with written, spoken, kind and case_sensitive.")})
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        return None, _invalid({name: _("Unknown field.") for name in unknown})
    return data, None


def _not_found(entry_id) -> JsonResponse:
    return error_response(
        404, "LEXICON_ENTRY_NOT_FOUND", _("No dictionary entry %(id)s.") % {"id": entry_id}, {"id": str(entry_id)}
    )


def _full(full: LexiconFull) -> JsonResponse:
    return error_response(
        409, "LEXICON_FULL", str(full), {"current_entries": full.current, "max_entries": full.maximum}
    )


def _list(request) -> JsonResponse:
    errors = {}
    limit, offset = request.GET.get("limit", "100"), request.GET.get("offset", "0")
    try:
        limit = int(limit)
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError
    except ValueError:
        errors["limit"] = _("Must be a whole number from 1 to %(max)s.") % {"max": MAX_LIMIT}
    try:
        offset = int(offset)
        if not 0 <= offset <= settings.TTS_MAX_LEXICON_ENTRIES:
            raise ValueError
    except ValueError:
        errors["offset"] = _("Must be a whole number from 0 to %(max)s.") % {"max": settings.TTS_MAX_LEXICON_ENTRIES}
    search = request.GET.get("q", "")
    if len(search) > 100:
        errors["q"] = _("At most 100 characters.")
    elif lexicon.FORBIDDEN_CHARS.search(search):
        errors["q"] = _("Control characters and invalid Unicode are not allowed.")
    if errors:
        return error_response(400, "VALIDATION_ERROR", _("Some query parameters are not valid."), errors)
    entries = LexiconEntry.objects.for_user(request.user)
    if search:
        entries = entries.filter(written__icontains=search)
    total = entries.count()
    page = entries[offset : offset + limit] if offset < total else []
    return JsonResponse(
        {
            "items": [entry.as_dict() for entry in page],
            "total": total,
            "limit": limit,
            "offset": offset,
            "max_entries": settings.TTS_MAX_LEXICON_ENTRIES,
        }
    )


def _create(request) -> JsonResponse:
    data, error = _body(request)
    if error:
        return error
    missing = {name: _("This field is required.") for name in ("written", "spoken") if name not in data}
    if missing:
        return _invalid(missing)
    try:
        entry = LexiconEntry.objects.add(
            request.user,
            written=data["written"],
            spoken=data["spoken"],
            kind=data.get("kind", LexiconEntry.Kind.RESPELLING),
            case_sensitive=data.get("case_sensitive", False),
        )
    except LexiconEntryInvalid as invalid:
        return _invalid(invalid.errors)
    except LexiconFull as full:
        return _full(full)
    response = JsonResponse(entry.as_dict(), status=201)
    response["Location"] = f"/api/v1/lexicon/{entry.pk}"
    return response


@require_http_methods(["GET", "POST"])
@api_login_required
def entries(request):
    if request.method == "POST":
        return _create(request)
    return _list(request)


@require_http_methods(["GET", "PUT", "PATCH", "DELETE"])
@api_login_required
def entry(request, entry_id):
    # Only ids that can be one: a 30-digit number would overflow the column (a 500).
    is_id = entry_id.isascii() and entry_id.isdigit() and len(entry_id) <= 18
    found = LexiconEntry.objects.for_user(request.user).filter(pk=int(entry_id)).first() if is_id else None
    if found is None:
        return _not_found(entry_id)
    if request.method == "GET":
        return JsonResponse(found.as_dict())
    if request.method == "DELETE":
        found.delete()
        return HttpResponse(status=204)
    data, error = _body(request)
    if error:
        return error
    if request.method == "PUT":
        # A whole entry: what is not sent goes back to its default.
        missing = {name: _("This field is required.") for name in ("written", "spoken") if name not in data}
        if missing:
            return _invalid(missing)
        data = {"kind": LexiconEntry.Kind.RESPELLING, "case_sensitive": False} | data
    try:
        found.change(**data)
    except LexiconEntryInvalid as invalid:
        return _invalid(invalid.errors)
    return JsonResponse(found.as_dict())

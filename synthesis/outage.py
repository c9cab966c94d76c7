"""What a client sees when the database is down, and when the code fails.

While PostgreSQL is unreachable or restarting every request that needs it
raises ``OperationalError`` or ``InterfaceError`` — at connect time (the
persistent connection failed its health check and the new one is refused),
or on a connection the server just closed. That is an outage, not a bug: the
answer is 503 with ``Retry-After``, as JSON on the API
(``{"error": "DATABASE_UNAVAILABLE", ...}``) and as a small plain page on the
site — never Django's HTML "Server Error (500)".

Two hooks, because Django turns an exception into a response at each
middleware layer (``convert_exception_to_response``), so no middleware can
wrap the others in a ``try``:

- ``DatabaseUnavailableMiddleware.process_exception`` catches what views
  raise (including the session and user lookups, which the session and auth
  middleware leave lazy until a view touches ``request.user``);
- ``server_error`` (``handler500``) answers for everything else — an error
  inside a middleware (a session save) or any other unhandled exception, as
  JSON on the API. With ``DEBUG`` on, Django shows its debug page instead.
"""

import logging
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.utils.html import escape
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.defaults import server_error as django_server_error

log = logging.getLogger("synthesis.outage")

DATABASE_ERRORS = (OperationalError, InterfaceError)
# A PostgreSQL restart or fail-over takes seconds; clients should not hammer it.
RETRY_AFTER_SECONDS = 10


# Plain on purpose: no template (rendering must not need the database), no
# inline style (the Content-Security-Policy of synthesis/security.py allows none).
def unavailable_page() -> str:
    return """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title} · ttsjobs</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
<h1>{title}</h1>
<p>{text}</p>
</body></html>
""".format(
        lang=escape(get_language() or "en"),
        title=escape(_("Temporarily unavailable")),
        text=escape(
            _("ttsjobs cannot reach its database right now. Your jobs are safe; please try again in a few seconds.")
        ),
    )


def is_api(request) -> bool:
    return request.path.startswith("/api/")


def database_unavailable(request, error=None) -> HttpResponse:
    # No template, no context processors: rendering must not touch the
    # database (request.user would) while it is down.
    if is_api(request):
        response = JsonResponse(
            {
                "error": "DATABASE_UNAVAILABLE",
                "message": _("The service cannot reach its database right now; try again in a few seconds."),
                "details": {},
            },
            status=503,
        )
    else:
        response = HttpResponse(unavailable_page(), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    if error is not None:
        # One line, no traceback: an outage would otherwise flood the log.
        log.warning(
            "database unavailable path=%s error=%s: %s", request.path, error.__class__.__name__, str(error).strip()
        )
    return response


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, DATABASE_ERRORS):
            return database_unavailable(request, exception)
        return None


def server_error(request):
    """handler500. Django calls it inside its ``except`` block (after logging
    the error), so the exception is ``sys.exc_info()``'s."""
    error = sys.exc_info()[1]
    if isinstance(error, DATABASE_ERRORS):
        return database_unavailable(request)
    if is_api(request):
        return JsonResponse(
            {
                "error": "INTERNAL_ERROR",
                "message": _("Something went wrong on our side; the error has been logged."),
                "details": {},
            },
            status=500,
        )
    return django_server_error(request)

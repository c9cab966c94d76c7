"""Which language the pages and the API speak.

Pages: Django's LocaleMiddleware picks the language cookie (set by the
switcher in the page header), else Accept-Language (zh-TW, zh-HK, zh-Hant,
zh → zh-hant). A logged-in user's choice is also saved (LanguagePreference,
by account_views.set_language) and copied into the session at login
(models.restore_language), where UserLanguageMiddleware finds it without a
query: it wins over the cookie, and the cookie is brought in line so the
choice stays after logging out.

API: the error messages follow Accept-Language alone (a token client has no
cookie, and a browser's page choice is not an API client's); error codes
never change.
"""

from django.conf import settings
from django.utils import translation
from django.utils.translation.trans_real import parse_accept_lang_header

SESSION_KEY = "ui_language"


def supported(code: str | None) -> str | None:
    """The language of ours ``code`` stands for ("zh-TW" → "zh-hant"), or None."""
    if not code:
        return None
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return None


def accept_language(request) -> str:
    """The first language of the Accept-Language header we speak, else the default."""
    for code, _quality in parse_accept_lang_header(request.headers.get("Accept-Language", "")):
        if code == "*":
            break
        language = supported(code)
        if language:
            return language
    return settings.LANGUAGE_CODE


class UserLanguageMiddleware:
    """A logged-in user's saved language (kept in the session) for the pages."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        language = supported(session.get(SESSION_KEY)) if session is not None else None
        if request.path.startswith("/api/"):
            # Every API answer (a 413, a 503 of an outage included) speaks
            # the client's Accept-Language, whatever the page cookie says.
            language = None
            translation.activate(accept_language(request))
            request.LANGUAGE_CODE = translation.get_language()
        elif language:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        response = self.get_response(request)
        if language and request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME) != language:
            set_language_cookie(response, language)
        return response


def set_language_cookie(response, language: str) -> None:
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )

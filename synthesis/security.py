"""Who is knocking (the client address used for login throttling, the log
line of a failed login) and the headers every response carries."""

import logging

from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver
from django.shortcuts import render

log = logging.getLogger("synthesis.security")


def client_ip(request) -> str:
    """The client's address: REMOTE_ADDR, or, behind a proxy, the header
    named by TRUSTED_CLIENT_IP_HEADER (and nothing else: any other header is
    the client's word). In X-Forwarded-For the last entry is the one our proxy
    appended; the ones before it came from the client."""
    header = settings.TRUSTED_CLIENT_IP_HEADER
    if header:
        value = request.META.get("HTTP_" + header.upper().replace("-", "_"), "")
        address = value.split(",")[-1].strip()
        if address:
            return address
    return request.META.get("REMOTE_ADDR", "")


@receiver(user_login_failed, dispatch_uid="log_failed_login")
def log_failed_login(sender, credentials, request=None, **kwargs):
    # Django hands the credentials over with the password already masked;
    # only the username is written, never what was typed as the password.
    log.warning(
        "login failed username=%r address=%s path=%s",
        credentials.get("username", ""),
        client_ip(request) if request is not None else "-",
        request.path if request is not None else "-",
    )


def lockout_response(request, original_response=None, credentials=None):
    """django-axes' answer to a locked-out login (AXES_LOCKOUT_CALLABLE): a
    plain page that says what happened and for how long."""
    minutes = max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    context = {"minutes": minutes, "failure_limit": settings.AXES_FAILURE_LIMIT}
    return render(request, "registration/locked_out.html", context, status=429)


# --- response headers -----------------------------------------------------------

# Nothing inline: no <script> or <style> elements, no style="" or on…=""
# attributes. Pages use static files only (htmx is told not to inject its
# indicator <style>: the htmx-config meta tag in base.html), and the
# timeline is drawn with SVG attributes instead of inline widths.
CSP_DIRECTIVES = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "media-src": ["'self'"],
    "connect-src": ["'self'"],
    "font-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
# Powerful features no page here uses, turned off for the site and anything
# it might ever embed.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "usb",
    )
)


def content_security_policy() -> str:
    directives = {name: list(sources) for name, sources in CSP_DIRECTIVES.items()}
    # Audio in a bucket: the player follows a redirect to a presigned URL there.
    directives["media-src"] += settings.CSP_MEDIA_SOURCES
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


class SecurityHeadersMiddleware:
    """Content-Security-Policy and Permissions-Policy on every response, and
    ``Cache-Control: private, no-store`` on every one that does not say
    otherwise: pages, API answers and audio are the user's own, and no shared
    cache (nor the browser's disk) should keep them. Static files and the
    voice samples set their own Cache-Control and keep it."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.csp = content_security_policy()

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.csp)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        response.headers.setdefault("Cache-Control", "private, no-store")
        return response

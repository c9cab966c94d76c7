"""Who is knocking: the client address used for login throttling, and the log
line of a failed login."""

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

"""Site-wide pages: our own error pages, the favicon, and the formatting
filters every page shares."""

from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.utils import timezone
from django.views import defaults

from synthesis.templatetags.job_format import ago, clock


def test_unknown_page_is_our_404(alice_client):
    response = alice_client.get("/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html and 'href="/jobs/"' in html and "site.css" in html


def test_server_error_page_renders_without_any_context():
    # Django renders 500.html with an empty context: it must not need one.
    response = defaults.server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()


def test_forbidden_page_is_ours(rf):
    response = defaults.permission_denied(rf.get("/"), Exception())
    assert response.status_code == 403 and "Not allowed" in response.content.decode()


def test_favicon(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("favicon.svg")
    page = client.get("/accounts/login/").content.decode()
    assert 'rel="icon"' in page


@pytest.mark.parametrize(
    ("ms", "shown"),
    [(4600, "0:04"), (4999, "0:04"), (5000, "0:05"), (59_999, "0:59"), (3_600_000, "1:00:00"), (None, "")],
)
def test_clock_cuts_like_a_player(ms, shown):
    # The player beside "0:05 of audio" shows 0:04 for 4.6 s: both cut now.
    assert clock(ms) == shown


def test_ago_is_short():
    now = timezone.now()
    assert ago(now - timedelta(seconds=30), now) == "just now"
    assert ago(now - timedelta(minutes=5), now) == "5 min ago"
    assert ago(now - timedelta(hours=3, minutes=5), now) == "3 h ago"
    assert ago(now - timedelta(days=2), now) == "2 days ago"
    assert ago(now - timedelta(days=40), now) != ""

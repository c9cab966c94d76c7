"""Log in, log out, change password: Django's views with our templates."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from synthesis.models import ApiToken

pytestmark = pytest.mark.django_db

User = get_user_model()


def test_login_page_and_login_lands_on_the_job_list(client, alice):
    html = client.get(reverse("login")).content.decode()
    assert '<label for="id_username">Username</label>' in html and "csrfmiddlewaretoken" in html
    response = client.post(reverse("login"), {"username": "alice", "password": "alice-password"})
    assert response["Location"] == reverse("job_list")


def test_login_keeps_next(client, alice):
    response = client.get(reverse("job_new"))
    assert response["Location"] == f"{reverse('login')}?next=/jobs/new/"
    html = client.get(response["Location"]).content.decode()
    assert 'name="next" value="/jobs/new/"' in html
    response = client.post(reverse("login"), {"username": "alice", "password": "alice-password", "next": "/jobs/new/"})
    assert response["Location"] == "/jobs/new/"


def test_wrong_password_is_refused(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200 and "enter a correct username and password" in response.content.decode()


def test_logout_is_a_post_and_ends_the_session(alice_client):
    assert 'action="/accounts/logout/"' in alice_client.get(reverse("job_list")).content.decode()
    response = alice_client.post(reverse("logout"))
    assert response["Location"] == reverse("login")
    assert alice_client.get(reverse("job_list")).status_code == 302


def test_following_a_logout_link_asks_with_a_button_and_keeps_the_session(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.get(reverse("logout"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "logged in as alice" in html
    form = re.search(r'<form method="post" action="/accounts/logout/".*?</form>', html, re.S).group(0)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    assert client.get(reverse("job_list")).status_code == 200  # a GET logs nobody out
    # The button's POST, with its CSRF token, logs out; without the token it is refused.
    assert client.post(reverse("logout")).status_code == 403
    assert client.post(reverse("logout"), {"csrfmiddlewaretoken": token})["Location"] == reverse("login")
    assert client.get(reverse("job_list")).status_code == 302


def test_logout_link_when_logged_out_goes_to_the_login_page(client):
    assert client.get(reverse("logout"))["Location"] == reverse("login")


def test_password_change(alice_client, alice, client):
    html = alice_client.get(reverse("password_change")).content.decode()
    assert '<label for="id_old_password">' in html
    response = alice_client.post(
        reverse("password_change"),
        {
            "old_password": "alice-password",
            "new_password1": "a much better secret 42",
            "new_password2": "a much better secret 42",
        },
    )
    assert response["Location"] == reverse("password_change_done")
    assert "Password changed" in alice_client.get(response["Location"]).content.decode()
    alice.refresh_from_db()
    assert alice.check_password("a much better secret 42")


def test_password_change_needs_login(client):
    assert client.get(reverse("password_change")).status_code == 302


def dangling_references(html: str) -> list[str]:
    """aria-describedby/-labelledby ids that no element on the page has."""
    ids = set(re.findall(r' id="([^"]+)"', html))
    refs = [ref for value in re.findall(r'aria-(?:describedby|labelledby)="([^"]+)"', html) for ref in value.split()]
    return [ref for ref in refs if ref not in ids]


def test_screen_readers_find_the_help_and_errors_each_field_points_at(alice_client, client):
    pages = [
        alice_client.get(reverse("password_change")),
        alice_client.post(
            reverse("password_change"), {"old_password": "x", "new_password1": "a", "new_password2": "b"}
        ),
    ]
    alice_client.post(reverse("logout"))
    pages += [client.get(reverse("login")), client.post(reverse("login"), {"username": "alice", "password": "nope"})]
    htmls = [response.content.decode() for response in pages]
    assert all(dangling_references(html) == [] for html in htmls), [dangling_references(html) for html in htmls]
    assert 'aria-describedby="id_new_password1_helptext' in htmls[0]  # there was something to check


def test_changing_the_password_revokes_the_api_tokens_and_says_so(alice_client, alice, client):
    """The finding: a token survived a password change."""
    _, secret = ApiToken.objects.create_token(alice, "nightly")
    _, bob_secret = ApiToken.objects.create_token(User.objects.create_user("bob"), "bob's")
    assert "revokes all your" in alice_client.get(reverse("password_change")).content.decode()
    response = alice_client.post(
        reverse("password_change"),
        {
            "old_password": "alice-password",
            "new_password1": "a much better secret 42",
            "new_password2": "a much better secret 42",
        },
        follow=True,
    )
    assert "Your API tokens have been revoked" in response.content.decode()
    assert ApiToken.objects.authenticate(secret) is None
    assert client.get(reverse("api_jobs"), HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401
    assert ApiToken.objects.authenticate(bob_secret) is not None  # only hers


def test_a_password_set_by_staff_in_the_admin_revokes_the_tokens_too(staff_client, alice):
    _, secret = ApiToken.objects.create_token(alice, "nightly")
    response = staff_client.post(
        reverse("admin:auth_user_password_change", args=[alice.pk]),
        {"password1": "a much better secret 42", "password2": "a much better secret 42"},
    )
    assert response.status_code == 302
    assert ApiToken.objects.authenticate(secret) is None


def test_logging_in_and_other_saves_keep_the_tokens(client, alice):
    _, secret = ApiToken.objects.create_token(alice, "nightly")
    client.post(reverse("login"), {"username": "alice", "password": "alice-password"})
    alice.first_name = "Alice"
    alice.save()
    assert ApiToken.objects.authenticate(secret) is not None


# --- login throttling (issue 11) ----------------------------------------------


def log_in(client, username, password, url=None, **extra):
    return client.post(url or reverse("login"), {"username": username, "password": password}, **extra)


@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_repeated_failures_lock_the_username_out_with_a_clear_page(client, staff, settings, url):
    """The finding: no throttling, on the site login and on the admin's."""
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(2):
        assert log_in(client, "staff", "wrong", url).status_code == 200
    locked = log_in(client, "staff", "wrong", url)
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    assert "paused for 15 minutes" in locked.content.decode()
    # Even the right password, from another address, waits out the cool-off.
    assert log_in(client, "staff", "staff-password", url, REMOTE_ADDR="10.9.9.9").status_code == 429
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        assert log_in(client, "staff", "staff-password", url).status_code == 302


def test_one_address_trying_many_usernames_is_locked_out(client, alice, bob, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for name in ("alice", "bob", "carol"):
        log_in(client, name, "guess")
    assert log_in(client, "dave", "guess").status_code == 429
    assert log_in(client, "alice", "alice-password").status_code == 429
    # Another address still gets in.
    assert log_in(client, "alice", "alice-password", REMOTE_ADDR="10.1.2.3").status_code == 302


def test_a_forwarded_for_header_is_ignored_unless_configured(client, alice, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for n in range(2):
        log_in(client, f"user{n}", "guess", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
    # Made-up X-Forwarded-For values did not spread the guesses over addresses.
    assert log_in(client, "nobody", "guess", HTTP_X_FORWARDED_FOR="203.0.113.99").status_code == 429


def test_behind_a_proxy_the_trusted_header_is_the_address(client, alice, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.TRUSTED_CLIENT_IP_HEADER = "X-Forwarded-For"
    # The proxy appends the real address last; what the client sent comes first.
    for n in range(2):
        log_in(client, f"user{n}", "guess", HTTP_X_FORWARDED_FOR=f"1.1.1.1, 203.0.113.{n}", REMOTE_ADDR="10.0.0.2")
    assert log_in(client, "user9", "guess", HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.0").status_code == 429
    response = log_in(client, "alice", "alice-password", HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.7")
    assert response.status_code == 302


def test_a_failed_login_is_logged_without_the_password(client, alice, caplog):
    with caplog.at_level("WARNING", logger="synthesis.security"):
        log_in(client, "alice", "hunter2-secret", REMOTE_ADDR="192.0.2.5")
    [line] = [r.getMessage() for r in caplog.records if r.name == "synthesis.security"]
    assert line == "login failed username='alice' address=192.0.2.5 path=/accounts/login/"
    assert "hunter2-secret" not in caplog.text


def test_api_tokens_are_not_throttled_as_logins(client, alice, settings):
    settings.AXES_FAILURE_LIMIT = 1
    _, secret = ApiToken.objects.create_token(alice, "script")
    for _ in range(3):
        assert client.get(reverse("api_jobs"), HTTP_AUTHORIZATION="Bearer tts_wrong").status_code == 401
    assert client.get(reverse("api_jobs"), HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200

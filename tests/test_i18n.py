"""The UI language: from Accept-Language, switched in the header (Django's
set_language), remembered for a logged-in user; API messages follow
Accept-Language while the error codes stay."""

import pytest
from django.test import Client
from django.urls import reverse

from synthesis.models import LanguagePreference
from tests.conftest import dialogue

ZH = {"Accept-Language": "zh-TW,zh;q=0.9,en;q=0.5"}


def switch(client, language, next_url="/jobs/"):
    return client.post(reverse("set_language"), {"language": language, "next": next_url})


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("zh-TW,zh;q=0.9", "zh-hant"),
        ("zh-Hant", "zh-hant"),
        ("zh-HK", "zh-hant"),
        ("zh", "zh-hant"),
        ("en-US,en;q=0.9", "en"),
        ("fr-FR,fr;q=0.9", "en"),
        ("", "en"),
    ],
)
def test_the_login_page_speaks_the_browsers_language(client, db, header, language):
    response = client.get(reverse("login"), headers={"Accept-Language": header} if header else {})
    assert response["Content-Language"] == language
    assert f'<html lang="{language}">' in response.content.decode()


def test_the_header_switches_the_language_with_a_csrf_checked_post(db):
    checked = Client(enforce_csrf_checks=True)
    assert checked.post(reverse("set_language"), {"language": "zh-hant", "next": "/"}).status_code == 403
    page = checked.get(reverse("login"))
    html = page.content.decode()
    assert f'action="{reverse("set_language")}"' in html and 'name="csrfmiddlewaretoken"' in html
    response = checked.post(
        reverse("set_language"),
        {"language": "zh-hant", "next": "/accounts/login/", "csrfmiddlewaretoken": page.cookies["csrftoken"].value},
    )
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert checked.get(reverse("login"))["Content-Language"] == "zh-hant"


def test_a_get_does_not_switch(client, db):
    assert client.get(reverse("set_language") + "?language=zh-hant").status_code == 405


def test_an_unknown_language_changes_nothing(alice_client, alice):
    switch(alice_client, "fr")
    assert alice_client.get(reverse("job_list"))["Content-Language"] == "en"
    assert not LanguagePreference.objects.filter(user=alice).exists()


def test_a_logged_in_users_choice_is_saved_and_restored_at_the_next_login(alice_client, alice):
    switch(alice_client, "zh-hant")
    assert LanguagePreference.objects.get(user=alice).language == "zh-hant"
    alice_client.post(reverse("logout"))

    # Another browser (no cookie) whose Accept-Language says English.
    elsewhere = Client(headers={"Accept-Language": "en-US"})
    assert elsewhere.get(reverse("login"))["Content-Language"] == "en"
    elsewhere.post(reverse("login"), {"username": "alice", "password": "alice-password"})
    response = elsewhere.get(reverse("job_list"))
    assert response["Content-Language"] == "zh-hant"
    # The cookie follows, so the login page stays Chinese after logging out.
    assert response.cookies["django_language"].value == "zh-hant"
    elsewhere.post(reverse("logout"))
    assert elsewhere.get(reverse("login"))["Content-Language"] == "zh-hant"


def test_the_saved_choice_wins_over_accept_language(alice, client):
    LanguagePreference.objects.create(user=alice, language="en")
    client.force_login(alice)
    assert client.get(reverse("job_list"), headers=ZH)["Content-Language"] == "en"


def test_without_a_saved_choice_accept_language_decides(alice_client):
    assert alice_client.get(reverse("job_list"), headers=ZH)["Content-Language"] == "zh-hant"


def test_switching_back_to_english_is_saved_too(alice_client, alice):
    switch(alice_client, "zh-hant")
    switch(alice_client, "en")
    assert LanguagePreference.objects.get(user=alice).language == "en"
    assert alice_client.get(reverse("job_list"), headers=ZH)["Content-Language"] == "en"


def test_the_api_follows_accept_language_not_the_page_choice(alice_client):
    switch(alice_client, "zh-hant")
    response = alice_client.get("/api/v1/jobs", headers={"Accept-Language": "en"})
    assert response["Content-Language"] == "en"
    response = alice_client.get("/api/v1/jobs", headers=ZH)
    assert response["Content-Language"] == "zh-hant"


def test_api_error_codes_and_field_names_do_not_change_with_the_language(alice_client):
    body = dialogue()
    del body["provider"]
    body["gap_ms"] = -1
    answers = [
        alice_client.post("/api/v1/jobs", body, content_type="application/json", headers=headers).json()
        for headers in ({"Accept-Language": "en"}, ZH)
    ]
    assert [a["error"] for a in answers] == ["VALIDATION_ERROR", "VALIDATION_ERROR"]
    assert set(answers[0]["details"]) == set(answers[1]["details"]) == {"provider", "gap_ms"}

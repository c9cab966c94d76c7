"""/api/v1/lexicon: a user's pronunciation dictionary over the JSON API."""

import json

import pytest
from django.test import Client

from synthesis.models import ApiToken, LexiconEntry
from tests.conftest import dialogue

pytestmark = pytest.mark.django_db

URL = "/api/v1/lexicon"


@pytest.fixture
def api(alice):
    _, secret = ApiToken.objects.create_token(alice, "lexicon")
    # Token requests need no CSRF token, even with checks on.
    return Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {secret}"})


def send(client, method, url, body):
    if method in ("get", "delete"):
        return getattr(client, method)(url)
    return getattr(client, method)(url, data=json.dumps(body), content_type="application/json")


def add(user, written, spoken="x", **fields):
    return LexiconEntry.objects.add(user, written=written, spoken=spoken, **fields)


def test_create_read_update_delete(api, alice):
    response = send(api, "post", URL, {"written": "  Nguyen ", "spoken": "win"})
    assert response.status_code == 201
    created = response.json()
    assert response["Location"] == f"{URL}/{created['id']}"
    assert created | {"created_at": None, "updated_at": None} == {
        "id": created["id"],
        "written": "Nguyen",  # trimmed
        "spoken": "win",
        "kind": "respelling",
        "case_sensitive": False,
        "created_at": None,
        "updated_at": None,
    }
    entry_url = f"{URL}/{created['id']}"
    assert api.get(entry_url).json() == created
    patched = send(api, "patch", entry_url, {"spoken": "n'u:jEn", "kind": "espeak"}).json()
    assert (patched["written"], patched["spoken"], patched["kind"]) == ("Nguyen", "n'u:jEn", "espeak")
    assert patched["updated_at"] >= created["updated_at"]
    replaced = send(api, "put", entry_url, {"written": "Nguyen", "spoken": "win"}).json()
    assert replaced["kind"] == "respelling"  # PUT: what is not sent is the default
    assert api.delete(entry_url).status_code == 204
    assert api.get(entry_url).status_code == 404
    assert not LexiconEntry.objects.for_user(alice).exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"spoken": "win"}, "written"),
        ({"written": "Nguyen"}, "spoken"),
        ({"written": "", "spoken": "win"}, "written"),
        ({"written": 5, "spoken": "win"}, "written"),
        ({"written": "Nguyen", "spoken": "win", "kind": "morse"}, "kind"),
        ({"written": "Nguyen", "spoken": "win", "case_sensitive": "no"}, "case_sensitive"),
        ({"written": "Nguyen", "spoken": "w]]in", "kind": "espeak"}, "spoken"),
        ({"written": "Nguyen", "spoken": "win", "colour": "red"}, "colour"),
        ({"written": "a\x00b", "spoken": "win"}, "written"),
        ({"written": "ok", "spoken": "lone \ud800"}, "spoken"),
        (["Nguyen", "win"], "body"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, alice, body, field):
    response = send(api, "post", URL, body)
    assert response.status_code == 400
    assert response.json()["error"] == "VALIDATION_ERROR"
    assert field in response.json()["details"]
    assert not LexiconEntry.objects.exists()


def test_not_json_is_a_400(api):
    response = api.post(URL, data="{nope", content_type="application/json")
    assert response.status_code == 400 and "body" in response.json()["details"]


def test_the_same_word_twice_is_refused(api, alice):
    add(alice, "Nguyen")
    for written in ("Nguyen", "nguyen", " NGUYEN "):
        response = send(api, "post", URL, {"written": written, "spoken": "win"})
        assert response.status_code == 400, written
        assert "Nguyen" in response.json()["details"]["written"]
    # Different case is another entry when both are case-sensitive.
    add(alice, "US", case_sensitive=True)
    assert send(api, "post", URL, {"written": "us", "spoken": "us", "case_sensitive": True}).status_code == 201


def test_an_edit_to_a_clashing_word_is_refused(api, alice):
    add(alice, "Nguyen")
    other = add(alice, "tomato")
    response = send(api, "patch", f"{URL}/{other.pk}", {"written": "NGUYEN"})
    assert response.status_code == 400 and "written" in response.json()["details"]
    other.refresh_from_db()
    assert other.written == "tomato"


def test_another_users_entries_are_404_and_untouched(api, bob):
    bobs = add(bob, "Bob", "Robert")
    for method in ("get", "patch", "put", "delete"):
        response = send(api, method, f"{URL}/{bobs.pk}", {"written": "Hacked", "spoken": "x"})
        assert response.status_code == 404, method
        assert response.json()["error"] == "LEXICON_ENTRY_NOT_FOUND"
    bobs.refresh_from_db()
    assert (bobs.written, bobs.spoken) == ("Bob", "Robert")
    assert api.get(URL).json()["total"] == 0
    for made_up in ("99999999", "abc", "1" * 40, "²"):
        assert api.get(f"{URL}/{made_up}").status_code == 404


def test_list_pages_in_order_of_the_written_form(api, alice, bob):
    for word in ("delta", "alpha", "charlie", "bravo", "echo"):
        add(alice, word)
    add(bob, "aardvark")
    page = api.get(URL, {"limit": 2, "offset": 1}).json()
    assert [e["written"] for e in page["items"]] == ["bravo", "charlie"]
    assert (page["total"], page["limit"], page["offset"], page["max_entries"]) == (5, 2, 1, 1000)
    assert [e["written"] for e in api.get(URL, {"offset": 4}).json()["items"]] == ["echo"]
    assert api.get(URL, {"offset": 5}).json()["items"] == []
    assert [e["written"] for e in api.get(URL, {"q": "HAR"}).json()["items"]] == ["charlie"]


@pytest.mark.parametrize(
    "query, field",
    [
        ({"limit": 0}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"q": "x" * 101}, "q"),
        ({"q": "a\x00"}, "q"),
    ],
)
def test_bad_list_parameters_are_400(api, query, field):
    response = api.get(URL, query)
    assert response.status_code == 400 and field in response.json()["details"]


def test_a_thousand_entries_and_no_more(api, alice):
    LexiconEntry.objects.bulk_create(LexiconEntry(owner=alice, written=f"word{i}", spoken="x") for i in range(999))
    assert send(api, "post", URL, {"written": "last", "spoken": "x"}).status_code == 201
    response = send(api, "post", URL, {"written": "one more", "spoken": "x"})
    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "LEXICON_FULL"
    assert body["details"] == {"current_entries": 1000, "max_entries": 1000}
    assert "1,000" in body["message"]
    assert LexiconEntry.objects.for_user(alice).count() == 1000


def test_requests_need_a_login_or_token_and_session_writes_need_csrf(client, alice):
    assert client.get(URL).status_code == 401
    session = Client(enforce_csrf_checks=True)
    session.force_login(alice)
    assert session.get(URL).status_code == 200
    assert send(session, "post", URL, {"written": "a", "spoken": "b"}).status_code == 403


def test_a_job_shows_the_entries_it_uses(api, alice):
    add(alice, "Bob", "Robert")
    add(alice, "Alice", "a l'i: s", kind="espeak")
    add(alice, "unused", "x")
    job = send(api, "post", "/api/v1/jobs", dialogue()).json()
    assert job["lexicon"] == [
        {"written": "Alice", "spoken": "a l'i: s", "kind": "espeak", "case_sensitive": False, "applied": True},
        {"written": "Bob", "spoken": "Robert", "kind": "respelling", "case_sensitive": False, "applied": True},
    ]
    LexiconEntry.objects.filter(written="Bob").update(spoken="Bobby")
    assert api.get(f"/api/v1/jobs/{job['id']}").json()["lexicon"] == job["lexicon"]


def test_voices_say_which_phonemes_each_provider_takes(api):
    providers = {p["name"]: p["capabilities"] for p in api.get("/api/v1/voices").json()["providers"]}
    assert providers["espeak"]["phoneme_alphabets"] == ["espeak"]

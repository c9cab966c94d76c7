"""The pronunciation dictionary page (/account/pronunciation/)."""

import pytest
from django.test import Client

from synthesis.models import LexiconEntry

pytestmark = pytest.mark.django_db

URL = "/account/pronunciation/"
HX = {"HTTP_HX_REQUEST": "true"}


def add(user, written, spoken="x", **fields):
    return LexiconEntry.objects.add(user, written=written, spoken=spoken, **fields)


def entries(user):
    return list(LexiconEntry.objects.for_user(user).values_list("written", "spoken", "kind", "case_sensitive"))


def test_the_page_needs_a_login(client):
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_page_lists_only_your_entries(alice_client, alice, bob):
    add(alice, "Nguyen", "win")
    add(alice, "台積電", "台積 電")
    add(bob, "Bob", "Robert")
    page = alice_client.get(URL).content.decode()
    assert "Nguyen" in page and "台積 電" in page and "Robert" not in page
    assert "2 entries of at most 1000" in page
    assert 'href="/account/pronunciation/"' in page  # the header links here


def test_htmx_gets_the_panel_only(alice_client, alice):
    add(alice, "Nguyen", "win")
    response = alice_client.get(URL, **HX)
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="lexicon-panel">') and "<html" not in body
    assert "HX-Request" in response["Vary"]


def test_adding_an_entry_redirects_back(alice_client, alice):
    response = alice_client.post(
        URL, {"written": " Nguyen ", "spoken": "win", "kind": "respelling", "case_sensitive": "on"}
    )
    assert response.status_code == 302 and response["Location"] == URL
    assert entries(alice) == [("Nguyen", "win", "respelling", True)]
    assert "will be said as" in alice_client.get(URL).content.decode()


def test_adding_with_htmx_re_renders_the_panel(alice_client, alice):
    response = alice_client.post(URL, {"written": "tomato", "spoken": "t@m'A:t#oU", "kind": "espeak"}, **HX)
    assert response.status_code == 200
    body = response.content.decode()
    assert "t@m&#x27;A:t#oU" in body and 'hx-swap-oob="true"' in body
    assert entries(alice) == [("tomato", "t@m'A:t#oU", "espeak", False)]


@pytest.mark.parametrize(
    "data, message",
    [
        ({"written": "", "spoken": "win", "kind": "respelling"}, "This field is required."),
        ({"written": "Nguyen", "spoken": "w]]", "kind": "espeak"}, "Phonemes cannot contain"),
        ({"written": "Nguyen", "spoken": "win", "kind": "morse"}, "Select a valid choice."),
        ({"written": "...", "spoken": "win", "kind": "respelling"}, "at least one letter or digit"),
        ({"written": "nguyen", "spoken": "win", "kind": "respelling"}, "You already have an entry for “Nguyen”"),
    ],
)
def test_bad_entries_are_shown_with_the_reason(alice_client, alice, data, message):
    add(alice, "Nguyen", "noo-yen")
    response = alice_client.post(URL, data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert entries(alice) == [("Nguyen", "noo-yen", "respelling", False)]


def test_a_full_dictionary_says_so(alice_client, alice, settings):
    settings.TTS_MAX_LEXICON_ENTRIES = 2
    add(alice, "one")
    add(alice, "two")
    response = alice_client.post(URL, {"written": "three", "spoken": "3", "kind": "respelling"})
    assert "already has 2 entries; the limit is 2" in response.content.decode()
    assert len(entries(alice)) == 2


def test_editing_an_entry(alice_client, alice):
    entry = add(alice, "Nguyen", "win")
    page = alice_client.get(f"{URL}{entry.pk}/").content.decode()
    assert 'value="Nguyen"' in page and 'value="win"' in page
    response = alice_client.post(f"{URL}{entry.pk}/", {"written": "Nguyen", "spoken": "noo-yen", "kind": "respelling"})
    assert response.status_code == 302 and response["Location"] == URL
    assert entries(alice) == [("Nguyen", "noo-yen", "respelling", False)]
    bad = alice_client.post(f"{URL}{entry.pk}/", {"written": "Nguyen", "spoken": "", "kind": "respelling"})
    assert bad.status_code == 200 and "This field is required." in bad.content.decode()


def test_deleting_an_entry(alice_client, alice):
    entry = add(alice, "Nguyen", "win")
    assert alice_client.get(f"{URL}{entry.pk}/delete").status_code == 405
    response = alice_client.post(f"{URL}{entry.pk}/delete")
    assert response.status_code == 302
    assert entries(alice) == []
    again = add(alice, "tomato")
    htmx = alice_client.post(f"{URL}{again.pk}/delete", **HX)
    assert htmx.status_code == 200 and "No entries yet." in htmx.content.decode()


def test_another_users_entry_is_not_found(alice_client, bob):
    theirs = add(bob, "Bob", "Robert")
    assert alice_client.get(f"{URL}{theirs.pk}/").status_code == 404
    assert (
        alice_client.post(f"{URL}{theirs.pk}/", {"written": "x", "spoken": "y", "kind": "respelling"}).status_code
        == 404
    )
    assert alice_client.post(f"{URL}{theirs.pk}/delete").status_code == 404
    assert entries(bob) == [("Bob", "Robert", "respelling", False)]


def test_forms_are_csrf_checked(alice, bob):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    entry = add(alice, "Nguyen", "win")
    assert client.post(URL, {"written": "a", "spoken": "b", "kind": "respelling"}).status_code == 403
    assert client.post(f"{URL}{entry.pk}/delete").status_code == 403
    assert client.post(f"{URL}import", {"lines": "a = b"}).status_code == 403
    page = client.get(URL)
    token = page.cookies["csrftoken"].value
    ok = client.post(URL, {"written": "a", "spoken": "b", "kind": "respelling", "csrfmiddlewaretoken": token})
    assert ok.status_code == 302


def test_importing_many_lines(alice_client, alice):
    add(alice, "Nguyen", "noo-yen")
    lines = "Nguyen = win\n台積電 = 台積 電\n\nno separator here\nSQL = sequel\n... = dots\n"
    response = alice_client.post(f"{URL}import", {"lines": lines})
    assert response.status_code == 200  # problems are shown on the page
    body = response.content.decode()
    assert "Line 3" in body and "No “=”" in body
    assert "Line 5" in body and "at least one letter or digit" in body
    assert sorted(entries(alice)) == [
        ("Nguyen", "win", "respelling", False),
        ("SQL", "sequel", "respelling", False),
        ("台積電", "台積 電", "respelling", False),
    ]
    clean = alice_client.post(f"{URL}import", {"lines": "Bob = Robert"})
    assert clean.status_code == 302


def test_search_and_pages(alice_client, alice):
    LexiconEntry.objects.bulk_create(LexiconEntry(owner=alice, written=f"word{i:03}", spoken="x") for i in range(120))
    first = alice_client.get(URL).content.decode()
    assert "word000" in first and "word049" in first and "word050" not in first
    assert "Page 1 of 3" in first
    third = alice_client.get(URL, {"page": 3}).content.decode()
    assert "word119" in third and "word000" not in third
    found = alice_client.get(URL, {"q": "WORD11"}).content.decode()
    assert "word110" in found and "word119" in found and "word100" not in found
    assert "No entry matches." in alice_client.get(URL, {"q": "zzz"}).content.decode()


def test_a_jobs_page_lists_the_entries_it_used(alice_client, alice):
    import json

    add(alice, "Alice", "a l'i: s", kind="espeak")
    add(alice, "Bob", "bɑb", kind="ipa")  # not for eSpeak: said as written
    body = {
        "provider": "espeak",
        "turns": [{"speaker": "A", "text": "Hello Alice and Bob.", "index": 0}],
        "voice_assignments": [{"speaker": "A", "voice_id": "en-us"}],
    }
    job = alice_client.post("/api/v1/jobs", json.dumps(body), content_type="application/json").json()
    LexiconEntry.objects.filter(written="Alice").update(spoken="changed")
    page = alice_client.get(f"/jobs/{job['id']}/").content.decode()
    assert "2 pronunciation entries" in page
    assert "a l&#x27;i: s" in page and "changed" not in page
    assert "said as written" in page


def test_staff_see_and_search_entries_in_the_admin(staff_client, alice, bob):
    add(alice, "Nguyen", "win")
    add(bob, "Bob", "Robert")
    page = staff_client.get("/admin/synthesis/lexiconentry/", {"q": "Nguyen"}).content.decode()
    assert "Nguyen" in page and "Robert" not in page
    assert staff_client.get("/admin/synthesis/lexiconentry/add/").status_code == 403

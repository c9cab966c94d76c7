"""What the new-dialogue page offers: languages, voice groups, default voices."""

import re

import pytest
from django.urls import reverse

from synthesis import voice_picker
from synthesis.providers import get_provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def espeak():
    return get_provider("espeak")


@pytest.mark.parametrize(
    ("speaker", "gender"),
    [("Alice", "female"), ("Bob", "male"), ("Mrs Smith", "female"), ("Dr. Who", None), ("carol", "female")],
)
def test_guess_gender(speaker, gender):
    assert voice_picker.guess_gender(speaker) == gender


def test_defaults_are_distinct_and_match_the_names(espeak):
    speakers = ["Alice", "Bob", "Carol", "Dave", "Eve", "Frank"]
    defaults = voice_picker.default_voices(espeak, speakers, "en-us")
    assert len(set(defaults)) == len(speakers)
    gender = {v.id: v.gender for v in espeak.voices()}
    assert [gender[v] for v in defaults] == ["female", "male", "female", "male", "female", "male"]
    assert all(v.startswith("en-") for v in defaults)


def test_unknown_names_still_get_distinct_voices(espeak):
    defaults = voice_picker.default_voices(espeak, ["X1", "X2", "X3"], "de")
    assert len(set(defaults)) == 3 and all(v.startswith("de") for v in defaults)


def test_languages_put_the_users_first_and_made_up_ones_last(espeak):
    groups = voice_picker.language_groups(espeak, ["en-GB", "fr", "en"])
    headings = [heading for heading, _ in groups]
    assert headings == ["Your languages", "All languages", "Constructed languages"]
    assert [code for code, _ in groups[0][1]] == ["en-gb", "fr-fr", "en-us"]
    everyday = {code for _, options in groups[:2] for code, _ in options}
    assert not everyday & {"piqd", "en-shaw", "qya"}  # Klingon, Shavian, Quenya
    assert {"piqd", "en-shaw"} <= {code for code, _ in groups[2][1]}


def test_voices_start_with_a_short_recommended_list_then_the_users_region(espeak):
    groups = voice_picker.voice_groups(espeak, "en-us", ["en-GB"])
    assert groups[0][0] == "Recommended" and 3 <= len(groups[0][1]) <= 10
    assert groups[1][0] == "English (Great Britain)"
    assert groups[-1][0] == "English (Shavian alphabet)"  # the long tail ends with the oddity
    labels = dict(option for _, options in groups for option in options)
    assert labels["en-us"] == "English (America) — male"  # the gender the engine knows
    assert labels["en-us+f3"] == "English (America) — female 3"  # not said twice


def test_new_dialogue_page_groups_voices_and_offers_the_browsers_language_first(alice_client):
    response = alice_client.post(
        reverse("job_new"),
        {"action": "refresh", "script": "Alice: Hi.\nBob: Hello.", "provider": "espeak", "language": "en-us"},
        headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"},
    )
    html = response.content.decode()
    first_group = re.search(r'<optgroup label="([^"]+)">', html.split('id="id_language"')[1])
    assert first_group[1] == "Your languages"
    languages = html.split('id="id_language"')[1].split("</select>")[0]
    assert languages.index('value="de"') < languages.index('value="af"')
    picker = html.split('id="id_voice_1"')[1].split("</select>")[0]
    assert '<optgroup label="Recommended">' in picker
    selected = re.search(r'<option value="([^"]+)"[^>]* selected>', picker)[1]
    assert {v.id: v.gender for v in get_provider("espeak").voices()}[selected] == "male"  # Bob's default
    assert "data-voice-filter" in html  # the search box

"""The new-dialogue page: voice pickers as the script is typed, submission
through the same rules as the API, errors next to their field, previews."""

import re

import pytest
import time_machine
from django.urls import reverse

from synthesis.audio import decode
from synthesis.models import Job
from tests.website import submitted_job

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}
SCRIPT = "Alice: Hello there, Bob.\nBob: Hi Alice.\n  How are you?\n\nCarol: Good morning, both of you."


def submission(**overrides):
    data = {
        "script": SCRIPT,
        "provider": "espeak",
        "language": "en-us",
        "output_format": "mp3",
        "gap_ms": "300",
        "crossfade_ms": "50",
        "voice:Alice": "en-us+f3",
        "voice:Bob": "en-us+m3",
        "voice:Carol": "en-gb",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_blank_form_has_defaults_and_no_pickers(alice_client):
    html = alice_client.get(reverse("job_new")).content.decode()
    assert '<option value="" selected>Automatic (from the text)</option>' in html  # language
    assert '<option value="mp3" selected>' in html
    assert 'name="gap_ms" value="300"' in html and 'name="crossfade_ms" value="50"' in html
    assert "A voice picker appears here" in html
    assert 'hx-trigger="input changed delay:400ms"' in html  # debounced


def test_typing_shows_one_picker_per_speaker_with_different_defaults(alice_client):
    response = alice_client.post(
        reverse("job_new"), {"action": "refresh", "script": SCRIPT, "language": "en-us", "provider": "espeak"}, **HX
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<fieldset id="voices"')
    for number, speaker in enumerate(["Alice", "Bob", "Carol"]):
        assert f'<label for="id_voice_{number}">' in html and f'name="voice:{speaker}"' in html
    chosen = [
        html.split(f'name="voice:{s}"')[1].split(" selected>")[0].rsplit('value="', 1)[1].rstrip('"')
        for s in ("Alice", "Bob", "Carol")
    ]
    assert len(set(chosen)) == 3
    assert "3 speakers, 3 turns" in html
    assert not Job.objects.exists()


def test_chinese_script_with_full_width_colons_gets_pickers_and_a_note_on_a_quotation(alice_client):
    script = "甲：你好，今天天氣很好。\n【主持人】：歡迎。\n他說：「走吧」\nBob 😀: Me too"
    data = {"action": "refresh", "script": script, "provider": "espeak"}
    html = alice_client.post(reverse("job_new"), data, **HX).content.decode()
    for speaker in ("甲", "主持人", "Bob 😀"):
        assert f'name="voice:{speaker}"' in html
    assert "3 speakers, 3 turns" in html
    notes = html.split('id="script-notes"', 1)[1].split("</ul>", 1)[0]
    assert "Line 3:" in notes and "quotation" in notes and "主持人" in notes


def voice_chosen(html, speaker):
    return html.split(f'name="voice:{speaker}"')[1].split(" selected>")[0].rsplit('value="', 1)[1].rstrip('"')


def test_each_speaker_gets_a_default_voice_in_the_language_of_their_lines(alice_client):
    script = "\n".join(
        [
            "甲：你好，今天天氣很好。",
            "乙：是啊，要不要一起去公園走走？",
            "Alice: Hello!",
            "さくら：こんにちは",
            "阿明：佢係我朋友",
        ]
    )
    html = alice_client.post(reverse("job_new"), {"action": "refresh", "script": script, "provider": "espeak"}, **HX)
    html = html.content.decode()
    chosen = {s: voice_chosen(html, s) for s in ("甲", "乙", "Alice", "さくら", "阿明")}
    assert chosen["甲"].startswith("cmn") and chosen["乙"].startswith("cmn")  # Traditional Chinese: Mandarin
    assert chosen["甲"] != chosen["乙"]
    assert chosen["Alice"].startswith("en") and chosen["さくら"].startswith("ja") and chosen["阿明"].startswith("yue")
    assert "voice-warning" not in html


def test_a_voice_that_does_not_speak_the_lines_language_is_warned_about(alice_client):
    data = {"action": "refresh", "script": "甲：你好，今天天氣很好。", "provider": "espeak", "voice:甲": "en-us"}
    html = alice_client.post(reverse("job_new"), data, **HX).content.decode()
    assert voice_chosen(html, "甲") == "en-us"  # kept: the user's choice
    warning = html.split('id="voice-warning-0"', 1)[1].split("</p>", 1)[0]
    assert "does not speak Chinese (Traditional, Mandarin)" in warning and "甲" in warning


def test_a_chinese_dialogue_submitted_with_automatic_language_says_zh_tw(alice_client):
    script = "甲：你好，今天天氣很好。\n乙：是啊！"
    data = {"script": script, "provider": "espeak", "language": "", "output_format": "mp3", "gap_ms": "300"}
    data |= {"crossfade_ms": "50", "voice:甲": "cmn", "voice:乙": "cmn+m3"}
    response = alice_client.post(reverse("job_new"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    job = Job.objects.get()
    assert job.input_params["language"] == "zh-TW"
    assert [t["speaker"] for t in job.input_params["turns"]] == ["甲", "乙"]


def test_refresh_keeps_chosen_voices_but_a_new_language_resets_them(alice_client):
    data = {"action": "refresh", "script": SCRIPT, "language": "en-us", "provider": "espeak", "voice:Bob": "en-gb+f4"}
    html = alice_client.post(reverse("job_new"), data, **HX).content.decode()
    assert '<option value="en-gb+f4" selected>' in html
    data["language"] = "de"
    html = alice_client.post(reverse("job_new"), data, HTTP_HX_TRIGGER_NAME="language", **HX).content.decode()
    assert "en-gb+f4" not in html and '<option value="de" selected>' in html


def test_refresh_without_javascript_renders_the_whole_page_without_errors(alice_client):
    html = alice_client.post(reverse("job_new"), {"action": "refresh", "script": "Alice:"}).content.decode()
    assert "<html" in html and 'name="voice:Alice"' in html and "errorlist" not in html


def test_submit_creates_the_job_and_goes_to_it(alice_client, alice):
    response = alice_client.post(reverse("job_new"), submission())
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("job_detail", args=[job.pk])
    assert job.owner == alice and job.status == Job.Status.PENDING
    assert job.input_params["turns"] == [
        {"speaker": "Alice", "text": "Hello there, Bob.", "index": 0},
        {"speaker": "Bob", "text": "Hi Alice. How are you?", "index": 1},
        {"speaker": "Carol", "text": "Good morning, both of you.", "index": 2},
    ]
    assert [a["voice_id"] for a in job.input_params["voice_assignments"]] == ["en-us+f3", "en-us+m3", "en-gb"]
    html = alice_client.get(response["Location"]).content.decode()
    assert f"Job {job.pk} submitted." in html


def test_htmx_submit_redirects_the_browser(alice_client):
    response = alice_client.post(reverse("job_new"), submission(), **HX)
    assert response["HX-Redirect"] == reverse("job_detail", args=[Job.objects.get().pk])


def test_submit_without_pickers_uses_the_default_voices(alice_client):
    alice_client.post(reverse("job_new"), submission(**{"voice:Alice": None, "voice:Bob": None, "voice:Carol": None}))
    voices = [a["voice_id"] for a in Job.objects.get().input_params["voice_assignments"]]
    assert len(set(voices)) == 3


@pytest.mark.parametrize(
    "overrides, field_text",
    [
        ({"script": "Alice: Hi.\nBob:\nCarol: Yo."}, "Line 2 (Bob): The text is empty."),
        ({"script": "Hello.\nAlice: Hi."}, "Line 1: Start with a speaker&#x27;s name"),
        ({"script": "Alice: " + "x" * 5001}, "Line 1 (Alice): At most 5000 characters in a turn"),
        ({"script": ""}, "Write at least one line"),
        ({"voice:Bob": "no-such-voice"}, "The espeak provider has no voice &#x27;no-such-voice&#x27;."),
        ({"gap_ms": "5000"}, "Must be from 0 to 2000; got 5000."),
        ({"crossfade_ms": "-1"}, "Must be from 0 to 500; got -1."),
        ({"output_format": "aiff"}, "Unknown output format &#x27;aiff&#x27;"),
        ({"provider": "nope"}, "Unknown provider &#x27;nope&#x27;"),
    ],
)
def test_errors_are_shown_next_to_their_field_with_the_text_kept(alice_client, overrides, field_text):
    data = submission(**overrides)
    for extra in ({}, HX):
        response = alice_client.post(reverse("job_new"), data, **extra)
        html = response.content.decode()
        assert response.status_code == 200 and field_text in html, html
        assert not Job.objects.exists()
    # The htmx answer is the form alone, with what the user typed.
    assert html.lstrip().startswith('<form id="dialogue-form"')
    if data["script"]:
        assert data["script"].splitlines()[0] in html


def test_script_error_sits_under_the_script_box(alice_client):
    html = alice_client.post(reverse("job_new"), submission(script="Alice: Hi.\nBob:")).content.decode()
    box, rest = html.split('id="script-errors"', 1)
    assert "<textarea" in box and "Line 2 (Bob)" in rest.split("</ul>")[0]
    assert 'aria-describedby="script-help pause-help script-errors"' in html


def test_voice_error_sits_under_that_speakers_picker(alice_client):
    html = alice_client.post(reverse("job_new"), submission(**{"voice:Carol": "xx"})).content.decode()
    carol = html.split('name="voice:Carol"')[1]
    assert "has no voice &#x27;xx&#x27;" in carol.split("</div>")[0]
    # A screen reader reads the error with the picker: the id it points at exists.
    described_by = re.search(r'aria-describedby="([^"]+)"', carol.split(">")[0])[1]
    assert f'<ul class="errorlist" id="{described_by}">' in carol


def test_limit_is_explained_with_numbers(alice_client, alice, settings):
    settings.TTS_MAX_ACTIVE_JOBS_PER_USER = 2
    submitted_job(alice, Job.Status.PENDING)
    submitted_job(alice, Job.Status.PENDING)
    html = alice_client.post(reverse("job_new"), submission()).content.decode()
    assert "You have 2 jobs waiting or running, and the limit is 2." in html
    assert Job.objects.count() == 2
    assert "Hello there, Bob." in html  # the script is kept


def test_new_from_an_old_job_prefills_everything(alice_client, alice):
    old = submitted_job(alice, Job.Status.FAILED, gap_ms=700)
    html = alice_client.get(reverse("job_new"), {"from": old.pk}).content.decode()
    assert "Alice: Hello there, Bob.\nBob: Hi Alice. How are you?" in html
    assert 'value="700"' in html and '<option value="en-us+m3" selected>' in html


def test_voice_preview_is_short_real_audio(alice_client):
    response = alice_client.get(reverse("voice_preview"), {"provider": "espeak", "voice": "de+f3"})
    assert response.status_code == 200 and response["Content-Type"] == "audio/mpeg"
    sample = decode(response.content)
    assert 1000 < sample.duration_ms < 8000


def preview(client, voice):
    return client.get(reverse("voice_preview"), {"provider": "espeak", "voice": voice})


def test_voice_previews_are_rate_limited_per_user_and_cached(alice_client, bob, client, settings):
    """The finding: every click synthesized in the web process, without limit."""
    # The limit counts per clock minute: the clock stands still, so a slow
    # synthesis never carries the test into the next minute.
    with time_machine.travel("2026-05-01 12:00:10", tick=False):
        settings.TTS_PREVIEW_SYNTHESES_PER_MINUTE = 2
        first = preview(alice_client, "de+f3")
        assert preview(alice_client, "fr-fr+m3").status_code == 200
        refused = preview(alice_client, "es")
        assert refused.status_code == 429 and refused["Retry-After"] == "60"
        assert "Too many voice samples" in refused.content.decode()
        # A sample already made costs nothing, so it is served over the limit, from the cache.
        again = preview(alice_client, "de+f3")
        assert again.status_code == 200 and again.content == first.content
        # The limit is per user.
        client.force_login(bob)
        assert preview(client, "es").status_code == 200


def test_the_preview_limit_resets_each_minute(alice_client, settings):
    settings.TTS_PREVIEW_SYNTHESES_PER_MINUTE = 1
    with time_machine.travel("2026-05-01 12:00:10", tick=False):
        assert preview(alice_client, "de+f3").status_code == 200
        assert preview(alice_client, "es").status_code == 429
    with time_machine.travel("2026-05-01 12:01:05", tick=False):
        assert preview(alice_client, "es").status_code == 200


@pytest.mark.parametrize("query", [{"provider": "espeak", "voice": "xx"}, {"provider": "nope", "voice": "en-us"}, {}])
def test_voice_preview_of_unknown_voice_is_404(alice_client, query):
    assert alice_client.get(reverse("voice_preview"), query).status_code == 404


def test_voice_preview_needs_login(client):
    assert client.get(reverse("voice_preview"), {"voice": "en-us"}).status_code == 302


def many_speakers(count: int) -> str:
    return "\n".join(f"S{n}: hi" for n in range(count))


def test_more_speakers_than_the_limit_build_no_pickers(alice_client, settings):
    """The finding: 4,000 speakers took 16 s and made a 15.5 MB page."""
    response = alice_client.post(
        reverse("job_new"), {"action": "refresh", "script": many_speakers(4000), "provider": "espeak"}, **HX
    )
    html = response.content.decode()
    assert f"at most {settings.TTS_MAX_SPEAKERS} speakers; this one has 4000." in html
    assert "<select" not in html and len(html) < 5_000
    # Submitted as is, the script is refused next to the box, with no picker built.
    response = alice_client.post(reverse("job_new"), submission(script=many_speakers(4000)))
    html = response.content.decode()
    assert "at most 50 speakers; this one has 4000." in html and "voice-select" not in html
    assert not Job.objects.exists()


def test_exactly_the_speaker_limit_is_fine(alice_client, settings):
    settings.TTS_MAX_SPEAKERS = 5
    html = alice_client.post(
        reverse("job_new"), {"action": "refresh", "script": many_speakers(5), "provider": "espeak"}, **HX
    ).content.decode()
    assert html.count('class="voice-select"') == 5 and "at most" not in html


def test_a_script_over_the_character_limit_is_refused_before_parsing(alice_client, settings):
    settings.TTS_MAX_JOB_CHARS = 100
    script = "Alice: " + "word " * 30
    response = alice_client.post(
        reverse("job_new"), {"action": "refresh", "script": script, "provider": "espeak"}, **HX
    )
    assert "A dialogue has at most 100 characters; this one has 157." in response.content.decode()
    assert "voice-select" not in response.content.decode()
    response = alice_client.post(reverse("job_new"), submission(script=script, **{"voice:Alice": "en-us"}))
    assert "at most 100 characters" in response.content.decode()
    assert not Job.objects.exists()

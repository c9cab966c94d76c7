"""Mixed-direction text: user text is isolated (<bdi>, dir="auto", or
FSI…PDI where there is no markup) so Arabic and Hebrew keep their
punctuation on their own side, in the list, the job page, the timeline,
the admin and the subtitles."""

import pytest
from django.urls import reverse

from synthesis.models import Job
from tests.website import submitted_job

pytestmark = pytest.mark.django_db

ARABIC, HEBREW = "أحمد", "שרה"
TURNS = [
    {"speaker": ARABIC, "text": "مرحبا! كيف حالك؟", "index": 0},
    {"speaker": HEBREW, "text": "שלום, מה שלומך?", "index": 1},
]
VOICES = [{"speaker": ARABIC, "voice_id": "ar"}, {"speaker": HEBREW, "voice_id": "he"}]


@pytest.fixture
def rtl_job(alice):
    return submitted_job(alice, Job.Status.COMPLETED, turns=TURNS, voice_assignments=VOICES, language=None)


def test_list_isolates_title_and_speakers(alice_client, rtl_job):
    html = alice_client.get(reverse("job_list")).content.decode()
    assert f"<bdi>{ARABIC}</bdi>, <bdi>{HEBREW}</bdi>" in html
    assert f'class="job-title" dir="auto" href="{reverse("job_detail", args=[rtl_job.pk])}">' in html


def test_job_page_isolates_title_cast_turns_and_timeline(alice_client, rtl_job):
    html = alice_client.get(reverse("job_detail", args=[rtl_job.pk])).content.decode()
    assert '<h1 dir="auto">' in html
    assert f'<strong><bdi>{HEBREW}</bdi>:</strong> <bdi class="turn-text"><span class="sentence"' in html
    assert ">שלום, מה שלומך?</span></bdi>" in html  # its one sentence, in the isolated text
    assert f'<li><span class="swatch spk-0" aria-hidden="true"></span><bdi>{ARABIC}</bdi></li>' in html  # legend
    assert f"<title>\u2068{ARABIC}\u2069, " in html  # the timeline bar's SVG title (its name): no markup there


def test_new_dialogue_box_and_pickers(alice_client):
    data = {"action": "refresh", "script": f"{ARABIC}: مرحبا", "provider": "espeak"}
    html = alice_client.post(reverse("job_new"), data).content.decode()
    assert '<textarea dir="auto"' in html
    assert f"<bdi>{ARABIC}</bdi></label>" in html


def test_admin_isolates_title_speakers_and_text(staff_client, rtl_job):
    listing = staff_client.get(reverse("admin:synthesis_job_changelist")).content.decode()
    assert f"<bdi>{rtl_job.title}</bdi>" in listing
    page = staff_client.get(reverse("admin:synthesis_job_change", args=[rtl_job.pk])).content.decode()
    assert f"<td><bdi>{HEBREW}</bdi></td>" in page
    assert '<td dir="auto">שלום, מה שלומך?</td>' in page


def test_subtitles_isolate_right_to_left_text(alice_client, rtl_job):
    srt = b"".join([alice_client.get(reverse("job_subtitles_srt", args=[rtl_job.pk])).content]).decode()
    assert f"\u2068{HEBREW}\u2069: \u2068שלום, מה שלומך?\u2069" in srt
    vtt = alice_client.get(reverse("job_subtitles_vtt", args=[rtl_job.pk])).content.decode()
    # One cue per sentence, each isolated.
    assert f"<v {ARABIC}>\u2068مرحبا!\u2069\n\n" in vtt
    assert f"<v {ARABIC}>\u2068كيف حالك؟\u2069\n\n" in vtt

"""The job list, job detail and their actions: with and without HTMX, and
always from the owner's side (bob gets 404 on anything of alice's)."""

import re
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from synthesis.models import Job
from tests.website import submitted_job

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def polls(html: str) -> bool:
    return 'hx-trigger="every 2s"' in html


# --- the list -------------------------------------------------------------------


def test_pages_require_login(client, alice):
    job = submitted_job(alice, Job.Status.PENDING)
    for url in (
        reverse("job_list"),
        reverse("job_new"),
        reverse("job_detail", args=[job.pk]),
        reverse("job_download", args=[job.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_home_goes_to_the_job_list(alice_client):
    assert alice_client.get("/")["Location"] == reverse("job_list")


def test_empty_list_invites_the_first_dialogue(alice_client):
    html = alice_client.get(reverse("job_list")).content.decode()
    assert "Write your first dialogue" in html
    assert not polls(html)


def test_list_shows_rows_newest_first_with_what_applies(alice_client, alice):
    with time_machine.travel(timezone.now() - timedelta(hours=3)):
        done = submitted_job(alice, Job.Status.COMPLETED)
    failed = submitted_job(alice, Job.Status.FAILED)
    pending = submitted_job(alice, Job.Status.PENDING)
    html = alice_client.get(reverse("job_list")).content.decode()
    ids = re.findall(r'<li class="job" id="job-([0-9a-f-]+)"', html)
    assert ids == [str(pending.pk), str(failed.pk), str(done.pk)]
    # Badges carry the word, not just a colour.
    assert '<span class="badge badge-completed">Completed</span>' in html
    assert '<span class="badge badge-failed">Failed</span>' in html
    # Failed row shows its reason, escaped.
    assert "The engine &lt;b&gt;refused&lt;/b&gt; the text." in html
    # One row each: speakers (engine on hover), a short age with the exact
    # time on hover, the length as the player shows it.
    assert "><bdi>Alice</bdi>, <bdi>Bob</bdi>, <bdi>Carol</bdi><" in html
    assert 'title="\u2068Alice, Bob, Carol\u2069 · espeak"' in html
    assert ">3 h ago<" in html and 'title="' + f"{done.created_at:%-d %b %Y, %H:%M}" in html
    assert '<span class="visually-hidden">Length </span>0:0' in html
    # Actions: play/download only when completed, cancel only pending, resubmit failed.
    assert html.count("▶ Play") == 1
    assert html.count(reverse("job_cancel", args=[pending.pk])) == 2  # href and hx-post
    assert reverse("job_resubmit", args=[failed.pk]) in html
    assert reverse("job_resubmit", args=[done.pk]) not in html


def test_pending_row_shows_its_place_in_the_queue_across_users(alice_client, alice, bob):
    submitted_job(bob, Job.Status.PENDING)
    submitted_job(alice, Job.Status.COMPLETED)  # not pending: doesn't count
    mine = submitted_job(alice, Job.Status.PENDING)
    html = alice_client.get(reverse("job_list")).content.decode()
    row = html.split(f'id="job-{mine.pk}"')[1]
    assert "place 2 in the queue" in row


def test_processing_row_shows_progress_and_time_left(alice_client, alice):
    with time_machine.travel(timezone.now() - timedelta(seconds=10), tick=False):
        job = submitted_job(alice, Job.Status.PROCESSING)  # started 10 s ago, 1 of 3 turns done
    html = alice_client.get(reverse("job_list")).content.decode()
    assert '<progress max="3" value="1"' in html and "1/3 turns" in html
    assert "about 20 s left" in html
    assert job.seconds_left == pytest.approx(20, abs=1)


def test_list_polls_only_while_a_job_on_the_page_is_active(alice_client, alice):
    job = submitted_job(alice, Job.Status.PENDING)
    html = alice_client.get(reverse("job_list")).content.decode()
    assert polls(html)
    assert f'"watch": "{job.pk}"' in html
    assert job.cancel()
    for extra in ({}, HX):
        html = alice_client.get(reverse("job_list"), **extra).content.decode()
        assert not polls(html)


def test_everything_focusable_in_the_polled_parts_has_a_unique_id(alice_client, alice):
    # htmx restores the keyboard focus after a swap only to an element with an
    # id (the browser test shows the focus surviving a real poll).
    submitted_job(alice, Job.Status.COMPLETED)
    submitted_job(alice, Job.Status.FAILED)
    pending = submitted_job(alice, Job.Status.PENDING)  # so that both parts poll
    pages = [
        alice_client.get(reverse("job_list"), **HX).content.decode(),
        alice_client.get(reverse("job_detail", args=[pending.pk]), **HX).content.decode(),
    ]
    for html in pages:
        focusable = re.findall(r"<(?:a|button)\b[^>]*>", html)
        assert focusable and all(" id=" in tag for tag in focusable), [t for t in focusable if " id=" not in t]
        ids = re.findall(r' id="([^"]+)"', html)
        assert len(ids) == len(set(ids))


def test_htmx_request_gets_only_the_list_fragment(alice_client, alice):
    submitted_job(alice, Job.Status.PENDING)
    response = alice_client.get(reverse("job_list"), **HX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="job-list"')
    assert "<html" not in html and '<nav class="site-nav"' not in html
    assert "HX-Request" in response["Vary"]


def test_poll_announces_watched_jobs_that_finished(alice_client, alice, bob):
    job = submitted_job(alice, Job.Status.PENDING)
    theirs = submitted_job(bob, Job.Status.CANCELLED)
    assert job.cancel()
    html = alice_client.get(reverse("job_list"), {"watch": f"{job.pk},{theirs.pk},nonsense"}, **HX).content.decode()
    assert 'id="notices" hx-swap-oob="beforeend"' in html
    assert html.count('class="toast notice ') == 1  # bob's job is none of alice's business
    assert "cancelled." in html


def test_status_filter_and_pagination(alice_client, alice):
    jobs = [submitted_job(alice, Job.Status.CANCELLED) for _ in range(21)]
    submitted_job(alice, Job.Status.FAILED)
    html = alice_client.get(reverse("job_list"), {"status": "cancelled"}).content.decode()
    assert html.count('<li class="job"') == 20
    assert "Page 1 of 2" in html and "page=2" in html
    html = alice_client.get(reverse("job_list"), {"status": "cancelled", "page": 2}).content.decode()
    assert re.findall(r'<li class="job" id="job-([0-9a-f-]+)"', html) == [str(jobs[0].pk)]
    html = alice_client.get(reverse("job_list"), {"status": "failed"}).content.decode()
    assert html.count('<li class="job"') == 1
    # Nonsense falls back to everything, first page.
    html = alice_client.get(reverse("job_list"), {"status": "bogus", "page": "x"}).content.decode()
    assert html.count('<li class="job"') == 20


def test_list_shows_only_my_jobs(alice_client, bob):
    submitted_job(bob, Job.Status.PENDING)
    html = alice_client.get(reverse("job_list")).content.decode()
    assert '<li class="job"' not in html


@pytest.mark.parametrize("how_many", [5, 25])
def test_list_costs_the_same_queries_for_any_number_of_jobs(alice_client, alice, django_assert_num_queries, how_many):
    for n in range(how_many):
        submitted_job(alice, Job.Status.CANCELLED if n % 2 else Job.Status.FAILED)
    submitted_job(alice, Job.Status.PENDING)
    # session, user, tab counts, one page of rows (queue place and speakers included).
    with django_assert_num_queries(4):
        alice_client.get(reverse("job_list"))
    with django_assert_num_queries(5):  # + the finished watched jobs
        alice_client.get(reverse("job_list"), {"watch": str(uuid.uuid4())}, **HX)


def test_dialogue_with_markup_is_shown_as_text(alice_client, alice):
    job = submitted_job(
        alice,
        Job.Status.PENDING,
        turns=[{"speaker": "<b>Eve</b>", "text": "<script>alert(1)</script>", "index": 0}],
        voice_assignments=[{"speaker": "<b>Eve</b>", "voice_id": "en-us"}],
    )
    for url in (reverse("job_list"), reverse("job_detail", args=[job.pk])):
        html = alice_client.get(url).content.decode()
        assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
        assert "<b>Eve</b>" not in html


# --- the detail page ------------------------------------------------------------


def test_completed_detail_has_player_timeline_downloads_and_expiry(alice_client, alice):
    job = submitted_job(alice, Job.Status.COMPLETED)
    html = alice_client.get(reverse("job_detail", args=[job.pk])).content.decode()
    audio_url = reverse("job_download", args=[job.pk])
    assert f'<audio id="player" controls preload="metadata" src="{audio_url}">' in html
    # The timeline: one bar per turn, in ms, coloured by speaker, over the waveform.
    bars = re.findall(r'<rect class="turn-bar spk-(\d)" x="(\d+)" width="(\d+)"', html)
    assert [b[0] for b in bars] == ["0", "1", "2"]  # one colour per speaker
    timed = job.result_metadata["turn_timings"]
    assert [int(b[1]) for b in bars] == [t["start_ms"] for t in timed]
    assert f'viewBox="0 0 {job.result_metadata["duration_ms"]} 100"' in html
    assert '<path class="wave"' in html
    # Each line plays from its start, by mouse or keyboard.
    plays = re.findall(r'id="play-turn-(\d+)" class="play-line" href="[^"]+" data-seek="([\d.]+)"', html)
    assert [(int(i), float(s)) for i, s in plays] == [(t["turn_index"], t["start_ms"] / 1000) for t in timed]
    assert 'style="' not in html  # a Content-Security-Policy may forbid inline styles
    assert reverse("job_subtitles_vtt", args=[job.pk]) in html
    assert reverse("job_subtitles_srt", args=[job.pk]) in html
    assert "Kept until" in html and f"{job.expires_at:%-d %b %Y}" in html
    # Timings: queued, started (and how long it waited), finished (and how long it took).
    for label, moment in (("Queued", job.created_at), ("Started", job.started_at), ("Finished", job.completed_at)):
        assert re.search(rf'<dt>{label}</dt><dd><time datetime="{re.escape(moment.isoformat())}">', html), label
    assert "(waited " in html and "(took " in html
    assert not polls(html)
    # The dialogue with each speaker's voice.
    assert "English (America) — female 3" in html and "Good morning, both of you." in html


def test_active_detail_polls_its_status_section_only(alice_client, alice):
    job = submitted_job(alice, Job.Status.PENDING)
    html = alice_client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert polls(html) and "place 1 in the queue" in html
    response = alice_client.get(reverse("job_detail", args=[job.pk]), **HX)
    fragment = response.content.decode()
    assert fragment.lstrip().startswith('<section id="job-status"') and polls(fragment)
    assert "Dialogue" not in fragment and "HX-Request" in response["Vary"]
    # The poll that finds it finished stops polling and says so.
    job.cancel()
    fragment = alice_client.get(reverse("job_detail", args=[job.pk]), **HX).content.decode()
    assert not polls(fragment) and 'hx-swap-oob="beforeend"' in fragment


def test_failed_detail_shows_the_reason_and_resubmit(alice_client, alice):
    job = submitted_job(alice, Job.Status.FAILED)
    html = alice_client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert "The engine &lt;b&gt;refused&lt;/b&gt; the text." in html and "PROVIDER_ERROR" in html
    assert reverse("job_resubmit", args=[job.pk]) in html


def test_detail_uses_four_queries(alice_client, alice, django_assert_num_queries):
    job = submitted_job(alice, Job.Status.COMPLETED)
    with django_assert_num_queries(4):  # session, user, job, its versions (test_views_versions.py)
        alice_client.get(reverse("job_detail", args=[job.pk]))
    pending = submitted_job(alice, Job.Status.PENDING)
    for extra in ({}, HX):
        with django_assert_num_queries(5):  # + its place in the queue
            alice_client.get(reverse("job_detail", args=[pending.pk]), **extra)


# --- cancel and resubmit --------------------------------------------------------


def test_cancel_asks_first_without_javascript(alice_client, alice):
    job = submitted_job(alice, Job.Status.PENDING)
    html = alice_client.get(reverse("job_cancel", args=[job.pk])).content.decode()
    assert "Yes, cancel it" in html
    job.refresh_from_db()
    assert job.status == Job.Status.PENDING


def test_plain_cancel_redirects_to_the_job(alice_client, alice):
    job = submitted_job(alice, Job.Status.PENDING)
    response = alice_client.post(reverse("job_cancel", args=[job.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("job_detail", args=[job.pk])
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    html = alice_client.get(response["Location"]).content.decode()
    assert "Cancelled job" in html


def test_htmx_cancel_from_the_list_rerenders_the_list_in_place(alice_client, alice):
    job = submitted_job(alice, Job.Status.PENDING)
    response = alice_client.post(
        reverse("job_cancel", args=[job.pk]),
        HTTP_HX_TARGET="job-list",
        HTTP_HX_CURRENT_URL="http://testserver/jobs/?status=cancelled",
        **HX,
    )
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<section id="job-list"')
    assert 'aria-current="page">Cancelled' in html and f'id="job-{job.pk}"' in html
    assert 'id="messages" class="messages" role="status" hx-swap-oob="true"' in html
    assert not polls(html)


@pytest.mark.parametrize("current_url", ["http://[", "not a url at all", ""])
def test_a_malformed_current_url_header_still_rerenders_the_list(alice_client, alice, current_url):
    pending, failed = submitted_job(alice, Job.Status.PENDING), submitted_job(alice, Job.Status.FAILED)
    for action, job in (("job_cancel", pending), ("job_resubmit", failed)):
        response = alice_client.post(
            reverse(action, args=[job.pk]), HTTP_HX_TARGET="job-list", HTTP_HX_CURRENT_URL=current_url, **HX
        )
        assert response.status_code == 200 and 'aria-current="page">All' in response.content.decode()
    pending.refresh_from_db()
    assert pending.status == Job.Status.CANCELLED and Job.objects.count() == 3


def test_htmx_cancel_on_the_detail_page_rerenders_its_status(alice_client, alice):
    job = submitted_job(alice, Job.Status.PENDING)
    html = alice_client.post(reverse("job_cancel", args=[job.pk]), HTTP_HX_TARGET="job-status", **HX).content.decode()
    assert html.lstrip().startswith('<section id="job-status"') and "badge-cancelled" in html


def test_cancel_of_a_finished_job_says_why(alice_client, alice):
    job = submitted_job(alice, Job.Status.COMPLETED)
    response = alice_client.post(reverse("job_cancel", args=[job.pk]), follow=True)
    assert "Only waiting or running jobs can be cancelled; this one is completed." in response.content.decode()
    job.refresh_from_db()
    assert job.status == Job.Status.COMPLETED


def test_cancel_stops_a_processing_job(alice_client, alice):
    job = submitted_job(alice, Job.Status.PROCESSING)
    response = alice_client.post(reverse("job_cancel", args=[job.pk]), **HX)
    assert response.status_code == 200
    job.refresh_from_db()
    assert (job.status, job.error_message) == (Job.Status.CANCELLED, "Cancelled while it was running.")


def test_resubmit_makes_a_new_job_with_the_same_input(alice_client, alice):
    old = submitted_job(alice, Job.Status.FAILED)
    response = alice_client.post(reverse("job_resubmit", args=[old.pk]))
    new = Job.objects.exclude(pk=old.pk).get()
    assert response["Location"] == reverse("job_detail", args=[new.pk])
    assert new.input_params["turns"] == old.input_params["turns"] and new.status == Job.Status.PENDING
    assert new.voice_for_speaker.keys() == old.voice_for_speaker.keys()
    # With htmx from the detail page: the browser is sent to the new job.
    old2 = submitted_job(alice, Job.Status.CANCELLED)
    response = alice_client.post(reverse("job_resubmit", args=[old2.pk]), **HX)
    assert response["HX-Redirect"].startswith("/jobs/")


def test_resubmit_from_the_list_rerenders_it_with_the_new_job(alice_client, alice):
    old = submitted_job(alice, Job.Status.CANCELLED)
    html = alice_client.post(
        reverse("job_resubmit", args=[old.pk]),
        HTTP_HX_TARGET="job-list",
        HTTP_HX_CURRENT_URL="http://testserver/jobs/",
        **HX,
    ).content.decode()
    assert html.count('<li class="job"') == 2 and polls(html) and "Resubmitted as job" in html


def test_resubmit_over_the_limit_says_so_plainly(alice_client, alice, settings):
    settings.TTS_MAX_ACTIVE_JOBS_PER_USER = 1
    old = submitted_job(alice, Job.Status.FAILED)
    submitted_job(alice, Job.Status.PENDING)
    response = alice_client.post(reverse("job_resubmit", args=[old.pk]), follow=True)
    assert "You have 1 jobs waiting or running, and the limit is 1." in response.content.decode()
    assert Job.objects.count() == 2


def test_resubmit_checks_the_input_again_like_a_new_submission(alice_client, alice, settings):
    """The finding: with the limit lowered to 1 turn, a 3-turn job was re-queued."""
    old = submitted_job(alice, Job.Status.FAILED)
    settings.TTS_MAX_TURNS = 1
    response = alice_client.post(reverse("job_resubmit", args=[old.pk]), follow=True)
    assert Job.objects.count() == 1
    assert "This job&#x27;s input is no longer accepted (At most 1 turns; got 3." in response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("job_detail", args=[old.pk])


def test_resubmit_refuses_a_voice_the_provider_no_longer_has(alice_client, alice):
    old = submitted_job(alice, Job.Status.CANCELLED)
    params = old.input_params
    params["voice_assignments"][0]["voice_id"] = "en-retired-voice"
    Job.objects.filter(pk=old.pk).update(input_params=params)
    response = alice_client.post(reverse("job_resubmit", args=[old.pk]), follow=True)
    assert Job.objects.count() == 1
    assert "no voice &#x27;en-retired-voice&#x27;" in response.content.decode()


def test_completed_job_cannot_be_resubmitted(alice_client, alice):
    job = submitted_job(alice, Job.Status.COMPLETED)
    alice_client.post(reverse("job_resubmit", args=[job.pk]))
    assert Job.objects.count() == 1


# --- downloads -----------------------------------------------------------------


def test_audio_download_is_the_stored_file(alice_client, alice):
    job = submitted_job(alice, Job.Status.COMPLETED)
    response = alice_client.get(reverse("job_download", args=[job.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "audio/mpeg"
    with job.audio.open("rb") as stored:
        assert b"".join(response.streaming_content) == stored.read()


def test_no_audio_before_completion(alice_client, alice):
    job = submitted_job(alice, Job.Status.PENDING)
    assert alice_client.get(reverse("job_download", args=[job.pk])).status_code == 404
    assert alice_client.get(reverse("job_subtitles_vtt", args=[job.pk])).status_code == 404


def test_subtitles_follow_the_sentence_timings(alice_client, alice):
    job = submitted_job(alice, Job.Status.COMPLETED)
    response = alice_client.get(reverse("job_subtitles_vtt", args=[job.pk]))
    assert response["Content-Type"] == "text/vtt; charset=utf-8"
    assert f'filename="ttsjobs-{job.pk}.vtt"' in response["Content-Disposition"]
    vtt = response.content.decode()
    assert vtt.startswith("WEBVTT\n") and "<v Carol>Good morning, both of you." in vtt
    srt = alice_client.get(reverse("job_subtitles_srt", args=[job.pk])).content.decode()
    sentences = job.result_metadata["sentence_timings"]
    assert [s["text"] for s in sentences if s["turn_index"] == 1] == ["Hi Alice.", "How are you?"]
    assert srt.splitlines()[:2] == [
        "1",
        f"{_srt_time(sentences[0]['start_ms'])} --> {_srt_time(sentences[0]['end_ms'])}",
    ]
    # The name opens a turn's first cue only.
    assert "\nBob: Hi Alice.\n" in srt and "\nHow are you?\n" in srt
    assert _srt_time(sentences[-1]["end_ms"]) in srt


def _srt_time(ms):
    return f"00:00:{ms // 1000:02d},{ms % 1000:03d}"


@pytest.mark.parametrize("name", ["job_detail", "job_download", "job_subtitles_vtt", "job_subtitles_srt", "job_cancel"])
def test_another_users_job_is_404_everywhere(bob_client, alice, name):
    job = submitted_job(alice, Job.Status.COMPLETED)
    assert bob_client.get(reverse(name, args=[job.pk])).status_code == 404
    assert bob_client.get(reverse(name, args=[job.pk]), **HX).status_code == 404


def test_another_users_job_cannot_be_cancelled_or_resubmitted(bob_client, alice):
    pending = submitted_job(alice, Job.Status.PENDING)
    failed = submitted_job(alice, Job.Status.FAILED)
    assert bob_client.post(reverse("job_cancel", args=[pending.pk])).status_code == 404
    assert bob_client.post(reverse("job_resubmit", args=[failed.pk])).status_code == 404
    assert bob_client.get(reverse("job_new"), {"from": failed.pk}).status_code == 404
    pending.refresh_from_db()
    assert pending.status == Job.Status.PENDING and Job.objects.count() == 2


def test_unknown_job_is_404(alice_client):
    assert alice_client.get(f"/jobs/{uuid.uuid4()}/").status_code == 404
    assert alice_client.get("/jobs/not-a-uuid/").status_code == 404


def test_actions_need_post_and_csrf(alice, client):
    from django.test import Client

    job = submitted_job(alice, Job.Status.PENDING)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post(reverse("job_cancel", args=[job.pk])).status_code == 403
    assert strict.post(reverse("job_cancel", args=[job.pk]), **HX).status_code == 403
    assert strict.get(reverse("job_resubmit", args=[job.pk])).status_code == 405
    job.refresh_from_db()
    assert job.status == Job.Status.PENDING


POLL = {**HX, "HTTP_HX_TRIGGER": "job-list"}  # the list wrapper's own every-2s trigger


def test_poll_sends_only_the_rows_of_jobs_still_active(alice_client, alice, django_assert_num_queries):
    submitted_job(alice, Job.Status.COMPLETED)
    pending, running = submitted_job(alice, Job.Status.PENDING), submitted_job(alice, Job.Status.PROCESSING)
    with django_assert_num_queries(3):  # session, user, the watched (and any other active) jobs
        response = alice_client.get(reverse("job_list"), {"watch": f"{pending.pk},{running.pk}"}, **POLL)
    html = response.content.decode()
    assert response["HX-Reswap"] == "none" and "HX-Request" in response["Vary"]
    assert '<section id="job-list"' not in html  # the tabs, pages and the polling itself stay as they are
    rows = re.findall(r'<li class="job" id="job-([0-9a-f-]+)" data-status="(\w+)" hx-swap-oob="true">', html)
    assert sorted(rows) == sorted([(str(pending.pk), "pending"), (str(running.pk), "processing")])
    assert "place 1 in the queue" in html and "1/3 turns" in html


def test_poll_renders_the_whole_list_when_a_job_finished_or_appeared(alice_client, alice):
    pending, running = submitted_job(alice, Job.Status.PENDING), submitted_job(alice, Job.Status.PROCESSING)
    assert pending.cancel()
    response = alice_client.get(reverse("job_list"), {"watch": f"{pending.pk},{running.pk}"}, **POLL)
    html = response.content.decode()
    assert "HX-Reswap" not in response and html.lstrip().startswith('<section id="job-list"')
    assert 'id="notices" hx-swap-oob="beforeend"' in html  # the cancelled one is announced
    # A job submitted in another tab: not watched yet, so the list is rendered anew to show it.
    new = submitted_job(alice, Job.Status.PENDING)
    html = alice_client.get(reverse("job_list"), {"watch": str(running.pk)}, **POLL).content.decode()
    assert html.lstrip().startswith('<section id="job-list"') and f'id="job-{new.pk}"' in html


def test_waiting_job_far_back_in_the_queue_is_not_counted_to_the_end(alice_client, alice, bob):
    Job.objects.bulk_create(
        Job(owner=bob, provider="espeak", input_params={"turns": []}) for _ in range(Job.QUEUE_POSITION_CAP + 1)
    )
    job = submitted_job(alice, Job.Status.PENDING)
    assert Job.QUEUE_POSITION_CAP == 100

    def pages():
        for url, params, headers in (
            (reverse("job_list"), {}, {}),
            (reverse("job_detail", args=[job.pk]), {}, {}),
            (reverse("job_list"), {"watch": str(job.pk)}, POLL),  # the poll's own query
        ):
            yield url, alice_client.get(url, params, **headers).content.decode()

    for url, html in pages():
        assert "Waiting: more than 100 jobs ahead in the queue." in html, url
    Job.objects.filter(owner=bob).first().delete()  # exactly 100 ahead: still counted
    for url, html in pages():
        assert "Waiting: place 101 in the queue." in html, url
    Job.objects.filter(owner=bob).exclude(pk__in=Job.objects.filter(owner=bob).values("pk")[:10]).delete()
    for url, html in pages():
        assert "Waiting: place 11 in the queue." in html, url


def shown_digests(html: str) -> dict[str, str]:
    """{job id: the digest its row holds}, as the list's poll sends them back."""
    row = r'<li class="job" id="job-([0-9a-f-]+)"[^>]*>\s*<input type="hidden" class="job-shown" name="shown"'
    rows = re.findall(row + r' value="(\w+)">', html)
    return dict(rows)


def test_poll_answers_no_content_while_every_row_shows_what_it_would(
    alice_client, alice, bob, django_assert_num_queries
):
    submitted_job(alice, Job.Status.COMPLETED)
    pending, running = submitted_job(alice, Job.Status.PENDING), submitted_job(alice, Job.Status.PROCESSING)
    page = alice_client.get(reverse("job_list")).content.decode()
    shown = shown_digests(page)
    assert set(shown) == {str(pending.pk), str(running.pk)}  # only the active rows, the ones polled
    assert 'hx-include="#job-list .job-shown"' in page
    watch = f"{pending.pk},{running.pk}"
    with django_assert_num_queries(3):  # session, user, the watched (and any other active) jobs
        response = alice_client.get(reverse("job_list"), {"watch": watch, "shown": list(shown.values())}, **POLL)
    assert response.status_code == 204 and response.content == b""  # htmx swaps nothing
    assert "HX-Request" in response["Vary"]

    # One row changes: only that one is sent, with its new digest.
    assert running.record_progress(2)
    response = alice_client.get(reverse("job_list"), {"watch": watch, "shown": list(shown.values())}, **POLL)
    html = response.content.decode()
    assert response.status_code == 200 and response["HX-Reswap"] == "none"
    assert set(shown_digests(html)) == {str(running.pk)} and "2/3 turns" in html
    shown.update(shown_digests(html))
    response = alice_client.get(reverse("job_list"), {"watch": watch, "shown": list(shown.values())}, **POLL)
    assert response.status_code == 204

    # So does the place in the queue: bob's job, older than alice's, now waits ahead of it.
    Job.objects.filter(pk=submitted_job(bob, Job.Status.PENDING).pk).update(
        created_at=pending.created_at - timedelta(seconds=1)
    )
    html = alice_client.get(
        reverse("job_list"), {"watch": watch, "shown": list(shown.values())}, **POLL
    ).content.decode()
    assert set(shown_digests(html)) == {str(pending.pk)} and "place 2 in the queue" in html


def test_poll_sends_a_row_again_when_its_age_would_read_differently(alice_client, alice):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        job = submitted_job(alice, Job.Status.PENDING)
        page = alice_client.get(reverse("job_list")).content.decode()
        assert ">just now</time>" in page
        poll = {"watch": str(job.pk), "shown": list(shown_digests(page).values())}
        clock.shift(timedelta(seconds=59))
        assert alice_client.get(reverse("job_list"), poll, **POLL).status_code == 204
        clock.shift(timedelta(seconds=2))
        response = alice_client.get(reverse("job_list"), poll, **POLL)
        assert response.status_code == 200 and ">1 min ago</time>" in response.content.decode()


def test_poll_sends_the_rows_again_in_another_language(alice_client, alice):
    job = submitted_job(alice, Job.Status.PENDING)
    page = alice_client.get(reverse("job_list")).content.decode()
    poll = {"watch": str(job.pk), "shown": list(shown_digests(page).values())}
    assert alice_client.get(reverse("job_list"), poll, **POLL).status_code == 204
    response = alice_client.get(reverse("job_list"), poll, HTTP_ACCEPT_LANGUAGE="zh-TW", **POLL)
    assert response.status_code == 200 and shown_digests(response.content.decode())


def test_polled_rows_are_the_rows_the_list_shows(alice, bob):
    """Job.objects.polled_rows writes list_rows' query out in SQL: the same
    rows, fields and annotations, the place in the queue included (up to the
    cap and past it)."""
    from django.db.models import Q

    from synthesis.views import dressed_rows, list_rows

    Job.objects.bulk_create(
        Job(owner=bob, provider="espeak", input_params={"turns": []}) for _ in range(Job.QUEUE_POSITION_CAP)
    )
    done, failed = submitted_job(alice, Job.Status.COMPLETED), submitted_job(alice, Job.Status.FAILED)
    submitted_job(alice, Job.Status.CANCELLED)  # neither watched nor active: not a polled row
    jobs = [
        submitted_job(alice, Job.Status.PENDING),  # place 101
        submitted_job(alice, Job.Status.PENDING),  # more than 100 ahead
        submitted_job(alice, Job.Status.PROCESSING),
        done,
        failed,
        Job.objects.create(owner=bob, provider="espeak", input_params={"turns": []}),  # bob's: never alice's row
    ]
    ids = [jobs[0].pk, jobs[3].pk, jobs[4].pk, jobs[5].pk, uuid.uuid4()]
    fields = [
        *Job.ROW_FIELDS,
        "assignments",
        "duration_ms",
        "queue_position",
        "speaker_names",
        "age",
        "time_left",
        "shown",
    ]

    def described(rows):
        return sorted((tuple(getattr(job, name, None) for name in fields) for job in rows), key=lambda row: str(row[0]))

    polled = dressed_rows(Job.objects.polled_rows(alice, ids))
    listed = list_rows(Job.objects.for_user(alice).filter(Q(pk__in=ids) | Q(status__in=Job.ACTIVE_STATUSES)))
    assert described(polled) == described(listed)
    assert {job.pk for job in polled} == {job.pk for job in jobs[:5]}
    by_id = {job.pk: job for job in polled}
    assert by_id[jobs[0].pk].queue_position == 101 and by_id[jobs[0].pk].queue_position_known
    assert not by_id[jobs[1].pk].queue_position_known
    assert by_id[done.pk].duration_ms > 0 and by_id[jobs[2].pk].speaker_names == ["Alice", "Bob", "Carol"]
    assert Job.objects.polled_rows(alice, []) and all(job.is_active for job in Job.objects.polled_rows(alice, []))


def test_job_page_marks_each_sentence_with_its_timing_for_the_player(alice_client, alice):
    job = submitted_job(
        alice,
        Job.Status.COMPLETED,
        turns=[
            {"speaker": "Alice", "text": "Hello there. [pause 500ms] How are <you>?", "index": 0},
            {"speaker": "Bob", "text": "你好。再見！", "index": 1},
        ],
        voice_assignments=[{"speaker": "Alice", "voice_id": "en-us"}, {"speaker": "Bob", "voice_id": "cmn"}],
    )
    html = alice_client.get(reverse("job_detail", args=[job.pk])).content.decode()
    spans = re.findall(r'<span class="sentence" data-start-ms="(\d+)" data-end-ms="(\d+)">(.*?)</span>', html)
    timed = job.result_metadata["sentence_timings"]
    assert [(int(a), int(b)) for a, b, _ in spans] == [(t["start_ms"], t["end_ms"]) for t in timed]
    # The page shows the script as written (the marker between the sentences), escaped.
    assert [text for _, _, text in spans] == ["Hello there.", "How are &lt;you&gt;?", "你好。", "再見！"]
    assert "Hello there.</span> [pause 500ms] <span" in html

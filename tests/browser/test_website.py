"""The website in a real browser, with a real worker: what a person does."""

import re
import time
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from synthesis.models import Job
from tests.website import submitted_job

pytestmark = pytest.mark.browser

SCRIPT = """Alice: Hello Bob, hello Carol. Shall we start?
Bob: Yes, let's.
Carol: I'm ready
  when you are.
Alice: Then here we go."""


def htmx_requests(page, path_pattern: str) -> list:
    seen = []
    page.on(
        "request",
        lambda r: seen.append(r.url) if r.headers.get("hx-request") and re.search(path_pattern, r.url) else None,
    )
    return seen


def test_write_submit_and_watch_the_job_finish(page, live_server, alice, log_in, worker_cluster, artifacts):
    log_in("alice", "alice-password")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="New dialogue").click()
    page.get_by_label("Dialogue").fill(SCRIPT)
    # The pickers appear as the script is typed (debounced htmx request).
    pickers = page.locator("select.voice-select")
    expect(pickers).to_have_count(3)
    for speaker in ("Alice", "Bob", "Carol"):
        expect(page.get_by_label(speaker, exact=True)).to_be_visible()
    assert len({pickers.nth(i).input_value() for i in range(3)}) == 3
    page.get_by_label("Bob", exact=True).select_option("en-gb+f4")
    # ▶ plays a sample of the voice now selected.
    page.get_by_role("link", name="Preview the voice for Bob").click()
    page.wait_for_function("() => document.getElementById('preview-player').duration > 0")
    assert "voice=en-gb%2Bf4" in page.locator("#preview-player").get_attribute("src")
    page.get_by_role("button", name="Create the audio").click()

    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    job = Job.objects.get()
    expect(page.locator("#messages")).to_contain_text(f"Job {job.pk} submitted")
    assert job.voice_for_speaker["Bob"]["voice_id"] == "en-gb+f4"

    # No worker yet: the list shows the job waiting, and polls.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My jobs").click()
    polls = htmx_requests(page, r"/jobs/(\?|$)")
    row = page.locator(f"#job-{job.pk}")
    expect(row.locator(".badge")).to_have_text("Pending")
    expect(row).to_contain_text("place 1 in the queue")
    page.evaluate("window.__sameDocument = true")
    # Stand in for the browser's Notification, as if the user had allowed it.
    page.evaluate("""() => {
        window.__notified = [];
        window.Notification = function (title, options) { window.__notified.push(options.body); };
        window.Notification.permission = "granted";
    }""")

    worker_cluster()
    expect(row.locator(".badge")).to_have_text("Completed", timeout=60_000)
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"
    assert polls, "the list never polled"
    expect(page.locator("#notices")).to_contain_text("completed")
    assert page.evaluate("window.__notified") == [f"“{job.title}” completed"]
    expect(row.get_by_role("link", name="▶ Play")).to_be_visible()
    page.screenshot(path=artifacts / "job-list.png", full_page=True)

    # Nothing active any more: no more polling.
    settled = len(polls)
    time.sleep(4.5)
    assert len(polls) == settled, f"{len(polls) - settled} polling requests after the job finished"

    row.get_by_role("link", name=re.compile("Hello Bob")).click()
    page.wait_for_url(f"{live_server.url}/jobs/{job.pk}/")
    player = page.locator("#player")
    page.wait_for_function("() => document.getElementById('player').duration > 0")
    duration = player.evaluate("a => a.duration")
    job.refresh_from_db()
    assert duration == pytest.approx(job.result_metadata["duration_ms"] / 1000, abs=0.2)

    # ▶ on the third line plays from there.
    expect(page.locator(".timeline .turn-bar")).to_have_count(4)
    third_start = job.result_metadata["turn_timings"][2]["start_ms"] / 1000
    page.locator("#play-turn-2").click()
    page.wait_for_function(f"() => document.getElementById('player').currentTime > {third_start}")
    assert player.evaluate("a => !a.paused || a.ended")
    page.screenshot(path=artifacts / "job-detail.png", full_page=True)


def test_cancel_a_pending_job_after_confirming(page, live_server, alice, log_in):
    job = submitted_job(alice, Job.Status.PENDING)
    log_in("alice", "alice-password")
    row = page.locator(f"#job-{job.pk}")
    expect(row.locator(".badge")).to_have_text("Pending")

    messages = []
    page.once("dialog", lambda dialog: (messages.append(dialog.message), dialog.dismiss()))
    row.get_by_role("link", name="Cancel").click()
    page.wait_for_timeout(500)
    assert messages and "hasn't started yet" in messages[0]
    job.refresh_from_db()
    assert job.status == Job.Status.PENDING

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("link", name="Cancel").click()
    expect(row.locator(".badge")).to_have_text("Cancelled")
    expect(page.locator("#messages")).to_contain_text("Cancelled job")
    expect(page.locator("#job-list")).to_have_attribute("data-polling", "false")
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED


def test_another_users_job_is_not_found(page, live_server, alice, bob, log_in):
    theirs = submitted_job(bob, Job.Status.COMPLETED)
    log_in("alice", "alice-password")
    for path in (f"/jobs/{theirs.pk}/", f"/jobs/{theirs.pk}/audio/", f"/jobs/{theirs.pk}/subtitles.vtt"):
        response = page.goto(live_server.url + path)
        assert response.status == 404, path


def test_pages_fit_a_narrow_phone(page, live_server, alice, log_in, artifacts):
    job = submitted_job(alice, Job.Status.COMPLETED)
    submitted_job(alice, Job.Status.FAILED)
    page.set_viewport_size({"width": 360, "height": 740})
    log_in("alice", "alice-password")
    for path, name in (("/jobs/", "list"), (f"/jobs/{job.pk}/", "detail"), ("/jobs/new/", "new")):
        page.goto(live_server.url + path)
        if name == "new":
            page.get_by_label("Dialogue").fill(SCRIPT)
            expect(page.locator("select.voice-select")).to_have_count(3)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360, f"{name} scrolls sideways at 360 px"
        page.screenshot(path=artifacts / f"phone-{name}.png", full_page=True)


def test_everything_works_without_javascript(browser, live_server, alice):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("alice-password")
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/jobs/new/")
    page.get_by_label("Dialogue").fill(SCRIPT)
    page.get_by_role("button", name="Update the voice pickers").click()
    expect(page.locator("select.voice-select")).to_have_count(3)
    page.get_by_role("button", name="Create the audio").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    job = Job.objects.get()
    # Cancel without a confirm dialog: the link leads to a confirmation page.
    page.get_by_role("link", name="Cancel job").click()
    page.get_by_role("button", name="Yes, cancel it").click()
    page.wait_for_url(f"{live_server.url}/jobs/{job.pk}/")
    expect(page.locator(".badge")).to_have_text("Cancelled")
    page.get_by_role("button", name="Resubmit").click()
    expect(page.locator("#messages")).to_contain_text("Resubmitted as job")
    assert Job.objects.count() == 2
    context.close()


def test_keyboard_focus_survives_the_polling(page, live_server, alice, bob, log_in):
    """A keyboard user tabbing through a list that refreshes itself every 2 s
    must not be thrown back to the top of the page at every refresh."""
    job = submitted_job(alice, Job.Status.PENDING)  # pending, no worker: the list and the job page poll
    log_in("alice", "alice-password")
    for path, name in (("/jobs/", "Cancel"), (f"/jobs/{job.pk}/", "Cancel job")):
        page.goto(live_server.url + path)
        polls = htmx_requests(page, r"/jobs/")
        page.get_by_role("link", name=name, exact=True).focus()
        page.wait_for_function("() => document.activeElement.textContent.trim() !== ''")
        if path == "/jobs/":
            # The list's poll sends a row only when it changed (204 otherwise):
            # a job of bob's, older than alice's, now waits ahead of it.
            ahead = submitted_job(bob, Job.Status.PENDING)
            Job.objects.filter(pk=ahead.pk).update(created_at=job.created_at - timedelta(seconds=1))
        with page.expect_response(lambda r: r.request.headers.get("hx-request") == "true" and r.status == 200):
            pass  # one poll has swapped the section (or the row holding the focus)
        page.wait_for_timeout(300)  # the swap settles after the response
        assert polls, path
        if path == "/jobs/":
            expect(page.locator(f"#job-{job.pk}")).to_contain_text("place 2 in the queue")
        assert page.evaluate("document.activeElement.textContent.trim()") == name, f"focus lost on {path}"


def test_list_poll_answers_no_content_while_nothing_changed(page, live_server, alice, bob, log_in):
    """Each poll of a list whose rows show what they would is a 204 that htmx
    leaves alone: no swap, the polling goes on. A change comes with the next
    poll, and with it the row's new digest, so the polls are 204s again."""
    job = submitted_job(alice, Job.Status.PENDING)
    log_in("alice", "alice-password")
    statuses = []
    page.on("response", lambda r: statuses.append(r.status) if r.request.headers.get("hx-request") else None)
    row = page.locator(f"#job-{job.pk}")
    expect(row).to_contain_text("place 1 in the queue")
    row.evaluate("element => { element.dataset.marker = 'kept'; }")
    page.wait_for_timeout(4500)
    assert statuses and set(statuses) == {204}, statuses
    assert row.get_attribute("data-marker") == "kept"  # never swapped
    expect(page.locator("#job-list")).to_have_attribute("data-polling", "true")

    # A job of bob's, older than alice's, now waits ahead of it.
    ahead = submitted_job(bob, Job.Status.PENDING)
    Job.objects.filter(pk=ahead.pk).update(created_at=job.created_at - timedelta(seconds=1))
    expect(row).to_contain_text("place 2 in the queue")
    assert row.get_attribute("data-marker") is None  # swapped
    swapped = len(statuses)
    page.wait_for_timeout(4500)
    assert statuses[swapped:] and set(statuses[swapped:]) == {204}, statuses

    claimed = Job.objects.claim(job.pk, "test-worker")
    assert claimed and claimed.record_progress(1)
    expect(row.locator(".badge")).to_have_text("Processing")
    expect(row).to_contain_text("1/3 turns")

"""Edit and re-render in a real Chromium with a real worker: one line of a
completed dialogue changed on the page, the new version speaks only it."""

import re

import pytest
from playwright.sync_api import expect

from synthesis.models import Job, Segment
from tests.website import submitted_job

pytestmark = pytest.mark.browser


def test_edit_one_line_and_the_new_version_completes_beside_the_first(
    page, live_server, alice, log_in, worker_cluster, artifacts
):
    first = submitted_job(alice, Job.Status.COMPLETED)
    log_in("alice", "alice-password")
    page.goto(f"{live_server.url}/jobs/{first.pk}/")
    page.locator("#edit-job").click()
    page.wait_for_url(f"{live_server.url}/jobs/{first.pk}/edit/")
    expect(page.get_by_role("heading", name="Edit and re-render")).to_be_visible()
    script = page.get_by_label("Dialogue")
    expect(script).to_have_value(re.compile(r"^Alice: Hello there, Bob\.\nBob: Hi Alice\. How are you\?\n"))
    expect(page.get_by_label("Bob", exact=True)).to_have_value("en-us+m3")  # the job's voices, in the usual pickers

    # Edit one line, as a person would: the pickers refresh as they type and keep the voices.
    script.fill(script.input_value().replace("How are you?", "How was the trip?"))
    expect(page.locator("#voices .muted", has_text="3 speakers, 3 turns")).to_be_visible()
    expect(page.get_by_label("Bob", exact=True)).to_have_value("en-us+m3")
    page.get_by_role("button", name="Create the new version").click()

    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    second = Job.objects.get(based_on=first)
    assert page.url == f"{live_server.url}/jobs/{second.pk}/"
    expect(page.locator("#messages")).to_contain_text("New version submitted")
    expect(page.locator(".based-on")).to_contain_text("Version 2, made from version 1")

    worker = worker_cluster()
    # The status section polls, the version list with it.
    expect(page.locator("#job-status .status-line .badge")).to_have_text("Completed", timeout=90_000)
    versions = page.locator("nav.versions li")
    expect(versions).to_have_count(2)
    expect(versions.nth(0).get_by_role("link", name="Version 1")).to_be_visible()
    expect(versions.nth(0).locator(".badge")).to_have_text("Completed")
    expect(versions.nth(1).locator("[aria-current=page]")).to_have_text("Version 2")
    expect(versions.nth(1).locator(".badge")).to_have_text("Completed")
    expect(page.locator("#turn-1")).to_contain_text("How was the trip?")
    expect(page.locator("#reuse-note")).to_have_text("Lines reused from the earlier version: 2 of 3.")
    # One line spoken, two copied from the first version (the worker says so).
    assert f"job reused job_id={second.pk} from={first.pk} segments=2 of 3" in worker.output()
    page.wait_for_function("() => document.getElementById('player').duration > 0")

    page.set_viewport_size({"width": 360, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.screenshot(path=artifacts / "job-version-360.png", full_page=True)

    # The first version's page lists the same two, itself the one shown.
    versions.nth(0).get_by_role("link", name="Version 1").click()
    page.wait_for_url(f"{live_server.url}/jobs/{first.pk}/")
    expect(versions.nth(0).locator("[aria-current=page]")).to_have_text("Version 1")
    expect(versions.nth(1).get_by_role("link", name="Version 2")).to_be_visible()


def test_edit_one_line_of_300_and_only_that_line_is_spoken_again(page, live_server, alice, log_in, worker_cluster):
    """Issue 13's acceptance on the website: a 300-turn dialogue, one line
    edited on the page, the new version speaks that line alone (one new
    segment, 299 copied) and reuses the first version's MP3 around it."""
    speakers = ["Alice", "Bob", "Carol"]
    turns = [
        {"speaker": speakers[i % 3], "text": f"This is line number {i}, spoken once.", "index": i} for i in range(300)
    ]
    first = submitted_job(alice, Job.Status.COMPLETED, turns=turns)
    log_in("alice", "alice-password")
    page.goto(f"{live_server.url}/jobs/{first.pk}/edit/")
    script = page.get_by_label("Dialogue")
    text = script.input_value()
    assert "Carol: This is line number 149, spoken once." in text
    script.fill(text.replace("line number 149, spoken once.", "line number 149, said anew."))
    expect(page.locator("#voices .muted", has_text="3 speakers, 300 turns")).to_be_visible()
    page.get_by_role("button", name="Create the new version").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    second = Job.objects.get(based_on=first)

    worker = worker_cluster()
    expect(page.locator("#job-status .status-line .badge")).to_have_text("Completed", timeout=180_000)
    expect(page.locator("#reuse-note")).to_have_text("Lines reused from the earlier version: 299 of 300.")
    # The provider was asked once: one segment of the new version was made by it.
    made = Segment.objects.filter(job=second, created_at__gte=second.created_at)
    assert list(made.values_list("turn_index", flat=True)) == [149]
    output = worker.output()
    assert f"job reused job_id={second.pk} from={first.pk} segments=299 of 300" in output
    # Around the edit only: the rest of the first version's MP3 frames were copied.
    spliced = re.search(rf"job spliced job_id={second.pk} .* frames=(\d+) of (\d+)", output)
    assert spliced, output[-2000:]
    encoded, total = map(int, spliced.groups())
    assert encoded < total / 10, (encoded, total)
    second.refresh_from_db()
    assert len(second.result_metadata["turn_timings"]) == 300

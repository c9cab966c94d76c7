"""How the pages look in Chromium: density, narrow phones, notices, tokens.
Screenshots of every page at 1280 and 360 px go to test-artifacts/."""

import re

import pytest
from playwright.sync_api import expect

from synthesis.models import Job
from tests import factories
from tests.website import submitted_job

pytestmark = pytest.mark.browser


def test_the_list_shows_at_least_15_jobs_on_a_desktop_screen(page, live_server, alice, log_in, artifacts):
    for n in range(24):
        status = [Job.Status.COMPLETED, Job.Status.FAILED, Job.Status.PENDING, Job.Status.CANCELLED][n % 4]
        factories.make_job(alice, status, ended_days_ago=None if status == Job.Status.PENDING else n / 10)
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in("alice", "alice-password")
    rows = page.locator("li.job")
    expect(rows).to_have_count(20)  # one page
    # Measured in one go: the list polls (pending jobs) and swaps its rows.
    bottoms = page.eval_on_selector_all("li.job", "rows => rows.map(r => r.getBoundingClientRect().bottom)")
    visible = [bottom for bottom in bottoms if bottom <= 900]
    assert len(visible) >= 15, f"{len(visible)} rows fit in 900 px"
    # One line per job: status, title, speakers, length, age and actions side by side.
    tops = page.eval_on_selector(
        "li.job",
        """row => ['.badge', '.job-title', '.job-speakers', '.job-age', '.actions']
            .map(s => row.querySelector(s).getBoundingClientRect().top)""",
    )
    assert max(tops) - min(tops) < 12, tops
    page.screenshot(path=artifacts / "list-1280.png")


PAGES = [
    ("login", "/accounts/login/"),
    ("list", "/jobs/"),
    ("detail", "/jobs/{completed}/"),
    ("detail-failed", "/jobs/{failed}/"),
    ("new", "/jobs/new/"),
    ("edit", "/jobs/{completed}/edit/"),
    ("detail-retake", "/jobs/{retakes}/"),
    ("detail-version", "/jobs/{version}/"),
    ("cancel", "/jobs/{pending}/cancel/"),
    ("tokens", "/account/tokens/"),
    ("password", "/accounts/password/"),
    ("not-found", "/jobs/00000000-0000-0000-0000-000000000000/"),
]


@pytest.mark.parametrize("width", [1280, 360])
def test_every_page_fits_and_is_photographed(
    page, live_server, alice, log_in, artifacts, width, settings, scripted_provider
):
    settings.TTS_MAX_ACTIVE_JOBS_PER_USER = 10
    # A voice whose takes differ (↻ on each line), and a new version of it.
    retakes = submitted_job(alice, Job.Status.COMPLETED, provider="scripted")
    jobs = {
        "completed": submitted_job(alice, Job.Status.COMPLETED).pk,
        "failed": submitted_job(alice, Job.Status.FAILED).pk,
        "pending": submitted_job(alice, Job.Status.PENDING).pk,
        "retakes": retakes.pk,
        "version": retakes.retake([1]).pk,
    }
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(live_server.url + "/accounts/login/")
    page.screenshot(path=artifacts / f"page-login-{width}.png", full_page=True)
    log_in("alice", "alice-password")
    for name, path in PAGES[1:]:
        response = page.goto(live_server.url + path.format(**jobs))
        assert response.status < 500, name
        if name == "new":
            page.get_by_label("Dialogue").fill("Alice: Hello Bob.\nBob: Hello Alice.\nCarol: And me.")
            expect(page.locator("select.voice-select")).to_have_count(3)
        if name == "tokens":
            page.get_by_label("Name").fill("nightly podcast script")
            page.get_by_role("button", name="Create token").click()
            expect(page.locator("#new-token-secret")).to_be_visible()
        width_used = page.evaluate("document.documentElement.scrollWidth")
        assert width_used <= width, f"{name} is {width_used} px wide in a {width} px window"
        page.screenshot(path=artifacts / f"page-{name}-{width}.png", full_page=True)


def test_new_token_is_in_a_box_with_a_copy_button(page, live_server, alice, log_in, context):
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.set_viewport_size({"width": 360, "height": 740})
    log_in("alice", "alice-password")
    page.goto(live_server.url + "/account/tokens/")
    page.get_by_label("Name").fill("ci")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-token-secret")
    expect(secret).to_have_text(re.compile(r"^tts_"))
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == secret.inner_text()
    revoke = page.get_by_role("button", name="Revoke")
    box = revoke.bounding_box()
    assert box["x"] + box["width"] <= 360  # the Revoke button is on the screen


def test_notices_stack_once_fade_and_can_be_dismissed(page, live_server, alice, log_in):
    failed = [factories.make_job(alice, Job.Status.FAILED) for _ in range(2)]
    log_in("alice", "alice-password")
    page.goto(f"{live_server.url}/jobs/{failed[0].pk}/")
    page.get_by_role("button", name="Resubmit").click()
    page.wait_for_url(lambda url: str(failed[0].pk) not in url)
    toasts = page.locator(".toasts .toast")
    expect(toasts).to_have_count(1)
    expect(toasts.first).to_contain_text("Resubmitted as job")
    # Above the page in a corner, not pushing the heading down.
    assert page.get_by_role("heading", level=1).bounding_box()["y"] < 150
    toasts.first.get_by_role("button", name="Dismiss").click()
    expect(toasts).to_have_count(0)

    # The same notice arriving twice (two polls) is shown once.
    page.evaluate("""() => {
        for (let i = 0; i < 2; i++) {
            const p = document.createElement("p");
            p.className = "toast notice notice-failed";
            p.textContent = "“Some job” failed.";
            document.getElementById("notices").append(p);
        }
    }""")
    expect(toasts).to_have_count(1)

    # Good news fades away by itself (after 8 s); a failure stays.
    page.goto(f"{live_server.url}/jobs/{failed[1].pk}/")
    page.get_by_role("button", name="Resubmit").click()
    page.wait_for_url(lambda url: str(failed[1].pk) not in url)
    expect(toasts).to_have_count(1)
    expect(toasts).to_have_count(0, timeout=20_000)

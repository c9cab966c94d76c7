"""Every page works under the Content-Security-Policy: Chromium reports each
violation (to the console, and as a securitypolicyviolation event), and this
visits the pages, exercises their scripts, and fails on any one of them."""

import pytest
from playwright.sync_api import expect

from synthesis.models import ApiToken, Job
from synthesis.tasks import ensure_schedules
from tests.website import submitted_job

pytestmark = pytest.mark.browser

# Registered before any page script runs, so nothing is missed.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__violations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${where}`);
});
"""


@pytest.fixture
def violations(page):
    seen = []
    page.add_init_script(RECORD_VIOLATIONS)
    page.on(
        "console",
        lambda message: seen.append(f"console: {message.text}") if "Content Security Policy" in message.text else None,
    )

    def collect():
        try:
            seen.extend(page.evaluate("window.__violations || []"))
        except Exception:
            pass  # mid-navigation: the console listener still has them
        return seen

    return collect


def test_the_pages_work_under_the_csp_with_no_violation(page, live_server, staff, log_in, violations):
    completed = submitted_job(staff, Job.Status.COMPLETED)
    submitted_job(staff, Job.Status.PENDING)  # a pending one: the list polls
    ApiToken.objects.create_token(staff, "nightly")
    ensure_schedules()
    log_in("staff", "staff-password")
    url = live_server.url
    visited = []

    def visit(path):
        response = page.goto(url + path)
        assert "style-src 'self'" in response.headers["content-security-policy"], path
        visited.append((path, violations()[:]))

    # My jobs: htmx loaded and polling (its requests carry HX-Request).
    visit("/jobs/")
    with page.expect_request(lambda r: "/jobs/" in r.url and r.headers.get("hx-request")):
        pass
    assert page.evaluate("typeof htmx") == "object"

    # New dialogue: typing brings the voice pickers (an htmx swap), ▶ plays a sample.
    visit("/jobs/new/")
    page.get_by_label("Dialogue").fill("Alice: Hello there.\nBob: Hi Alice.")
    expect(page.locator("select.voice-select")).to_have_count(2)
    page.get_by_role("link", name="Preview the voice for Bob").click()
    page.wait_for_function("() => document.getElementById('preview-player').duration > 0")

    # A finished job: the player loads, the SVG timeline has its bars (and
    # the waveform), and ▶ on a line seeks there.
    visit(f"/jobs/{completed.pk}/")
    page.wait_for_function("() => document.getElementById('player').duration > 0")
    bars = page.locator(".timeline .turn-bar")
    expect(bars).to_have_count(3)
    assert bars.nth(2).bounding_box()["width"] > 10  # drawn at its width, not collapsed
    expect(page.locator(".timeline path.wave")).to_have_count(1)
    page.locator("#play-turn-2").click()
    start = completed.result_metadata["turn_timings"][2]["start_ms"] / 1000
    page.wait_for_function(f"() => document.getElementById('player').currentTime >= {start - 0.05}")

    visit("/account/tokens/")
    page.get_by_label("Name").fill("another")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("body")).to_contain_text("tts_")

    for path in (
        "/admin/",
        "/admin/synthesis/job/",
        f"/admin/synthesis/job/{completed.pk}/change/",
        "/admin/synthesis/apitoken/",
        "/admin/auth/user/",
        f"/admin/auth/user/{staff.pk}/change/",
        "/admin/django_q/schedule/",
        "/admin/django_q/schedule/add/",
    ):
        visit(path)
        expect(page.locator("#content")).to_be_visible()
    # The admin's own scripts (actions bar, date pickers) run under the policy.
    visit("/admin/synthesis/job/")
    page.locator("#action-toggle").check()
    expect(page.locator(".action-counter")).to_contain_text("2 of 2 selected")

    page.wait_for_timeout(500)  # late reports (polling swaps) land too
    assert violations() == [], visited

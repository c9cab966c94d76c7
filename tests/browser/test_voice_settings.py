"""Voice settings on the new-dialogue page, in a real browser: the controls
beside a picker, the ▶ sample playing them, and the job getting them."""

import re

import pytest
from playwright.sync_api import expect

from synthesis.models import Job

pytestmark = pytest.mark.browser

SCRIPT = "Alice: Hello Bob, shall we start the meeting now?\nBob: Yes, let us begin with the first item on the list."


def test_set_a_speakers_speed_preview_it_and_submit(page, live_server, alice, log_in, artifacts):
    log_in("alice", "alice-password")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="New dialogue").click()
    page.get_by_label("Dialogue").fill(SCRIPT)
    expect(page.locator("select.voice-select")).to_have_count(2)
    bob = page.get_by_role("group", name="Voice settings for Bob")
    expect(bob.get_by_label("Speed")).to_have_value("1.0")
    expect(bob.get_by_label("Pitch (semitones)")).to_have_value("0.0")
    expect(bob.get_by_label("Volume")).to_have_value("1.0")

    player = page.locator("#preview-player")
    preview = page.get_by_role("link", name="Preview the voice for Bob")
    preview.click()
    page.wait_for_function("() => document.getElementById('preview-player').duration > 0")
    normal = player.evaluate("a => a.duration")

    bob.get_by_label("Speed").fill("2")
    bob.get_by_label("Pitch (semitones)").fill("3")
    preview.click()
    expect(player).to_have_attribute("src", re.compile(r"speed=2&pitch=3"))
    page.wait_for_function(f"() => document.getElementById('preview-player').duration < {normal * 0.7}")
    page.screenshot(path=artifacts / "voice-settings.png", full_page=True)

    page.get_by_role("button", name="Create the audio").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    assignment = Job.objects.get().voice_for_speaker["Bob"]
    assert (assignment["speed"], assignment["pitch"]) == (2.0, 3.0)
    assert "volume" not in assignment  # left at its default

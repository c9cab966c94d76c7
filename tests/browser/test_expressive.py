"""Issue 14 end to end, as a user on the website in a real Chromium with a real
worker: a dictionary entry, a speaker's speed, a pause inside a line; the job
completes, plays, and the sentence highlight follows the player."""

import re

import pytest
from playwright.sync_api import expect

from synthesis.audio import decode
from synthesis.models import Job
from tests.test_pauses import QUIET, longest_quiet

pytestmark = pytest.mark.browser

SCRIPT = (
    "Alice: Good morning, Bob. The Zorblax report is ready.\n"
    "Bob: Thank you, Alice. [pause 800ms] Let us read it together. It looks long."
)


def test_dictionary_speed_and_pause_make_a_job_whose_sentences_follow_the_player(
    page, live_server, alice, log_in, worker_cluster, artifacts
):
    log_in("alice", "alice-password")

    # A dictionary entry, on the account page.
    page.goto(f"{live_server.url}/account/pronunciation/")
    page.get_by_label("Written").fill("Zorblax")
    page.get_by_label("Say it as").fill("zor blacks")
    page.get_by_role("button", name="Add").click()  # htmx: the panel is swapped in place
    expect(page.locator(".lexicon-table tr", has_text="Zorblax")).to_contain_text("zor blacks")

    # The dialogue: Bob a little faster, a pause inside his line.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="New dialogue").click()
    page.get_by_label("Dialogue").fill(SCRIPT)
    expect(page.locator("select.voice-select")).to_have_count(2)
    expect(page.locator("#script-notes")).to_have_count(0)
    bob = page.get_by_role("group", name="Voice settings for Bob")
    bob.get_by_label("Speed").fill("1.5")
    page.get_by_role("button", name="Create the audio").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    job = Job.objects.get()
    assert page.url == f"{live_server.url}/jobs/{job.pk}/"

    # A real worker; the status section polls until the job is done.
    worker_cluster()
    expect(page.locator("#job-status .status-line .badge")).to_have_text("Completed", timeout=120_000)
    job.refresh_from_db()
    assert job.status == Job.Status.COMPLETED, job.error_message

    # What the job recorded: the speed, the entry it used, the sentence timings.
    assert job.voice_for_speaker["Bob"]["speed"] == 1.5
    assert "speed" not in job.voice_for_speaker["Alice"]
    assert job.lexicon == [
        {"written": "Zorblax", "spoken": "zor blacks", "kind": "respelling", "case_sensitive": False, "applied": True}
    ]
    assert job.input_params["turns"][1]["text"] == SCRIPT.split("\nBob: ")[1]
    timed = job.result_metadata["sentence_timings"]
    assert [(s["turn_index"], s["text"]) for s in timed] == [
        (0, "Good morning, Bob."),
        (0, "The Zorblax report is ready."),
        (1, "Thank you, Alice."),
        (1, "Let us read it together."),
        (1, "It looks long."),
    ]

    # The file holds the pause: 800 ms of silence inside Bob's line.
    audio = decode(job.audio.read())
    rate = audio.sample_rate
    turn = job.result_metadata["turn_timings"][1]
    samples = audio.samples[round(turn["start_ms"] * rate / 1000) : round(turn["end_ms"] * rate / 1000)]
    start, end = longest_quiet(samples, QUIET)
    assert abs(1000 * (end - start) / rate - 800) <= 30, 1000 * (end - start) / rate

    # The job page: reload it to get the player (the status section polled to completion).
    page.reload()
    page.wait_for_function("() => document.getElementById('player').duration > 0", timeout=60_000)
    sentences = page.locator("li.turn .sentence")
    expect(sentences).to_have_count(len(timed))
    highlighted = page.locator(".sentence.current-sentence")

    # Play: the player moves and a sentence of the first line is highlighted.
    page.locator("#play-turn-0").click()
    page.wait_for_function("() => document.getElementById('player').currentTime > 0", timeout=30_000)
    page.evaluate("document.getElementById('player').pause()")
    expect(highlighted).to_have_count(1)
    expect(page.locator("#turn-0 .sentence.current-sentence")).to_have_count(1)

    # Seek into later sentences (after the pause, in Bob's line): each is highlighted in turn.
    for number in (3, 4, 1):
        target = timed[number]
        middle = (target["start_ms"] + target["end_ms"]) / 2000
        page.evaluate(f"document.getElementById('player').currentTime = {middle}")
        expect(highlighted).to_have_count(1)
        expect(highlighted).to_have_text(target["text"])
        line = page.locator(f"#turn-{target['turn_index']}")
        expect(line).to_have_class(re.compile(r"\bcurrent\b"))
        expect(line.locator(".sentence.current-sentence")).to_have_text(target["text"])
    page.screenshot(path=artifacts / "expressive-job.png", full_page=True)

"""Pauses in the new-dialogue editor, in a real browser: a mistaken marker is
pointed at while typing and refused on submit; a right one makes a job whose
file holds the silence."""

import re

import numpy as np
import pytest
from playwright.sync_api import expect

from synthesis.audio import decode
from synthesis.models import Job

pytestmark = pytest.mark.browser


def test_write_a_pause_fix_a_mistaken_one_and_hear_the_silence(page, live_server, alice, log_in, worker_cluster):
    log_in("alice", "alice-password")
    page.goto(f"{live_server.url}/jobs/new/")
    expect(page.locator("#pause-help")).to_contain_text("[pause 800ms]")
    script = page.get_by_label("Dialogue")
    script.fill("Alice: Good morning.\nBob: Wait for it\n[pause 12s] now.")
    # Pointed at while typing, beside the voice pickers, by its line.
    # (The notes come from a debounced request: generous waits for a busy machine.)
    expect(page.locator("#script-notes")).to_contain_text("Line 3: “[pause 12s]” is too long", timeout=30_000)
    page.get_by_role("button", name="Create the audio").click()
    expect(page.locator("#script-errors")).to_contain_text("Line 3: “[pause 12s]” is too long")
    assert not Job.objects.exists()

    # Typed at once into the refused form htmx has just swapped in: its
    # listeners are bound in the swap itself (base.html: defaultSettleDelay 0).
    page.get_by_label("Dialogue").fill("Alice: Good morning.\nBob: Wait for it\n[pause 1.5s] now.")
    expect(page.locator("#script-notes")).to_have_count(0, timeout=30_000)
    page.get_by_role("button", name="Create the audio").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    worker_cluster()
    expect(page.locator(".badge").first).to_have_text("Completed", timeout=60_000)
    job = Job.objects.get()
    assert job.input_params["turns"][1]["text"].strip() == "Wait for it [pause 1.5s] now."
    audio = decode(job.audio.read())
    timed = job.result_metadata["turn_timings"][1]
    rate = audio.sample_rate
    turn = audio.samples[round(timed["start_ms"] * rate / 1000) : round(timed["end_ms"] * rate / 1000)]
    quiet = np.concatenate([[False], np.abs(turn) < 10 ** (-50 / 20), [False]])
    edges = np.flatnonzero(np.diff(quiet.astype(np.int8)))
    longest_ms = 1000 * int((edges[1::2] - edges[::2]).max()) / rate
    assert abs(longest_ms - 1500) <= 30, longest_ms

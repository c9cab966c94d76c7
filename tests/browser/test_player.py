"""The job page's player on a long dialogue, in a real Chromium."""

import io
import re

import numpy as np
import pytest
import soundfile as sf
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from playwright.sync_api import expect

from synthesis.models import Job
from tests import factories

pytestmark = pytest.mark.browser

TURNS = 200
TURN_MS = 4500  # 200 turns of 4.5 s: a 15-minute dialogue


@pytest.fixture(scope="session")
def long_mp3() -> bytes:
    """15 minutes of MP3, made once per session: a tone that changes pitch
    every turn (a real 15-minute synthesis spends a minute in the MP3 encoder
    on this machine; what is tested here is the serving and the seeking)."""
    rate = 16000
    t = np.arange(rate * TURN_MS // 1000) / rate
    turns = [0.2 * np.sin(2 * np.pi * (200 + 20 * (n % 10)) * t) for n in range(TURNS)]
    buffer = io.BytesIO()
    sf.write(buffer, np.concatenate(turns).astype(np.float32), rate, format="MP3", subtype="MPEG_LAYER_III")
    return buffer.getvalue()


def long_job(owner, mp3: bytes) -> Job:
    turns = [{"speaker": ("Alice", "Bob")[n % 2], "text": f"Line number {n}.", "index": n} for n in range(TURNS)]
    params = factories.input_params() | {
        "turns": turns,
        "voice_assignments": [{"speaker": "Alice", "voice_id": "en-us+f3"}, {"speaker": "Bob", "voice_id": "en-gb+m3"}],
    }
    timed = [
        {"turn_index": n, "speaker": turn["speaker"], "start_ms": n * TURN_MS, "end_ms": (n + 1) * TURN_MS - 300}
        for n, turn in enumerate(turns)
    ]
    job = factories.make_job(
        owner,
        Job.Status.COMPLETED,
        input_params=params,
        title=Job.make_title(params),
        progress_total=TURNS,
        progress_done=TURNS,
        result_metadata=factories.make_job(owner, Job.Status.COMPLETED).result_metadata
        | {"duration_ms": TURNS * TURN_MS, "turn_timings": timed, "size_bytes": len(mp3)},
    )
    name = default_storage.save(f"audio/test/{job.pk}.mp3", ContentFile(mp3))
    Job.objects.filter(pk=job.pk).update(audio=name)
    job.refresh_from_db()
    return job


def test_seek_to_ten_minutes_plays_from_there(page, live_server, alice, log_in, long_mp3):
    job = long_job(alice, long_mp3)
    statuses = []
    page.on("response", lambda r: statuses.append(r.status) if "/audio/" in r.url else None)
    log_in("alice", "alice-password")
    page.goto(f"{live_server.url}/jobs/{job.pk}/")
    page.wait_for_function("() => document.getElementById('player').duration > 0", timeout=30_000)
    duration = page.evaluate("document.getElementById('player').duration")
    assert duration == pytest.approx(TURNS * TURN_MS / 1000, abs=2)

    page.evaluate("""() => {
        const player = document.getElementById('player');
        player.currentTime = 600;
        return player.play();
    }""")
    # It plays on from 10:00: time advances past it and never falls back.
    page.wait_for_function("() => document.getElementById('player').currentTime > 601", timeout=30_000)
    seekable_end = page.evaluate("document.getElementById('player').seekable.end(0)")
    assert seekable_end == pytest.approx(duration, abs=2)
    for _ in range(5):
        page.wait_for_timeout(200)
        assert page.evaluate("document.getElementById('player').currentTime") >= 600
    assert 206 in statuses, statuses


def test_play_from_a_line_highlights_it_and_follows_the_dialogue(page, live_server, alice, log_in, long_mp3, artifacts):
    job = long_job(alice, long_mp3)
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in("alice", "alice-password")
    page.goto(f"{live_server.url}/jobs/{job.pk}/")
    page.wait_for_function("() => document.getElementById('player').duration > 0", timeout=30_000)
    player = "document.getElementById('player')"

    line = page.locator("#turn-150")
    page.locator("#play-turn-150").click()
    start = 150 * TURN_MS / 1000
    page.wait_for_function(f"() => {player}.currentTime >= {start} && !{player}.paused", timeout=30_000)
    expect(line).to_have_class(re.compile(r"\bcurrent\b"))
    expect(line).to_have_attribute("aria-current", "true")
    expect(line).to_be_in_viewport()
    assert page.locator("li.turn.current").count() == 1
    expect(page.locator('.turn-bar[data-turn="150"]')).to_have_class(re.compile(r"\bcurrent\b"))

    # As the audio plays on, the next line takes over.
    expect(page.locator("#turn-151")).to_have_class(re.compile(r"\bcurrent\b"), timeout=20_000)
    expect(line).not_to_have_class(re.compile(r"\bcurrent\b"))
    page.screenshot(path=artifacts / "player-following.png")

    # Keyboard: ↓ next line, ↑ back to the start of this one / the previous, Space pauses.
    page.locator("h1").click()  # the focus leaves the line's link, as a listener's would
    page.keyboard.press("ArrowDown")
    expect(page.locator("#turn-152")).to_have_class(re.compile(r"\bcurrent\b"))
    assert page.evaluate(f"{player}.currentTime") >= 152 * TURN_MS / 1000
    page.keyboard.press("ArrowUp")
    expect(page.locator("#turn-151")).to_have_class(re.compile(r"\bcurrent\b"))
    page.keyboard.press(" ")
    page.wait_for_function(f"() => {player}.paused")
    page.keyboard.press(" ")
    page.wait_for_function(f"() => !{player}.paused")


def test_timeline_has_a_waveform_and_zooms_on_a_long_dialogue(page, live_server, alice, log_in, long_mp3):
    job = long_job(alice, long_mp3)
    levels = [50 + (n % 7) for n in range(1000)]
    Job.objects.filter(pk=job.pk).update(result_metadata=job.result_metadata | {"peaks": levels})
    log_in("alice", "alice-password")
    page.goto(f"{live_server.url}/jobs/{job.pk}/")
    page.wait_for_function("() => document.getElementById('player').duration > 0", timeout=30_000)
    expect(page.locator(".overview .turn-bar")).to_have_count(TURNS)
    expect(page.locator(".overview path.wave")).to_have_count(1)
    # A click at 3/4 of the overview plays from 3/4 of the dialogue.
    box = page.locator("svg.overview").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2)
    page.wait_for_function("() => document.getElementById('player').currentTime > 600", timeout=30_000)
    # The zoomed strip shows a minute around the playhead, and the overview frames it.
    view = page.locator("svg.zoom").get_attribute("viewBox").split()
    assert float(view[2]) == 60_000 and float(view[0]) <= 675_000 <= float(view[0]) + 60_000
    assert page.locator(".zoom-window").get_attribute("width") == "60000"


def test_the_sentence_heard_is_highlighted_inside_its_line(page, live_server, alice, log_in):
    """A real eSpeak job: as the player moves, the highlighted sentence is the
    one whose timing holds the playhead, inside the highlighted line."""
    from tests.website import submitted_job

    # Synthesized in this process: the engine runs in a thread (tests/browser/conftest.py).

    job = submitted_job(
        alice,
        Job.Status.COMPLETED,
        output_format="wav",
        turns=[
            {"speaker": "Alice", "text": "Good morning, Bob. The weather is lovely today. Shall we walk?", "index": 0},
            {"speaker": "Bob", "text": "Yes, let us go. 我們去公園吧。", "index": 1},
        ],
        voice_assignments=[{"speaker": "Alice", "voice_id": "en-us+f3"}, {"speaker": "Bob", "voice_id": "cmn"}],
    )
    timed = job.result_metadata["sentence_timings"]
    assert len(timed) == 5
    log_in("alice", "alice-password")
    page.goto(f"{live_server.url}/jobs/{job.pk}/")
    page.wait_for_function("() => document.getElementById('player').duration > 0", timeout=30_000)
    sentences = page.locator("li.turn .sentence")
    expect(sentences).to_have_count(5)
    expect(sentences.nth(2)).to_have_text("Shall we walk?")
    highlighted = page.locator(".sentence.current-sentence")

    # Playing from the start: the highlight moves from sentence to sentence.
    page.locator("#play-turn-0").click()
    checked = 0
    for number in (0, 1, 2, 3, 4):
        sentence = timed[number]
        middle = (sentence["start_ms"] + sentence["end_ms"]) / 2000
        page.wait_for_function(
            f"() => document.getElementById('player').currentTime >= {middle}"
            f" || document.getElementById('player').ended",
            timeout=30_000,
        )
        if page.evaluate("document.getElementById('player').currentTime") * 1000 < sentence["end_ms"]:
            expect(highlighted).to_have_count(1)
            expect(highlighted).to_have_text(sentence["text"])
            line = page.locator(f"#turn-{sentence['turn_index']}")
            expect(line).to_have_class(re.compile(r"\bcurrent\b"))
            expect(line.locator(".sentence.current-sentence")).to_have_count(1)
            checked += 1
    # A loaded machine may pass a sentence before it is looked at, not most of them.
    assert checked >= 3

    # A seek into the middle of a sentence highlights that one at once.
    page.evaluate("document.getElementById('player').pause()")
    target = timed[1]
    page.evaluate(f"document.getElementById('player').currentTime = {(target['start_ms'] + target['end_ms']) / 2000}")
    expect(highlighted).to_have_text(target["text"])

"""Rendering while the turns are spoken (synthesis.render_ahead): the same
bytes as the plain render, whatever arrives from memory or from storage."""

import io
import threading
import time

import numpy as np
import pytest

from synthesis import render_ahead, waveform
from synthesis.audio import Audio, render_dialogue
from synthesis.render_ahead import RenderAhead
from tests.test_audio import speech_like

PARAMS = {"fmt": "f32", "gap_ms": 300, "crossfade_ms": 50}


class StoredTurn:
    """A kept segment as the render reads it: fresh audio at each load."""

    def __init__(self, audio):
        self.audio = audio
        self.sample_rate = audio.sample_rate
        self.loads = 0

    def load(self):
        self.loads += 1
        return Audio(self.audio.samples.copy(), self.audio.sample_rate)


def turns(rates):
    return [speech_like(0.4 + 0.1 * i, 0.1 + 0.05 * i, rate=rate) for i, rate in enumerate(rates)]


def plain(audios, rate=None):
    out = io.BytesIO()
    meter = waveform.StreamMeter()
    rate = rate or max(a.sample_rate for a in audios)
    timings = render_dialogue(
        [lambda a=a: Audio(a.samples.copy(), a.sample_rate) for a in audios],
        out, sample_rate=rate, on_block=meter.add, **PARAMS,
    )  # fmt: skip
    return out.getvalue(), timings, meter.levels()


def ahead_of(audios, kept=(), no_memory=False):
    stored = [StoredTurn(a) for a in audios]
    ahead = RenderAhead({i: stored[i] for i in kept}, len(audios), **PARAMS)
    if no_memory:
        ahead.MEMORY_BYTES = 0
    for i, audio in enumerate(audios):
        if i not in kept:
            time.sleep(0.01)  # the mix waits for turns still being spoken
            ahead.offer(i, stored[i], Audio(audio.samples.copy(), audio.sample_rate))
    return ahead, stored


@pytest.mark.parametrize("kept", [(), (0, 2), (1, 3, 4)])
@pytest.mark.parametrize("no_memory", [False, True])
def test_the_render_ahead_is_the_plain_render(kept, no_memory):
    audios = turns([22050] * 5)
    ahead, stored = ahead_of(audios, kept, no_memory)
    out, timings, meter, rate = ahead.result(lambda: None)
    with out:
        out.seek(0)
        assert (out.read(), timings, meter.levels()) == plain(audios)
    assert rate == 22050
    # Spoken turns come from memory unless it is full; kept ones from storage.
    assert [s.loads for s in stored] == [1 if (i in kept or no_memory) else 0 for i in range(5)]


def test_a_kept_turn_at_a_higher_rate_sets_the_rate():
    audios = turns([16000, 22050, 16000])
    ahead, _ = ahead_of(audios, kept=(1,))
    out, _, _, rate = ahead.result(lambda: None)
    with out:
        out.seek(0)
        assert rate == 22050 and out.read() == plain(audios)[0]


def test_a_later_turn_at_a_higher_rate_means_rendering_again():
    ahead, _ = ahead_of(turns([16000, 16000, 24000]))
    assert ahead.result(lambda: None) is None


def test_offered_audio_is_copied_not_normalised_in_place():
    audio = turns([22050])[0]
    before = audio.samples.copy()
    ahead = RenderAhead({}, 1, **PARAMS)
    ahead.offer(0, StoredTurn(audio), audio)
    ahead.result(lambda: None)[0].close()
    assert np.array_equal(audio.samples, before)


def test_abandoning_stops_a_render_waiting_for_turns():
    ahead = RenderAhead({}, 3, **PARAMS)
    ahead.offer(0, StoredTurn(turns([22050])[0]), turns([22050])[0])
    ahead.abandon()
    assert not ahead._thread.is_alive()
    ahead.abandon()  # again: nothing happens


def test_a_check_that_raises_abandons_the_render():
    ahead = RenderAhead({}, 2, **PARAMS)  # turn 1 never comes
    calls = []

    def check():
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("cancelled")

    with pytest.raises(RuntimeError, match="cancelled"):
        ahead.result(check)
    assert not ahead._thread.is_alive()


def test_an_error_in_the_render_reaches_the_run():
    class Broken(StoredTurn):
        def load(self):
            raise OSError("storage unavailable")

    audio = turns([22050])[0]
    ahead = RenderAhead({0: Broken(audio)}, 1, **PARAMS)
    with pytest.raises(OSError, match="storage unavailable"):
        ahead.result(lambda: None)


def test_the_render_thread_never_holds_more_than_its_memory(monkeypatch):
    monkeypatch.setattr(render_ahead.RenderAhead, "MEMORY_BYTES", 3 * 22050 * 4)  # 3 s of audio
    ahead = RenderAhead({}, 10, **PARAMS)
    gate = threading.Event()
    stored = [StoredTurn(speech_like(1.0, 0.2)) for _ in range(10)]
    original = ahead._take

    def slow_take(index):
        gate.wait()
        return original(index)

    ahead._take = slow_take  # the mix is stuck: offers pile up
    for i, s in enumerate(stored):
        ahead.offer(i, s, s.load())
        assert ahead._held <= RenderAhead.MEMORY_BYTES
    gate.set()
    ahead.result(lambda: None)[0].close()


def test_only_dialogues_of_short_turns_render_ahead():
    from synthesis.pipeline import renders_ahead

    def turn(text, *pauses_ms):
        return {"text": text, "pieces": [(text, 0)] + [(None, ms) for ms in pauses_ms]}

    assert renders_ahead([turn("Hello there."), turn("Hi.", 2000)])
    assert not renders_ahead([turn("Hello there."), turn("word " * 400)])  # about 140 s
    assert not renders_ahead([turn("Hi.", 60_000, 61_000)])  # two minutes of pauses


@pytest.mark.django_db
@pytest.mark.parametrize("ahead", [True, False])
def test_a_job_stores_exactly_the_render_of_its_segments(alice, monkeypatch, ahead):
    from synthesis import pipeline
    from synthesis.models import Segment
    from synthesis.pipeline import SynthesisRun
    from synthesis.tasks import run_synthesis
    from tests.test_segments import submit

    started = []
    real = pipeline.RenderAhead

    class Watched(real):
        def __init__(self, *args, **kwargs):
            started.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(pipeline, "RenderAhead", Watched)
    if not ahead:
        monkeypatch.setattr(real, "MAX_TURN_SECONDS", 0)
    job = submit(alice, turns=7, output_format="wav")
    assert run_synthesis(job.pk) == "completed"
    assert started == ([1] if ahead else [])
    job.refresh_from_db()
    segments = list(Segment.objects.filter(job=job).order_by("turn_index"))
    out, timings, meter, rate = SynthesisRun(job).render(segments)
    with out, job.audio.open("rb") as stored:
        out.seek(0)
        assert out.read() == stored.read()
    assert meter.levels() == job.result_metadata["peaks"] and rate == job.result_metadata["sample_rate"]
    assert [(round(a), round(b)) for a, b in timings] == [
        (t["start_ms"], t["end_ms"]) for t in job.result_metadata["turn_timings"]
    ]

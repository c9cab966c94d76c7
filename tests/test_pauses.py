"""Pauses inside a line (issue 14, item 2): ``[pause 800ms]``, ``[pause 1.5s]``,
``[停頓 1秒]``. Parsing (synthesis.pauses), what the engines get, the silence
measured in the rendered file with the real eSpeak engine, the 400s and the
page's errors, subtitles, kept segments, and native providers over HTTP."""

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from django.urls import reverse
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from synthesis import subtitles
from synthesis.audio import Audio, decode
from synthesis.pauses import (
    canonical,
    find_markers,
    join_with_pauses,
    pause_problems,
    split_pauses,
    spoken_pieces,
    strip_pauses,
    total_pause_ms,
)
from synthesis.pipeline import _speakable_or_none
from synthesis.segments import content_key
from tests.fakes import job_body, run_job, serving
from tests.fakes.azure import SSML_NS, AzureFake
from tests.fakes.elevenlabs import ElevenLabsFake

# --- the syntax -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text, pieces",
    [
        ("Hello there.", [("Hello there.", 0)]),
        ("Hi [pause 800ms] there.", [("Hi", 800), ("there.", 0)]),
        ("Hi [pause 1.5s] there.", [("Hi", 1500), ("there.", 0)]),
        ("Hi[pause 800 ms]there", [("Hi", 800), ("there", 0)]),
        ("Hi [PAUSE 2S] there", [("Hi", 2000), ("there", 0)]),
        ("你好[停頓 1秒]再見", [("你好", 1000), ("再見", 0)]),
        ("你好[停頓1秒]再見", [("你好", 1000), ("再見", 0)]),
        ("你好[停顿 500毫秒]再见", [("你好", 500), ("再见", 0)]),
        ("你好［停頓 1秒］再見", [("你好", 1000), ("再見", 0)]),
        ("你好【停頓 1秒】再見", [("你好", 1000), ("再見", 0)]),
        ("你好【停頓 １．５秒】再見", [("你好", 1500), ("再見", 0)]),  # an input method's full-width digits
        ("a [pause 0.5s][pause 700ms] b", [("a", 1200), ("b", 0)]),  # adjacent markers add up
        ("[pause 1s] Hello", [(None, 1000), ("Hello", 0)]),
        ("Hello [pause 1s]", [("Hello", 1000)]),
        ("[pause 2s]", [(None, 2000)]),  # a silent turn
        ("a [pause 0ms] b", [("a", 0), ("b", 0)]),
        ("a [pause 10s] b", [("a", 10000), ("b", 0)]),
        ("a [pause 0.0005s] b", [("a", 1), ("b", 0)]),  # half a millisecond rounds up
        # Words, not markers: read as written.
        ("The [pauses] here [paused 1s]", [("The [pauses] here [paused 1s]", 0)]),
        ("[Host] said pause 1s", [("[Host] said pause 1s", 0)]),
    ],
)
def test_split_pauses(text, pieces):
    assert split_pauses(text) == pieces
    assert pause_problems(text) == []


@pytest.mark.parametrize(
    "text, problem",
    [
        ("Hi [pause] there", "“[pause]” is not a pause: write it like [pause 800ms]"),
        ("Hi [pause 800] there", "“[pause 800]” is not a pause"),
        ("Hi [pause eight s] there", "“[pause eight s]” is not a pause"),
        ("你好[停頓一下]再見", "“[停頓一下]” is not a pause"),
        ("你好[停頓 一秒]再見", "“[停頓 一秒]” is not a pause"),
        ("Hi [pause -1s] there", "“[pause -1s]” is not a pause"),
        ("Hi [pause 11s] there", "“[pause 11s]” is too long: a pause is 0 to 10 seconds."),
        ("Hi [pause 10001ms] there", "“[pause 10001ms]” is too long"),
        ("Hi [pause 10.001s] there", "“[pause 10.001s]” is too long"),
        ("Hi [pause 1s there", "is not a pause"),
        ("Hi [pause 1s", "“[pause 1s” has no closing bracket."),
    ],
)
def test_mistaken_markers_are_problems_and_never_spoken(text, problem):
    [found] = pause_problems(text)
    assert problem in found
    assert not any(words and "pause" in words.lower() for words, _ in split_pauses(text))


def test_strip_pauses_leaves_one_space_between_words_and_none_in_chinese():
    assert strip_pauses("Hi [pause 1s] there.") == "Hi there."
    assert strip_pauses("你好，[停頓 1秒]再見。") == "你好，再見。"
    assert strip_pauses("[pause 1s]") == ""
    assert total_pause_ms("a [pause 1s] b [停頓 0.5秒] c") == 1500


def test_canonical_form_names_the_sound_not_the_spelling():
    assert canonical(split_pauses("Plain text.")) == "Plain text."  # keys of turns without pauses are unchanged
    assert canonical(split_pauses("a [pause 0.8s] b")) == canonical(split_pauses("a [pause 800ms] b"))
    assert canonical(split_pauses("a [pause 0.8s] b")) == canonical(split_pauses("a【停頓 800毫秒】b"))
    assert canonical(split_pauses("a [pause 800ms] b")) != canonical(split_pauses("a [pause 900ms] b"))
    assert canonical(split_pauses("a [pause 800ms] b")) != canonical(split_pauses("a b"))


MARKERS = st.builds(
    lambda open_close, word, number, unit, space: f"{open_close[0]}{word}{space}{number}{unit}{open_close[1]}",
    st.sampled_from(["[]", "［］", "【】", "[】"]),
    st.sampled_from(["pause", "Pause", "停頓", "停顿"]),
    st.one_of(st.integers(0, 12_000).map(str), st.decimals(0, 12, places=3).map(str)),
    st.sampled_from(["ms", "s", "秒", "毫秒", " ms", ""]),
    st.sampled_from(["", " ", "\u3000"]),
)
WORDS = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=12)


@hypothesis_settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(MARKERS, WORDS, st.sampled_from(["[", "【", "pause", "停頓", "]", "1s"])), max_size=10))
def test_markers_never_reach_an_engine(parts):
    """Whatever surrounds them, what the engines get holds no marker and no
    would-be marker, and the silence is the sum of the valid markers."""
    text = "".join(parts)
    for words, ms in split_pauses(text):
        assert ms >= 0
        assert words is None or (words.strip() == words and words and not find_markers(words))
    for words, _ in spoken_pieces(text, _speakable_or_none):
        assert words is None or not find_markers(words)
    assert not find_markers(strip_pauses(text))
    valid = [marker.ms for marker in find_markers(text) if marker.ms is not None]
    assert sum(ms for _, ms in split_pauses(text)) == sum(valid)
    assert sum(ms for _, ms in spoken_pieces(text, _speakable_or_none)) == sum(valid)


# --- the audio ------------------------------------------------------------------


def test_join_puts_exactly_the_pause_between_speech():
    rate = 1000
    speech = np.concatenate([np.zeros(12), np.full(50, 0.5), np.zeros(7)]).astype(np.float32)
    audio, spans = join_with_pauses([(Audio(speech, rate), 800), (Audio(speech, rate), 0)], rate)
    # Outer edges as the engine made them; padding next to the pause trimmed.
    expected = np.concatenate([np.zeros(12), np.full(50, 0.5), np.zeros(800), np.full(50, 0.5), np.zeros(7)])
    assert np.array_equal(audio.samples, expected.astype(np.float32))
    assert spans == [(0.0, 62.0), (862.0, 919.0)]


def test_join_of_a_turn_without_pauses_is_the_engines_audio():
    samples = np.linspace(-0.5, 0.5, 1000, dtype=np.float32)
    samples[:20] = 0
    audio, _ = join_with_pauses([(Audio(samples, 22050), 0)], 22050)
    assert np.array_equal(audio.samples, samples)


def test_join_of_only_a_pause_is_silence():
    audio, spans = join_with_pauses([(None, 1500)], 24000)
    assert len(audio.samples) == 36000 and not audio.samples.any()
    assert spans == [(0.0, 0.0)]


def longest_quiet(samples: np.ndarray, threshold: float) -> tuple[int, int]:
    """(first, end) sample of the longest run below ``threshold``."""
    quiet = np.concatenate([[False], np.abs(samples) < threshold, [False]])
    edges = np.flatnonzero(np.diff(quiet.astype(np.int8)))
    starts, ends = edges[::2], edges[1::2]
    longest = int(np.argmax(ends - starts))
    return int(starts[longest]), int(ends[longest])


# Speech is normalised to -20 dBFS; this is 30 dB below it: near-silence.
QUIET = 10 ** (-50 / 20)


@pytest.mark.parametrize("fmt", ["wav", "mp3"])
@pytest.mark.parametrize(
    "speaker_text, voice, first, pause_ms",
    [
        ("Good morning everyone. [pause 800ms] Let us begin.", "en-us", "Good morning everyone.", 800),
        ("你好，各位。[停頓 0.8秒]我們開始吧。", "cmn", "你好，各位。", 800),
        ("Stop [pause 1.5s] right there.", "en-us+m3", "Stop", 1500),
    ],
)
def test_espeak_job_has_the_written_silence_between_the_spoken_parts(alice, speaker_text, voice, first, pause_ms, fmt):
    lines = [("Alice", "Hello there."), ("Bob", speaker_text), ("Alice", "Bye.")]
    job = run_job(
        alice,
        job_body("espeak", lines, {"Alice": "en-us+f3", "Bob": voice}, output_format=fmt, crossfade_ms=50),
    )
    assert job.status == "completed", job.error_message
    audio = decode(job.audio.read())
    rate = audio.sample_rate
    timed = job.result_metadata["turn_timings"]
    turn = audio.samples[round(timed[1]["start_ms"] * rate / 1000) : round(timed[1]["end_ms"] * rate / 1000)]
    start, end = longest_quiet(turn, QUIET)
    silence_ms = 1000 * (end - start) / rate
    assert abs(silence_ms - pause_ms) <= 30, silence_ms
    # Between the two spoken parts: speech before it and after it, and it
    # starts where the first part, spoken alone, would end.
    assert np.abs(turn[:start]).max() > 0.1 and np.abs(turn[end:]).max() > 0.1
    from synthesis.providers.espeak import EspeakProvider

    alone = EspeakProvider().synthesize(first, voice)
    assert abs(1000 * start / rate - alone.duration_ms) < 40
    # Timings stay exact: the turns follow each other with the gap and
    # crossfades, and the turn holds its pause.
    assert timed[1]["end_ms"] - timed[1]["start_ms"] > pause_ms
    assert timed[2]["start_ms"] == pytest.approx(timed[1]["end_ms"] + 300 - 2 * 50, abs=1)


def test_a_turn_that_is_only_a_pause_is_that_silence_and_has_no_cue(alice):
    lines = [("Alice", "Hello there."), ("Bob", "[pause 2s]"), ("Alice", "Bye.")]
    job = run_job(alice, job_body("espeak", lines, {"Alice": "en-us+f3", "Bob": "en-us+m3"}))
    assert job.status == "completed", job.error_message
    timed = job.result_metadata["turn_timings"]
    assert timed[1]["end_ms"] - timed[1]["start_ms"] == 2000
    audio = decode(job.audio.read())
    rate = audio.sample_rate
    assert not audio.samples[round(timed[1]["start_ms"] * rate / 1000) : round(timed[1]["end_ms"] * rate / 1000)].any()
    cues = subtitles.cues(job.input_params["turns"], timed)
    assert [cue.text for cue in cues] == ["Hello there.", "Bye."]


def test_subtitles_show_the_text_without_markers(alice, alice_client):
    lines = [("Alice", "Hello [pause 500ms] there."), ("Bob", "你好，[停頓 0.3秒]再見。")]
    job = run_job(alice, job_body("espeak", lines, {"Alice": "en-us+f3", "Bob": "cmn"}))
    assert job.status == "completed", job.error_message
    vtt = alice_client.get(reverse("job_subtitles_vtt", args=[job.pk])).content.decode()
    srt = alice_client.get(reverse("job_subtitles_srt", args=[job.pk])).content.decode()
    for text in (vtt, srt):
        assert "Hello there." in text and "你好，再見。" in text
        assert "pause" not in text and "停頓" not in text and "[" not in text


def test_markers_never_reach_the_engine_and_pauses_are_part_of_the_kept_segment(alice, scripted_provider):
    """The turn is spoken piece by piece; re-rendering the same job reuses
    the whole turn, and a different pause length is a different segment."""
    from synthesis.models import Segment
    from synthesis.providers.espeak import EspeakProvider

    spoken = []
    original = EspeakProvider.synthesize

    def recording(self, text, voice_id, language=None):
        spoken.append(text)
        return original(self, text, voice_id, language)

    scripted_provider.synthesize = recording.__get__(scripted_provider)
    lines = [("Alice", "One [pause 300ms] two [pause 0.2s][pause 100ms] three.")]
    job = run_job(alice, job_body("scripted", lines, {"Alice": "en-us"}))
    assert job.status == "completed", job.error_message
    assert spoken == ["One", "two", "three."]
    [segment] = Segment.objects.filter(job=job)
    keys = [
        content_key(
            provider="scripted",
            engine_version=scripted_provider.engine_version("en-us"),
            voice_id="en-us",
            language="en",
            text=canonical(split_pauses(text)),
            mode="segmented",
        )
        for text in ("One [pause 0.3s] two [pause 300ms] three.", "One [pause 300ms] two [pause 400ms] three.")
    ]
    assert segment.content_key == keys[0] != keys[1]


def test_a_new_version_with_another_pause_speaks_only_that_turn(alice, scripted_provider):
    from synthesis.models import Job

    lines = [("Alice", "First [pause 300ms] line."), ("Alice", "Second line.")]
    first = run_job(alice, job_body("scripted", lines, {"Alice": "en-us"}))
    assert first.status == "completed", first.error_message
    calls = scripted_provider.calls
    body = job_body(
        "scripted", [("Alice", "First [pause 0.3s] line."), ("Alice", "Second [pause 1s] line.")], {"Alice": "en-us"}
    )
    from synthesis.tasks import run_synthesis
    from synthesis.validation import clean_job_request

    provider, params = clean_job_request(body)
    second = Job.objects.submit(alice, params, provider=provider, based_on=first)
    run_synthesis(str(second.pk))
    second.refresh_from_db()
    assert second.status == "completed", second.error_message
    assert scripted_provider.calls - calls == 2  # "Second" and "line.": the first turn was kept


# --- bad markers: the API's 400 and the page's error ------------------------------


def post_job(client, body):
    return client.post("/api/v1/jobs", data=json.dumps(body), content_type="application/json")


@pytest.mark.parametrize(
    "text, message",
    [
        ("Wait [pause 11s] for it.", "“[pause 11s]” is too long: a pause is 0 to 10 seconds."),
        ("Wait [pause 800] for it.", "“[pause 800]” is not a pause"),
        ("[pause 0ms]", "Nothing to say and no pause longer than 0 ms."),
    ],
)
def test_api_refuses_a_mistaken_marker_naming_the_turn(alice_client, text, message):
    body = job_body("espeak", [("Alice", "Hello."), ("Bob", text)], {"Alice": "en-us", "Bob": "en-us"})
    response = post_job(alice_client, body)
    assert response.status_code == 400
    error = response.json()
    assert error["error"] == "VALIDATION_ERROR"
    assert list(error["details"]) == ["turns[1].text"] and message in error["details"]["turns[1].text"]


def test_api_accepts_pauses_and_a_silent_turn(alice_client):
    lines = [("Alice", "Hello [pause 1.5s] there."), ("Bob", "【停頓 1秒】")]
    response = post_job(alice_client, job_body("espeak", lines, {"Alice": "en-us", "Bob": "en-us"}))
    assert response.status_code == 201, response.json()


def test_language_and_length_estimate_leave_the_markers_out(alice_client, settings):
    lines = [("Alice", "你好[pause 1s]再見")]
    body = job_body("espeak", lines, {"Alice": "cmn"})
    del body["language"]
    response = post_job(alice_client, body)
    assert response.json()["input_params"]["language"] == "zh-TW"
    settings.TTS_MAX_AUDIO_SECONDS = 20
    long_pauses = [("Alice", "Hi " + "[pause 10s] " * 3)]
    response = post_job(alice_client, job_body("espeak", long_pauses, {"Alice": "en-us"}))
    assert response.status_code == 400 and "turns" in response.json()["details"]


def page_submission(script):
    return {
        "script": script,
        "provider": "espeak",
        "language": "en-us",
        "output_format": "mp3",
        "gap_ms": "300",
        "crossfade_ms": "50",
        "voice:Alice": "en-us+f3",
        "voice:Bob": "en-us+m3",
    }


def test_page_shows_the_error_next_to_the_line_with_the_marker(alice_client):
    from synthesis.models import Job

    script = "Alice: Hello.\nBob: Wait\nfor it [pause 12s] now."
    html = alice_client.post(reverse("job_new"), page_submission(script)).content.decode()
    errors = html.split('id="script-errors"', 1)[1].split("</ul>")[0]
    assert "Line 3: “[pause 12s]” is too long: a pause is 0 to 10 seconds." in errors
    assert not Job.objects.exists()
    # While typing, the same note appears beside the voice pickers.
    refresh = alice_client.post(
        reverse("job_new"), {"action": "refresh", **page_submission(script)}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "Line 3: “[pause 12s]” is too long" in refresh.split('id="script-notes"', 1)[1]


def test_page_explains_the_syntax_and_accepts_pauses(alice_client):
    from synthesis.models import Job

    html = alice_client.get(reverse("job_new")).content.decode()
    assert "<code>[pause 800ms]</code>" in html and "<code>[停頓 1秒]</code>" in html
    script = "Alice: Hello [pause 800ms] there.\nBob: [停頓 1秒]"
    response = alice_client.post(reverse("job_new"), page_submission(script))
    assert response.status_code == 302
    job = Job.objects.get()
    assert [t["text"] for t in job.input_params["turns"]] == ["Hello [pause 800ms] there.", "[停頓 1秒]"]
    assert job.title == "Hello there."


# --- native multi-speaker providers: the markers never leave the server ----------


@pytest.fixture
def azure(settings):
    with serving(settings, AzureFake()) as fake:
        yield fake


@pytest.fixture
def elevenlabs(settings):
    with serving(settings, ElevenLabsFake()) as fake:
        yield fake


NATIVE_LINES = [
    ("Alice", "Good morning everyone. [pause 800ms] Let us begin."),
    ("Bob", "[停頓 1秒]"),
    ("Alice", "And that is all [pause 0.5s]"),
]


@pytest.mark.parametrize(
    "fake_name, voices",
    [
        ("azure", {"Alice": "en-US-JennyNeural", "Bob": "en-US-GuyNeural"}),
        ("elevenlabs", {"Alice": "21m00Tcm4TlvDq8ikWAM", "Bob": "29vD33N1CtxCmqQRPOHJ"}),
    ],
)
def test_native_requests_carry_the_pieces_never_the_markers(request, alice, fake_name, voices):
    fake = request.getfixturevalue(fake_name)
    job = run_job(alice, job_body(fake_name, NATIVE_LINES, voices, crossfade_ms=0))
    assert job.status == "completed", job.error_message
    assert job.result_metadata["synthesis_mode"] == "native"
    [sent] = fake.synthesis_requests  # one request for the whole dialogue
    body = sent.body.decode()
    assert not any(word in body.lower() for word in ("pause", "停頓", "停顿"))
    if fake_name == "azure":
        root = ET.fromstring(sent.body)
        texts = ["".join(voice.itertext()) for voice in root.iter(f"{SSML_NS}voice")]
    else:
        texts = [item["text"] for item in sent.json()["inputs"]]
    # Each piece of speech is an input of its own, in order; the silent turn sends nothing.
    assert texts == ["Good morning everyone.", "Let us begin.", "And that is all"]
    timed = job.result_metadata["turn_timings"]
    # The silent turn is exactly its pause; the others hold theirs.
    assert timed[1]["end_ms"] - timed[1]["start_ms"] == 1000
    audio = decode(job.audio.read())
    rate = audio.sample_rate
    turn = audio.samples[round(timed[0]["start_ms"] * rate / 1000) : round(timed[0]["end_ms"] * rate / 1000)]
    start, end = longest_quiet(turn, QUIET)
    assert abs(1000 * (end - start) / rate - 800) <= 30


def test_segmented_cloud_requests_carry_one_piece_each_never_a_marker(alice, settings):
    from tests.fakes.openai import OpenAIFake

    settings.TTS_OPENAI_VOICES = ["alloy", "echo", "nova"]
    with serving(settings, OpenAIFake()) as fake:
        job = run_job(alice, job_body("openai", NATIVE_LINES, {"Alice": "alloy", "Bob": "echo"}, crossfade_ms=0))
        assert job.status == "completed", job.error_message
        assert job.result_metadata["synthesis_mode"] == "segmented"
        sent = [request.json()["input"] for request in fake.synthesis_requests]
    assert sent == ["Good morning everyone.", "Let us begin.", "And that is all"]
    timed = job.result_metadata["turn_timings"]
    assert timed[1]["end_ms"] - timed[1]["start_ms"] == 1000


@hypothesis_settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.tuples(st.integers(0, 30), st.integers(1, 40), st.integers(0, 30))),
            st.integers(0, 2000),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_join_leaves_exactly_each_pause_between_the_speech_around_it(pieces):
    """Pieces of "speech" (ones) with any padding (zeros) before and after:
    between the last sound before a pause and the first after it there is
    exactly the pause (plus, where a piece has no speech, the pauses add up)."""
    rate = 1000
    audios = [
        (
            None
            if shape is None
            else Audio(
                np.concatenate([np.zeros(shape[0]), np.ones(shape[1]), np.zeros(shape[2])]).astype(np.float32), rate
            ),
            ms,
        )
        for shape, ms in pieces
    ]
    audio, spans = join_with_pauses(audios, rate)
    sound = np.flatnonzero(audio.samples)
    spoken = [i for i, (shape, _) in enumerate(pieces) if shape is not None]
    # Between two consecutive spoken pieces: the sum of the pauses after the first of them up to the second.
    for before, after in zip(spoken, spoken[1:]):
        silence = sum(ms for _, ms in pieces[before:after])
        end_of_before = spans[before][1]
        start_of_after = spans[after][0]
        assert start_of_after - end_of_before == silence
        assert audio.samples[int(end_of_before) - 1] == 1 and audio.samples[int(start_of_after)] == 1
    # Nothing but the pieces' ones and their outer padding: the total length adds up.
    assert len(sound) == sum(shape[1] for shape, _ in pieces if shape is not None)


def test_a_native_batch_may_end_between_two_pieces_of_a_turn(alice, azure, settings):
    settings.TTS_AZURE_MAX_CHARS = 30
    lines = [
        ("Alice", "The first line is here."),
        ("Bob", "Second line, part one. [pause 600ms] And part two."),
        ("Alice", "Fine."),
    ]
    job = run_job(alice, job_body("azure", lines, {"Alice": "en-US-JennyNeural", "Bob": "en-US-GuyNeural"}))
    assert job.status == "completed", job.error_message
    sent = [
        ["".join(v.itertext()) for v in ET.fromstring(r.body).iter(f"{SSML_NS}voice")] for r in azure.synthesis_requests
    ]
    # Bob's two pieces went in two requests; his turn is still one segment, one timing.
    assert sent == [["The first line is here."], ["Second line, part one."], ["And part two.", "Fine."]]
    assert job.progress_done == 3 and len(job.result_metadata["turn_timings"]) == 3
    audio = decode(job.audio.read())
    rate = audio.sample_rate
    timed = job.result_metadata["turn_timings"][1]
    turn = audio.samples[round(timed["start_ms"] * rate / 1000) : round(timed["end_ms"] * rate / 1000)]
    start, end = longest_quiet(turn, QUIET)
    assert abs(1000 * (end - start) / rate - 600) <= 30


def test_the_pause_stays_exact_with_a_speakers_voice_settings(alice):
    """Speed, pitch and volume shape the speech around the pause, not the pause."""
    lines = [("Alice", "Hello there."), ("Bob", "Good morning everyone. [pause 800ms] Let us begin.")]
    body = job_body("espeak", lines, {"Alice": "en-us", "Bob": "en-us"}, output_format="mp3")
    body["voice_assignments"][1].update(speed=2.0, pitch=6, volume=0.5)
    job = run_job(alice, body)
    assert job.status == "completed", job.error_message
    audio = decode(job.audio.read())
    rate = audio.sample_rate
    timed = job.result_metadata["turn_timings"][1]
    turn = audio.samples[round(timed["start_ms"] * rate / 1000) : round(timed["end_ms"] * rate / 1000)]
    start, end = longest_quiet(turn, QUIET)
    assert abs(1000 * (end - start) / rate - 800) <= 30
    assert np.abs(turn[:start]).max() > 0.05 and np.abs(turn[end:]).max() > 0.05

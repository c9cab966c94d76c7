"""Sentences and their timings: splitting, the engine's marks, pauses, and
cues measured against the real eSpeak engine's rendered output."""

import numpy as np
import pytest

from synthesis.audio import Audio, decode
from synthesis.models import Job, Segment
from synthesis.providers.espeak import EspeakProvider
from synthesis.sentences import sentence_offsets, split_sentences, user_sentence_offsets
from synthesis.tasks import run_synthesis
from synthesis.validation import clean_job_request
from tests.conftest import dialogue
from tests.onsets import onset_error_ms, speech_frames


def texts(text):
    return [s.text for s in split_sentences(text)]


def test_sentences_end_at_terminal_punctuation_followed_by_a_space():
    assert texts("Hello there. How are you? Fine!  3.14 is pi… Dr. Smith said “go.” OK") == [
        "Hello there.",
        "How are you?",
        "Fine!",
        "3.14 is pi…",
        "Dr. Smith said “go.”",
        "OK",
    ]


def test_cjk_sentences_end_at_their_marks_without_spaces():
    assert texts("你好。今天天氣很好！我們去公園吧？「走吧。」好") == [
        "你好。",
        "今天天氣很好！",
        "我們去公園吧？",
        "「走吧。」",
        "好",
    ]


def test_a_piece_without_speech_joins_its_neighbour_so_counts_survive_clean_up():
    assert texts("Hi! 🎉 Bye.") == ["Hi!", "🎉 Bye."]
    assert texts("Hi! 🎉") == ["Hi! 🎉"]
    assert texts("… Well. Yes.\n\nNo") == ["… Well.", "Yes.", "No"]
    # Spans point into the text.
    text = "  One.  Two. "
    assert [(s.start, s.end) for s in split_sentences(text)] == [(2, 6), (8, 12)]


def test_user_sentences_map_to_spoken_ones_by_order():
    # A dictionary replaced words: offsets are matched by order, not by position.
    mapped = user_sentence_offsets("NASA flew. It landed.", [[0, 900], [1200, 2000]])
    assert [(s.text, a, b) for s, a, b in mapped] == [("NASA flew.", 0, 900), ("It landed.", 1200, 2000)]
    # Different counts: shared by length, snapped to the spoken boundaries.
    mapped = user_sentence_offsets("One two three. Four five six.", [[0, 3000]])
    assert [s.text for s, _, _ in mapped] == ["One two three.", "Four five six."]
    assert mapped[0][1] == 0 and mapped[-1][2] == 3000 and mapped[0][2] == mapped[1][1]


TEXT = "Hello there. How are you today? I am fine, thanks! See you tomorrow."
MANDARIN = "你好。今天天氣很好！我們去公園吧。"


@pytest.mark.parametrize(("text", "voice"), [(TEXT, "en-us"), (MANDARIN, "cmn")])
def test_espeak_reports_word_marks_and_sentences_start_at_their_speech(text, voice):
    audio = EspeakProvider().synthesize(text, voice)
    assert audio.marks and all(0 <= position < len(text) for position, _ in audio.marks)
    offsets = sentence_offsets(text, audio)
    assert len(offsets) == len(split_sentences(text))
    speech = speech_frames(audio.samples, audio.sample_rate)
    errors = [onset_error_ms(speech, start, end) for start, end in offsets]
    assert all(e is not None and abs(e) <= 100 for e in errors), errors
    # Without marks (a service that reports none) the pauses give the same sentences.
    unmarked = sentence_offsets(text, Audio(audio.samples, audio.sample_rate))
    assert len(unmarked) == len(offsets)
    assert all(abs(a[0] - b[0]) <= 150 for a, b in zip(unmarked, offsets)), (unmarked, offsets)


def test_sentences_without_any_pause_are_placed_by_length():
    # One second of continuous tone, two sentences of equal length: split in the middle.
    rate = 16000
    tone = (0.3 * np.sin(np.arange(rate) * 0.2)).astype(np.float32)
    offsets = sentence_offsets("Aaaa bbbb. Cccc dddd.", Audio(tone, rate))
    assert offsets[0][0] == 0 and offsets[1][1] == 1000
    assert 450 <= offsets[1][0] <= 550


def submit(user, **overrides):
    provider, params = clean_job_request(dialogue(**overrides))
    return Job.objects.submit(user, params, provider=provider)


TURNS = [
    {"speaker": "Alice", "text": "Hello there, Bob. It has been a long time! Where were you?", "index": 0},
    {"speaker": "Bob", "text": "I was away. 我去了台灣。天氣很好！", "index": 1},
    {"speaker": "Carol", "text": "你們好。我是卡羅。Nice to meet you both.", "index": 2},
    {"speaker": "Alice", "text": "Dr. Smith says hello. Shall we go? 🎉", "index": 3},
]
VOICES = [
    {"speaker": "Alice", "voice_id": "en-us+f3"},
    {"speaker": "Bob", "voice_id": "cmn"},
    {"speaker": "Carol", "voice_id": "cmn+f2"},
]


@pytest.mark.django_db
@pytest.mark.parametrize("output_format", ["mp3", "wav"])
def test_sentence_cues_start_within_100_ms_of_their_speech_in_the_rendered_file(alice, _media_root, output_format):
    """The acceptance measure: the real eSpeak engine, the real assembly (gap,
    crossfade, loudness), the decoded output; speech found by energy."""
    job = submit(alice, turns=TURNS, voice_assignments=VOICES, output_format=output_format, language="en")
    assert run_synthesis(job.pk) == "completed"
    job.refresh_from_db()
    timed = job.result_metadata["sentence_timings"]
    assert [(t["turn_index"], t["sentence_index"], t["text"]) for t in timed] == [
        (0, 0, "Hello there, Bob."),
        (0, 1, "It has been a long time!"),
        (0, 2, "Where were you?"),
        (1, 0, "I was away."),
        (1, 1, "我去了台灣。"),
        (1, 2, "天氣很好！"),
        (2, 0, "你們好。"),
        (2, 1, "我是卡羅。"),
        (2, 2, "Nice to meet you both."),
        (3, 0, "Dr. Smith says hello."),
        (3, 1, "Shall we go? 🎉"),
    ]
    turns = {t["turn_index"]: t for t in job.result_metadata["turn_timings"]}
    for t in timed:
        turn = turns[t["turn_index"]]
        assert turn["start_ms"] <= t["start_ms"] < t["end_ms"] <= turn["end_ms"]
    with job.audio.open("rb") as f:
        rendered = decode(f.read())
    speech = speech_frames(rendered.samples, rendered.sample_rate)
    errors = [onset_error_ms(speech, t["start_ms"], t["end_ms"]) for t in timed]
    assert all(e is not None and abs(e) <= 100 for e in errors), errors
    # The original contract's turn timings are untouched.
    assert set(job.result_metadata["turn_timings"][0]) == {"turn_index", "speaker", "start_ms", "end_ms"}


@pytest.mark.django_db
def test_sentence_timings_survive_kept_segments(alice, _media_root):
    """Each segment keeps its sentences' offsets: a re-render from kept
    segments (no engine call) times the sentences exactly as the first run."""
    first = submit(alice, turns=TURNS, voice_assignments=VOICES, language="en")
    run_synthesis(first.pk)
    first.refresh_from_db()
    assert all(segment.sentences for segment in Segment.objects.filter(job=first))
    again = submit(alice, turns=TURNS, voice_assignments=VOICES, language="en", gap_ms=800)
    Job.objects.filter(pk=again.pk).update(based_on=first)
    run_synthesis(again.pk)
    again.refresh_from_db()
    shift = {
        t["turn_index"]: b["start_ms"] - t["start_ms"]
        for t, b in zip(first.result_metadata["turn_timings"], again.result_metadata["turn_timings"])
    }
    # Same offsets within each turn, moved with the turn by the longer gap.
    assert [
        (t["text"], t["start_ms"] + shift[t["turn_index"]], t["end_ms"] + shift[t["turn_index"]])
        for t in first.result_metadata["sentence_timings"]
    ] == [(t["text"], t["start_ms"], t["end_ms"]) for t in again.result_metadata["sentence_timings"]]


@pytest.mark.django_db
def test_a_segment_kept_before_sentences_were_timed_is_timed_from_its_pauses(alice, _media_root):
    first = submit(alice, turns=TURNS, voice_assignments=VOICES, language="en")
    run_synthesis(first.pk)
    first.refresh_from_db()
    Segment.objects.filter(job=first).update(sentences=[])
    again = submit(alice, turns=TURNS, voice_assignments=VOICES, language="en")
    Job.objects.filter(pk=again.pk).update(based_on=first)
    run_synthesis(again.pk)
    again.refresh_from_db()
    timed = again.result_metadata["sentence_timings"]
    assert len(timed) == 11
    with again.audio.open("rb") as f:
        rendered = decode(f.read())
    speech = speech_frames(rendered.samples, rendered.sample_rate)
    errors = [onset_error_ms(speech, t["start_ms"], t["end_ms"]) for t in timed]
    assert all(e is not None and abs(e) <= 150 for e in errors), errors


@pytest.mark.django_db
def test_sentences_around_inline_pauses_start_at_their_speech(alice, _media_root):
    """A turn spoken piece by piece around [pause …] markers: each piece's
    word marks move with it (after the padding trimmed at the pause), and a
    sentence cut by a pause is still one sentence."""
    turns = [
        {"speaker": "Alice", "text": "Wait for it. [pause 1.5s] Now! It is [pause 800ms] done.", "index": 0},
        {"speaker": "Bob", "text": "你好。[停頓 1秒]再見。", "index": 1},
    ]
    job = submit(alice, turns=turns, voice_assignments=VOICES[:2], output_format="wav", language="en")
    assert run_synthesis(job.pk) == "completed"
    job.refresh_from_db()
    timed = job.result_metadata["sentence_timings"]
    assert [t["text"] for t in timed] == ["Wait for it.", "Now!", "It is done.", "你好。", "再見。"]
    with job.audio.open("rb") as f:
        rendered = decode(f.read())
    speech = speech_frames(rendered.samples, rendered.sample_rate)
    errors = [onset_error_ms(speech, t["start_ms"], t["end_ms"]) for t in timed]
    assert all(e is not None and abs(e) <= 100 for e in errors), errors
    # "It is [pause 800ms] done." is one cue spanning its pause.
    it_is = timed[2]
    assert it_is["end_ms"] - it_is["start_ms"] > 800


@pytest.mark.django_db
def test_dictionary_entries_keep_the_sentences_in_place(alice, _media_root):
    """A respelling changes the text eSpeak reads (its marks still fit the
    turn's text); eSpeak phonemes replace it with [[…]] (its marks are then
    dropped and the pauses time the turn). Either way the user's sentences
    start at their speech."""
    from synthesis.models import LexiconEntry

    LexiconEntry.objects.add(alice, written="Nguyen", spoken="win", kind="respelling", case_sensitive=False)
    LexiconEntry.objects.add(alice, written="tomato", spoken="t@m'A:t#oU", kind="espeak", case_sensitive=False)
    turns = [
        {"speaker": "Alice", "text": "Meet Mr. Nguyen. He is nice! Really nice.", "index": 0},
        {"speaker": "Bob", "text": "I like tomato. Do you? Yes.", "index": 1},
    ]
    job = submit(alice, turns=turns, voice_assignments=[*VOICES[:1], {"speaker": "Bob", "voice_id": "en-gb"}])
    assert run_synthesis(job.pk) == "completed", job.error_message
    job.refresh_from_db()
    timed = job.result_metadata["sentence_timings"]
    assert [t["text"] for t in timed] == [
        "Meet Mr. Nguyen.",
        "He is nice!",
        "Really nice.",
        "I like tomato.",
        "Do you?",
        "Yes.",
    ]
    with job.audio.open("rb") as f:
        rendered = decode(f.read())
    speech = speech_frames(rendered.samples, rendered.sample_rate)
    errors = [onset_error_ms(speech, t["start_ms"], t["end_ms"]) for t in timed]
    assert all(e is not None and abs(e) <= 100 for e in errors), errors

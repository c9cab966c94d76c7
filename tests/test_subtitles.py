"""WebVTT and SRT from per-turn timings (no database)."""

from synthesis.subtitles import cues, to_srt, to_webvtt

INPUT = [
    {"index": 0, "speaker": "Alice", "text": "Hello <there> & welcome."},
    {"index": 1, "speaker": "Bob", "text": "Hi.\n\nTwo paragraphs --> one line."},
]
# The original contract's shape: no speaker in the timings; it comes from the input.
TIMED = [
    {"turn_index": 1, "start_ms": 2200, "end_ms": 3723_456},
    {"turn_index": 0, "start_ms": 0, "end_ms": 2000},
]


def test_webvtt_has_voice_tags_escaped_text_and_dot_timestamps():
    assert to_webvtt(cues(INPUT, TIMED)) == (
        "WEBVTT\n\n"
        "1\n00:00:00.000 --> 00:00:02.000\n<v Alice>Hello &lt;there&gt; &amp; welcome.\n\n"
        "2\n00:00:02.200 --> 01:02:03.456\n<v Bob>Hi. Two paragraphs -&gt; one line.\n"
    )


def test_srt_has_comma_timestamps_and_speaker_prefix():
    assert to_srt(cues(INPUT, TIMED)) == (
        "1\n00:00:00,000 --> 00:00:02,000\nAlice: Hello ‹there› & welcome.\n\n"
        "2\n00:00:02,200 --> 01:02:03,456\nBob: Hi. Two paragraphs -› one line.\n"
    )


def test_srt_carries_plain_text_only():
    """SRT has no escaping, and players render its tags: a speaker named like
    an image tag, or a {\\an8} override, must arrive as plain text."""
    srt = to_srt(
        cues(
            [
                {
                    "index": 0,
                    "speaker": "<img src=x onerror=alert(1)>",
                    "text": "{\\an8}<i>Hi</i> <font color=red>x</font>",
                }
            ],
            [{"turn_index": 0, "start_ms": 0, "end_ms": 900}],
        )
    )
    text = srt.splitlines()[2]
    assert not set("<>{}") & set(text)
    assert text == "‹img src=x onerror=alert(1)›: (\\an8)‹i›Hi‹/i› ‹font color=red›x‹/font›"

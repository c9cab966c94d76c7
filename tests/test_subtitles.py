"""WebVTT and SRT: cues by sentence, cut to two lines of 42 characters (no database)."""

from synthesis.subtitles import MAX_LINE_CHARS, cues, to_srt, to_webvtt

INPUT = [
    {"index": 0, "speaker": "Alice", "text": "Hello <there> & welcome."},
    {"index": 1, "speaker": "Bob", "text": "Hi.\n\nTwo paragraphs --> one line."},
]
# A job finished before sentences were timed: one cue per turn, from the
# original contract's shape (no speaker in the timings; it comes from the input).
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
    assert to_srt(cues(INPUT, TIMED, name_first=True)) == (
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
            name_first=True,
        )
    )
    text = " ".join(srt.split("\n\n")[0].splitlines()[2:])
    assert not set("<>{}") & set(text)
    assert text == "‹img src=x onerror=alert(1)›: (\\an8)‹i›Hi‹/i› ‹font color=red›x‹/font›"


TURNS = [
    {"index": 0, "speaker": "Alice", "text": "unused: the sentences carry their text"},
    {"index": 1, "speaker": "陳", "text": "unused"},
]
LONG = (
    "This is a rather long sentence that goes on and on, with a clause here; and another one there, "
    "until it simply has to be cut into several cues because it is far too long for one."
)


def sentence(turn, number, start, end, text):
    return {"turn_index": turn, "sentence_index": number, "start_ms": start, "end_ms": end, "text": text}


def blocks(document):
    """(timing line, text lines) of each cue."""
    parts = document.strip().split("\n\n")
    if parts[0] == "WEBVTT":
        parts = parts[1:]
    return [(part.splitlines()[1], part.splitlines()[2:]) for part in part_list] if (part_list := parts) else []


def test_one_cue_per_sentence_with_its_own_timing():
    timed = [sentence(0, 0, 100, 900, "Hello there."), sentence(0, 1, 1200, 2000, "How are you?")]
    vtt = to_webvtt(cues(TURNS, [], timed))
    assert blocks(vtt) == [
        ("00:00:00.100 --> 00:00:00.900", ["<v Alice>Hello there."]),
        ("00:00:01.200 --> 00:00:02.000", ["<v Alice>How are you?"]),
    ]
    srt = to_srt(cues(TURNS, [], timed, name_first=True))
    # SRT: the name opens the turn's first cue only.
    assert blocks(srt) == [
        ("00:00:00,100 --> 00:00:00,900", ["Alice: Hello there."]),
        ("00:00:01,200 --> 00:00:02,000", ["How are you?"]),
    ]


def test_a_long_sentence_becomes_cues_of_two_lines_of_42_cut_at_clauses_and_words():
    timed = [sentence(0, 0, 0, 10_000, LONG)]
    for document, name_first in ((to_webvtt(cues(TURNS, [], timed)), False),
                                 (to_srt(cues(TURNS, [], timed, name_first=True)), True)):  # fmt: skip
        cut = blocks(document)
        assert len(cut) >= 3
        texts = []
        for _, lines in cut:
            lines = [line.removeprefix("<v Alice>") for line in lines]
            assert 1 <= len(lines) <= 2
            assert all(len(line) <= MAX_LINE_CHARS for line in lines), lines
            texts.append(" ".join(lines))
        joined = " ".join(texts)
        assert joined == (f"Alice: {LONG}" if name_first else LONG)  # nothing lost, words whole
        # Cut after clause punctuation where there is one.
        assert texts[0].endswith("here;") or texts[0].endswith("on,")
    # The sentence's time is shared out in order, without gaps, by length.
    cut = cues(TURNS, [], timed)
    assert cut[0].start_ms == 0 and cut[-1].end_ms == 10_000
    assert all(a.end_ms == b.start_ms for a, b in zip(cut, cut[1:]))
    share = [(c.end_ms - c.start_ms) / len(c.text) for c in cut]
    assert max(share) - min(share) < 5  # ms per character, rounding aside


def test_a_word_longer_than_a_line_is_cut_rather_than_overflowing():
    word = "Pneumonoultramicroscopicsilicovolcanoconiosis" * 2
    cut = cues(TURNS, [], [sentence(0, 0, 0, 1000, f"{word} is long.")])
    assert "".join(line for c in cut for line in c.lines).replace(" ", "") == f"{word}islong."
    assert all(len(line) <= MAX_LINE_CHARS for c in cut for line in c.lines)


def test_cjk_counts_characters_and_breaks_after_its_punctuation():
    text = (
        "今天天氣很好，我們一起去公園散步吧，然後再去咖啡館喝一杯咖啡，聊聊最近發生的事情，"
        "還有明年的計劃、夢想和希望，以及我們共同認識的朋友們的近況，最後一起吃晚飯再回家休息。大家都說好。"
    )
    cut = cues(TURNS, [], [sentence(1, 0, 0, 20_000, text)])
    assert len(cut) >= 2
    assert "".join(c.text for c in cut) == text  # no spaces added between CJK characters
    for c in cut:
        assert len(c.lines) <= 2 and all(len(line) <= MAX_LINE_CHARS for line in c.lines)
        # Every line ends at a comma, enumeration comma or full stop.
        assert all(line[-1] in "，、。" for line in c.lines), c.lines
    vtt = to_webvtt(cut)
    assert "<v 陳>今天天氣很好，" in vtt


def test_cjk_without_punctuation_is_cut_between_any_two_characters():
    text = "我" * 100
    cut = cues(TURNS, [], [sentence(1, 0, 0, 1000, text)])
    assert [len(line) for c in cut for line in c.lines] == [42, 42, 16]


def test_voice_tags_escape_names_and_text():
    turns = [{"index": 0, "speaker": "A<b>&c", "text": ""}]
    vtt = to_webvtt(cues(turns, [], [sentence(0, 0, 0, 500, "1 < 2 & 3 > 2 --> ok.")]))
    assert "<v A&lt;b&gt;&amp;c>1 &lt; 2 &amp; 3 &gt; 2 -&gt; ok.\n" in vtt

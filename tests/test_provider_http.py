"""The shared HTTP helpers of the cloud providers (no server, no database)."""

import numpy as np
import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from synthesis.audio import Audio
from synthesis.providers import http
from synthesis.providers.base import TransientProviderError, Voice


@pytest.mark.parametrize(
    "value,expected",
    [
        ("7", 7.0),
        ("0", 0.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),  # an HTTP date, 30 s after "now" below
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_seconds_or_an_http_date(value, expected):
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert http.parse_retry_after(value, now=now) == expected


def test_scrub_removes_keys_and_masked_keys():
    text = "Incorrect API key provided: sk-ab***wxyz. Key azkey-123456 is wrong. Bearer abc.def"
    scrubbed = http.scrub(text, ("azkey-123456",))
    assert "sk-" not in scrubbed and "wxyz" not in scrubbed and "azkey" not in scrubbed and "abc.def" not in scrubbed
    assert scrubbed.startswith("Incorrect API key provided: [redacted]")


def test_scrub_keeps_messages_short():
    assert len(http.scrub("word " * 200)) == http.MAX_DETAIL_CHARS


@pytest.mark.parametrize(
    "body,expected",
    [
        (b'{"error": {"message": "Invalid voice", "type": "invalid_request_error"}}', "Invalid voice"),
        (b'{"detail": {"status": "voice_not_found", "message": "No such voice"}}', "No such voice"),
        (b'{"detail": [{"loc": ["body"], "msg": "Field required"}]}', "Field required"),
        (b"plain words", "plain words"),
    ],
)
def test_error_detail_reads_each_services_shape(body, expected):
    assert http.error_detail(body) == expected


def test_split_text_prefers_sentence_ends():
    text = "One two three. Four five six. Seven eight nine."
    assert http.split_text(text, 30) == ["One two three. Four five six. ", "Seven eight nine."]
    assert http.split_text(text, 1000) == [text]


def test_split_text_falls_back_to_words_and_then_characters():
    assert http.split_text("aaaa bbbb cccc", 9) == ["aaaa bbbb", " cccc"]
    assert http.split_text("abcdefghij", 4) == ["abcd", "efgh", "ij"]


def test_split_text_cuts_chinese_at_sentence_ends():
    text = "今天天氣很好。我們去公園散步吧！你覺得怎麼樣？好啊，走吧；不過要帶傘。"
    assert http.split_text(text, 12) == [
        "今天天氣很好。",
        "我們去公園散步吧！",
        "你覺得怎麼樣？",
        "好啊，走吧；不過要帶傘。",
    ]
    # Never "…天天氣很" when a sentence end is within reach.
    assert http.split_text(text, 20) == ["今天天氣很好。我們去公園散步吧！", "你覺得怎麼樣？好啊，走吧；不過要帶傘。"]
    # A closing quote stays with its sentence.
    assert http.split_text("他說：「今天天氣很好。」然後走了。", 12) == ["他說：「今天天氣很好。」", "然後走了。"]


def test_split_text_cuts_next_to_a_mark_rather_than_inside_a_number():
    # Found by the property test: no sentence end, clause mark, space or pair
    # of ideographs in reach, but a quote mark between two numbers.
    assert http.split_text("00000000000「00", 13) == ["00000000000「", "00"]
    assert http.split_text("ab「cdefgh3.14", 11) == ["ab「", "cdefgh3.14"]


def test_split_text_never_cuts_a_number():
    pieces = http.split_text("Pi is 3.14159 and e is 2.71828, roughly; 1,000,000 people.", 12)
    assert "".join(pieces) == "Pi is 3.14159 and e is 2.71828, roughly; 1,000,000 people."
    assert "3.14159 " in pieces[1] and any(p.startswith("1,000,000") for p in pieces)


# A word or number: letters and digits, with . , : between digits (3.14, 1,000, 10:30).
WORD = regex.compile(r"[\p{Latin}\p{Cyrillic}\p{Hangul}\d]+(?:[.,:]\d+)*")
ALPHABET = st.sampled_from(list("今天氣很好我們去公園ひらがなカナ abcXYZ 0123456789 .,!?。！？；，、「」：:"))


@given(text=st.text(ALPHABET, max_size=200), limit=st.integers(min_value=12, max_value=60))
@settings(max_examples=300, deadline=None, database=None)
def test_split_text_property_rejoins_and_never_cuts_a_word_or_number(text, limit):
    pieces = http.split_text(text, limit)
    assert "".join(pieces) == text
    assert all(0 < len(piece) <= limit for piece in pieces) or text == ""
    cuts, position = set(), 0
    for piece in pieces[:-1]:
        position += len(piece)
        cuts.add(position)
    for word in WORD.finditer(text):
        if len(word[0]) <= limit:
            assert not any(word.start() < cut < word.end() for cut in cuts), (word[0], pieces)


@given(
    sentences=st.lists(st.text(st.sampled_from(list("今天氣很好我們去公園，")), min_size=1, max_size=9), min_size=2),
    ends=st.lists(st.sampled_from(list("。！？；")), min_size=30, max_size=30),
    limit=st.integers(min_value=10, max_value=40),
)
@settings(max_examples=200, deadline=None, database=None)
def test_split_text_property_chinese_pieces_end_at_sentence_ends(sentences, ends, limit):
    text = "".join(s + ends[i % len(ends)] for i, s in enumerate(sentences))
    pieces = http.split_text(text, limit)
    assert "".join(pieces) == text
    # Every sentence fits the limit, so every piece but the last ends one.
    for piece in pieces[:-1]:
        assert piece[-1] in "。！？；", pieces


def test_plan_requests_splits_only_when_needed():
    turns = [("Hello.", "a"), ("Hi.", "b")]
    assert http.plan_requests(turns, 100, 50) == [[(0, "Hello.", "a"), (1, "Hi.", "b")]]
    assert http.plan_requests(turns, 100, 1) == [[(0, "Hello.", "a")], [(1, "Hi.", "b")]]


def tone(seconds, rate=1000):
    return np.full(int(seconds * rate), 0.5, dtype=np.float32)


def silence(seconds, rate=1000):
    return np.zeros(int(seconds * rate), dtype=np.float32)


def test_split_at_pauses_uses_the_longest_silences():
    # A short pause inside the first turn, a long one between the turns.
    samples = np.concatenate([tone(1), silence(0.3), tone(1), silence(1.5), tone(2)])
    first, second = http.split_at_pauses(Audio(samples, 1000), [10, 10], min_pause_ms=200, keep_ms=0)
    assert len(first.samples) == 2300 and len(second.samples) == 2000


def test_split_at_pauses_falls_back_to_text_length():
    samples = tone(3)
    pieces = http.split_at_pauses(Audio(samples, 1000), [1, 2], min_pause_ms=200)
    assert [len(p.samples) for p in pieces] == [1000, 2000]


def test_voice_list_cache_keeps_the_last_good_list_when_the_service_fails():
    calls = {"n": 0}
    clock = {"t": 0.0}

    def fetch():
        calls["n"] += 1
        if calls["n"] == 2:
            raise TransientProviderError("down")
        return [Voice(f"v{calls['n']}", "V", "en")]

    cache = http.VoiceListCache(fetch, ttl=10, retry_after_failure=5, clock=lambda: clock["t"])
    assert [v.id for v in cache.get()] == ["v1"]
    clock["t"] = 11
    assert [v.id for v in cache.get()] == ["v1"]  # refresh failed: the old list stays
    clock["t"] = 12
    assert cache.fetches == 2  # and the failure isn't retried at once
    assert [v.id for v in cache.get()] == ["v1"]
    clock["t"] = 17
    assert [v.id for v in cache.get()] == ["v3"]

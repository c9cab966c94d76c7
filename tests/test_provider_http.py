"""The shared HTTP helpers of the cloud providers (no server, no database)."""

import numpy as np
import pytest

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
    assert http.split_text(text, 30) == ["One two three. Four five six.", "Seven eight nine."]
    assert http.split_text(text, 1000) == [text]


def test_split_text_falls_back_to_words_and_then_characters():
    assert http.split_text("aaaa bbbb cccc", 9) == ["aaaa bbbb", "cccc"]
    assert http.split_text("abcdefghij", 4) == ["abcd", "efgh", "ij"]


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

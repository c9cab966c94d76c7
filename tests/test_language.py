"""Which script and language a turn is in, and the voices that speak it."""

import json

import pytest

from synthesis.language import engine_tag, language_of, language_of_all, same_language, script_of, spoken
from synthesis.providers.espeak import EspeakProvider
from tests.conftest import dialogue


@pytest.mark.parametrize(
    "text, script, language",
    [
        ("你好，今天天氣很好。", "Han", "zh-TW"),
        ("你好，今天天气很好。", "Han", "zh-CN"),
        ("佢係我朋友，你識唔識佢？", "Han", "yue"),
        ("こんにちは、元気ですか。", "Kana", "ja"),
        ("東京に行きます", "Kana", "ja"),  # Han with kana is Japanese
        ("안녕하세요, 반갑습니다.", "Hangul", "ko"),
        ("مرحبا بالعالم", "Arabic", "ar"),
        ("שלום עולם", "Hebrew", "he"),
        ("Привет, мир!", "Cyrillic", "ru"),
        ("नमस्ते दुनिया", "Devanagari", "hi"),
        ("สวัสดีครับ", "Thai", "th"),
        ("Hello, world!", "Latin", "en"),
        ("😀🎉 !!!", None, None),
    ],
)
def test_script_and_language_of_a_turn(text, script, language):
    assert script_of(text) == script
    assert language_of(text) == language


def test_a_jobs_language_is_that_of_most_of_its_text():
    assert language_of_all(["Hi.", "你好，今天天氣很好，我們去公園散步吧。"]) == "zh-TW"
    assert language_of_all(["😀"]) is None


@pytest.mark.parametrize(
    "tag, voice_language",
    [
        *[("zh-TW", "cmn"), ("zh-Hant", "cmn"), ("zh-CN", "cmn"), ("zh-Hans", "cmn"), ("cmn", "cmn"), ("zh", "cmn")],
        *[("yue", "yue"), ("zh-HK", "yue"), ("en-us", "en"), ("ja", "ja")],
    ],
)
def test_tags_map_to_spoken_languages(tag, voice_language):
    assert spoken(tag) == voice_language
    assert same_language(tag, voice_language)


@pytest.mark.parametrize("tag, voices", [("zh-TW", "cmn"), ("zh-Hant", "cmn"), ("zh-CN", "cmn"), ("yue", "yue")])
def test_espeak_defaults_for_chinese_tags_are_mandarin_or_cantonese(tag, voices):
    defaults = EspeakProvider().default_voices(3, engine_tag(tag))
    assert len(set(defaults)) == 3 and all(v.startswith(voices) for v in defaults)
    assert EspeakProvider().default_voices(2, tag) == defaults[:2]


@pytest.mark.django_db
def test_api_without_language_detects_it_and_the_job_says_which(alice_client):
    body = dialogue(
        turns=[
            {"speaker": "A", "text": "你好，今天天氣真好！", "index": 0},
            {"speaker": "B", "text": "是啊！", "index": 1},
        ],
        voice_assignments=[{"speaker": "A", "voice_id": "cmn"}, {"speaker": "B", "voice_id": "cmn+m3"}],
    )
    body.pop("language")
    response = alice_client.post("/api/v1/jobs", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 201
    assert response.json()["input_params"]["language"] == "zh-TW"
    body["language"] = "yue"
    response = alice_client.post("/api/v1/jobs", data=json.dumps(body), content_type="application/json")
    assert response.json()["input_params"]["language"] == "yue"  # what the client says wins

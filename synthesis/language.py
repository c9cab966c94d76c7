"""Which language a turn is written in, and which voices speak it.

``script_of`` tells the writing system from the characters (Han, Kana,
Hangul, Arabic, Hebrew, Cyrillic, Devanagari, Thai, Latin); ``language_of``
turns that into a language tag, telling Traditional from Simplified Chinese
and Cantonese from Mandarin by characters only they use. ``spoken`` maps any
tag a user or an engine may use (``zh-TW``, ``zh-Hant``, ``zh-CN``, ``cmn``,
``yue``, ``en-us``…) to the spoken language a voice must have, so a
Taiwanese user's ``zh-TW`` finds eSpeak's ``cmn`` voices and Azure's
``zh-TW`` ones alike. Plain Python, no Django.
"""

from __future__ import annotations

from collections import Counter

import regex

SCRIPTS = {
    "Han": regex.compile(r"\p{Script=Han}"),
    "Kana": regex.compile(r"[\p{Script=Hiragana}\p{Script=Katakana}]"),
    "Hangul": regex.compile(r"\p{Script=Hangul}"),
    "Arabic": regex.compile(r"\p{Script=Arabic}"),
    "Hebrew": regex.compile(r"\p{Script=Hebrew}"),
    "Cyrillic": regex.compile(r"\p{Script=Cyrillic}"),
    "Devanagari": regex.compile(r"\p{Script=Devanagari}"),
    "Thai": regex.compile(r"\p{Script=Thai}"),
    "Latin": regex.compile(r"\p{Script=Latin}"),
}
SCRIPT_LANGUAGE = {
    "Kana": "ja",
    "Hangul": "ko",
    "Arabic": "ar",
    "Hebrew": "he",
    "Cyrillic": "ru",
    "Devanagari": "hi",
    "Thai": "th",
    "Latin": "en",
}
# Characters of written Cantonese that Mandarin does not use.
CANTONESE = set("嘅係唔咗喺佢哋冇嚟啲咁噉睇嘢乜嗰揾搵攞")
# Frequent characters that differ between the two written forms (a sample
# is enough: a sentence of either nearly always holds one).
TRADITIONAL = set(
    "這們說會來時個國對還麼為氣後裡裏開見點現電話學問長門東車聽讀寫書歡謝請愛覺當過無從與讓應該邊頭經樣實"
)
SIMPLIFIED = set("这们说会来时个国对还么为气后里开见点现电话学问长门东车听读写书欢谢请爱觉当过无从与让应该边头经样实")

# Any tag → the spoken language a voice must speak. Chinese tags name a
# writing system or a region; what a voice speaks is Mandarin (cmn) or
# Cantonese (yue): zh-TW, zh-Hant, zh-CN, zh-Hans, zh-SG and plain zh are
# read in Mandarin, zh-HK and zh-MO in Cantonese.
CHINESE = {
    "zh": "cmn", "zh-tw": "cmn", "zh-hant": "cmn", "zh-hant-tw": "cmn", "zh-cn": "cmn", "zh-hans": "cmn",
    "zh-hans-cn": "cmn", "zh-sg": "cmn", "cmn": "cmn", "cmn-hant-tw": "cmn", "cmn-hans-cn": "cmn",
    "cmn-latn-pinyin": "cmn", "zh-hk": "yue", "zh-mo": "yue", "zh-hant-hk": "yue", "zh-yue": "yue", "yue": "yue",
    "yue-latn-jyutping": "yue",
}  # fmt: skip
# ElevenLabs takes an ISO 639-1 code: Mandarin and Cantonese are both "zh".
ISO_639_1 = {"cmn": "zh", "yue": "zh"}
# The detected languages by name, for the editor's warnings.
LANGUAGE_NAMES = {
    "zh-TW": "Chinese (Traditional, Mandarin)",
    "zh-CN": "Chinese (Simplified, Mandarin)",
    "yue": "Cantonese",
    "ja": "Japanese",
    "ko": "Korean",
    "ar": "Arabic",
    "he": "Hebrew",
    "ru": "Russian",
    "hi": "Hindi",
    "th": "Thai",
    "en": "English",
}


def script_of(text: str) -> str | None:
    """The writing system most of ``text``'s letters belong to, or None
    when it has none. Japanese mixes kana with Han: any kana makes it Kana."""
    counts = Counter({name: len(pattern.findall(text)) for name, pattern in SCRIPTS.items()})
    counts = +counts  # drop zeros
    if not counts:
        return None
    if counts["Kana"] and counts["Han"]:
        return "Kana"
    return counts.most_common(1)[0][0]


def language_of(text: str) -> str | None:
    """A language tag for ``text``: zh-TW (Traditional Chinese, as written in
    Taiwan), zh-CN (Simplified), yue (written Cantonese), ja, ko, ar, he, ru,
    hi, th, en; None when there are no letters."""
    script = script_of(text)
    if script != "Han":
        return SCRIPT_LANGUAGE.get(script)
    chars = set(text)
    if chars & CANTONESE:
        return "yue"
    # Traditional unless the text is clearly Simplified: the product's users
    # write Traditional, and a text of only shared characters reads the same.
    return "zh-CN" if len(chars & SIMPLIFIED) > len(chars & TRADITIONAL) else "zh-TW"


def language_of_all(texts) -> str | None:
    """The language most of ``texts``' characters are in (a job's language)."""
    weights = Counter()
    for text in texts:
        language = language_of(text)
        if language:
            weights[language] += len(text)
    return weights.most_common(1)[0][0] if weights else None


def spoken(tag: str | None) -> str:
    """The spoken language of a tag: ``zh-TW`` → ``cmn``, ``zh-HK`` →
    ``yue``, ``en-us`` → ``en``, ``ja`` → ``ja``; "" for none."""
    tag = (tag or "").strip().lower().replace("_", "-")
    if tag in CHINESE:
        return CHINESE[tag]
    return tag.split("-")[0]


def engine_tag(tag: str | None) -> str | None:
    """The tag to look voices up by: Chinese tags become the spoken language
    (eSpeak's voices are cmn and yue), others stay as they are."""
    if not tag:
        return None
    return CHINESE.get(tag.strip().lower().replace("_", "-"), tag)


def isolate(text) -> str:
    """``text`` between Unicode's first-strong isolate and its pop: the plain
    text form of <bdi>, for places without markup (subtitles, tooltips), so
    an Arabic name does not pull the punctuation around it to its side."""
    return f"\u2068{text}\u2069"


RIGHT_TO_LEFT = regex.compile(r"[\p{Bidi_Class=R}\p{Bidi_Class=AL}]")


def isolate_if_rtl(text: str) -> str:
    """Isolated when it holds right-to-left letters (subtitles: most players
    handle the isolates, but left-to-right text does not need them)."""
    return isolate(text) if RIGHT_TO_LEFT.search(text) else text


def same_language(a: str | None, b: str | None) -> bool:
    return bool(a and b) and spoken(a) == spoken(b)

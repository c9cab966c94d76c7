"""What of a turn's text should be read aloud.

Emoji and pictographs are removed (an engine would say "party popper"),
kaomoji and emoticons too (``(╯°□°)╯︵ ┻━┻``, ``¯\\_(ツ)_/¯``, ``^_^``, ``:-)``
would be spelled out symbol by symbol), and runs of punctuation shrink to one
mark (``!!!!`` is said as one exclamation, ``~~~~`` and ``-----`` not at all).
The pipeline applies it to every turn before any provider sees the text, so
every engine gets the same treatment; a turn with nothing speakable left fails
the job with NO_AUDIO instead of reaching an engine. Plain Python, no Django.
"""

from __future__ import annotations

import unicodedata

import regex

# Symbols that are words when read ("25°C", "№ 5", "Acme™"): kept.
READ_AS_WORDS = frozenset("°℃℉№℗©®™")
PICTOGRAPHS = regex.compile(
    r"[\p{Extended_Pictographic}\p{Emoji_Modifier}\p{Regional_Indicator}"
    r"\u200d\ufe0e\ufe0f\u20e3\U000e0020-\U000e007f]"
)
# Characters that make a bracketed group a face rather than an aside:
# "(^_^)", "(・ω・)", "(╯°□°)", "(T_T)", "(´∀｀)", "(ツ)".
FACE = (
    r"\^・･´`｀°ω∀Дд○◕‿≧≦▽ε｡ಠ╥﹏□ᴗツ≖⊙◉°゜ﾟ＾＿"
    r"╯╰┻━┳ノヽﾉ٩۶ᕕᕗ¬︵︶;；><＞＜"
)
KAOMOJI = regex.compile(
    rf"""
    [\\/╯╰┐┌ლ¯ヽ٩ᕕ_]*                     # arms before
    [(（][^()（）\n]{{0,12}}?[{FACE}][^()（）\n]{{0,12}}?[)）]   # the face, in brackets
    [\\/╯╰┐┌ლ¯ﾉノ۶ᕗ_]*                    # arms after
    (?:\s*︵\s*[┻┳━╯╰\s]+)?               # a flipped table
    |(?<![\w])[(（]?[\^T>=\-oO;ಠ◕][_.ω][\^T<=\-oO;ಠ◕][)）]?(?![\w])    # ^_^ (T_T) >_< -_- o_O
    |(?<![\w])\^\^(?![\w])                   # ^^
    |(?<!\S)[:;=][\-'o^]?[)(DPpO3\]\[/\\|*]+(?!\S)   # :) ;-) :D =P
    |(?<!\S)</?3+(?!\S)                      # <3
    |(?<![\w])orz(?![\w])
    """,
    regex.VERBOSE,
)


def _first(match) -> str:
    # "！！！" stays full-width, "!!!" half-width: the text's own style.
    return match[0][0]


def _question(match) -> str:
    return next(ch for ch in match[0] if ch in "?？")


PUNCTUATION_RUNS = [
    (regex.compile(r"[!?！？]*[?？][!?！？]*[!！][!?！？]*|[!?！？]*[!！][!?！？]*[?？][!?！？]*"), _question),
    (regex.compile(r"[!！]{2,}"), _first),
    (regex.compile(r"[?？]{2,}"), _first),
    (regex.compile(r"[。｡]{2,}"), _first),
    (regex.compile(r"(?:\.{2,}|…)+"), "…"),
    (regex.compile(r"[~～〜]+"), " "),
    (regex.compile(r"[-‐‑‒–—―_=*#+]{3,}"), " "),
]
SPACES = regex.compile(r"[ \t\u3000]{2,}")


def _pictograph(match) -> str:
    ch = match[0]
    if ch in READ_AS_WORDS:
        return ch
    # Joiners and selectors glue an emoji together: they vanish with it.
    return "" if ch in "\u200d\ufe0e\ufe0f\u20e3" else " "


def _strip_symbols(text: str) -> str:
    return "".join(
        " " if unicodedata.category(ch) == "So" and ch not in READ_AS_WORDS else ch
        for ch in PICTOGRAPHS.sub(_pictograph, text)
    )


def speakable(text: str) -> str:
    """``text`` without what should not be read aloud (see the module's doc)."""
    text = KAOMOJI.sub(" ", text)
    text = _strip_symbols(text)
    for pattern, replacement in PUNCTUATION_RUNS:
        text = pattern.sub(replacement, text)
    return SPACES.sub(" ", text).strip()


def has_speech(text: str) -> bool:
    """Whether any letter or digit is left to say."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)

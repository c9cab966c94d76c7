"""Dialogue scripts as people type them, turned into turns and back.

A script is lines of ``Speaker: text``. The colon may be ASCII or full-width
(``甲：你好``, the usual colon in Chinese and Japanese), with or without spaces
around it; the name may be bracketed (``[Host]: …``, ``【主持人】：…``) and may
hold letters of any script, digits, spaces (up to three words) and emoji
(``Bob 😀: Me too``, ``🤖: beep``). A line without a speaker continues the
previous turn; blank lines are ignored. A line that looks like a speaker line
but is not taken as one (a long clause before the colon, a quotation after
it) is reported with its line number, never silently merged.

No models or database: the page's form uses it, and its rules (length limits,
empty text) stay in ``synthesis.validation`` so the pages and the API judge a
job the same way. Messages are translated with Django's gettext.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

COLONS = ":：﹕"
BRACKETS = {"[": "]", "【": "】", "〖": "〗", "［": "］", "〔": "〕"}
# After the colon, an opening quote means the line quotes someone inside a
# turn ("他說：「好」") rather than naming who speaks.
OPENING_QUOTES = '「『“"‘《〈'
# Punctuation a name may hold: "Dr. Who", "O'Neil", "Guard-2", "Mary-Jane",
# "R&D", "Lee (voice over)", "Ōno·Taro".
NAME_PUNCTUATION = set(".'’‘-‐_&()（）·・/#")
MAX_SPEAKER_CHARS = 50
MAX_SPEAKER_WORDS = 3
# A colon further in than this is part of a sentence, not a name to report.
LOOKS_LIKE_NAME_CHARS = 60
SPACE = " \t\u3000"


@dataclass
class Turn:
    speaker: str
    text: str
    line: int  # 1-based line of the script where the turn starts

    def as_request(self, index: int) -> dict:
        return {"speaker": self.speaker, "text": self.text, "index": index}


@dataclass
class ScriptNote:
    """A line that looks like a speaker line but was read as text."""

    line: int
    message: str

    def __str__(self):
        return _("Line %(line)s: %(message)s") % {"line": self.line, "message": self.message}


@dataclass
class Script:
    turns: list[Turn] = field(default_factory=list)
    notes: list[ScriptNote] = field(default_factory=list)


class ScriptError(ValueError):
    def __init__(self, line: int, message: str):
        super().__init__(_("Line %(line)s: %(message)s") % {"line": line, "message": message})
        self.line = line
        self.message = message


def _name_problem(name: str, *, bracketed: bool = False) -> str | None:
    """Why ``name`` cannot be a speaker's name, or None. Brackets make any
    name unambiguous, so only its length counts then."""
    if not name:
        return _("there is no name before the colon")
    if len(name) > MAX_SPEAKER_CHARS:
        return _("the name is longer than %(max)s characters") % {"max": MAX_SPEAKER_CHARS}
    if bracketed:
        return None
    if len(name.split()) > MAX_SPEAKER_WORDS:
        return _("“%(name)s” has more than %(max)s words") % {"name": name, "max": MAX_SPEAKER_WORDS}
    first = unicodedata.category(name[0])
    if first[0] in "NP":
        return _("a name does not start with “%(char)s”") % {"char": name[0]}
    for ch in name:
        category = unicodedata.category(ch)
        # Letters, marks (accents, vowel signs), digits, symbols (emoji),
        # spaces, format characters (ZWJ in emoji, direction marks).
        if category[0] in "LMNSZ" or category == "Cf" or ch in NAME_PUNCTUATION:
            continue
        return _("a name does not contain “%(char)s”") % {"char": ch}
    return None


def _read_line(line: str) -> tuple[str | None, str, str | None]:
    """``(speaker, text, None)`` for a speaker line, ``(None, line, why)`` for
    a line that looks like one but is not taken (``why`` says why), and
    ``(None, line, None)`` for plain text."""
    stripped = line.strip(SPACE + "\r\n\f\v")
    opening = stripped[:1]
    if opening in BRACKETS:
        close = stripped.find(BRACKETS[opening], 1)
        rest = stripped[close + 1 :].lstrip(SPACE) if close > 0 else ""
        if rest[:1] in COLONS and rest:
            name = stripped[1:close].strip(SPACE)
            why = _name_problem(name, bracketed=True)
            if why is None:
                return name, rest[1:].strip(SPACE), None
            return None, stripped, why
    colon = min((i for i in (stripped.find(c) for c in COLONS) if i >= 0), default=-1)
    if colon < 0:
        return None, stripped, None
    name, after = stripped[:colon].strip(SPACE), stripped[colon + 1 :]
    if after.startswith("//") or (name[-1:].isdigit() and after[:1].isdigit()):
        return None, stripped, None  # a URL, a time (10:30), a ratio (3:2)
    why = _name_problem(name)
    said = after.lstrip(SPACE)
    if why is None and said and said[0] in OPENING_QUOTES:
        why = _("the text after the colon is a quotation")
    if why is None:
        return name, after.strip(SPACE), None
    return None, stripped, why if colon <= LOOKS_LIKE_NAME_CHARS else None


def read_script(text: str) -> Script:
    """The turns of ``text`` in order, and notes on lines that look like
    speaker lines but were read as text. Raises ScriptError when text comes
    before the first speaker, since nobody would say it."""
    script = Script()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        speaker, words, why = _read_line(line)
        if speaker is not None:
            script.turns.append(Turn(speaker, words, number))
            continue
        if not script.turns:
            if why:
                raise ScriptError(number, _("not read as a speaker line: %(why)s.") % {"why": why})
            raise ScriptError(number, _("Start with a speaker's name and a colon, like “Alice: Hello.”"))
        previous = script.turns[-1]
        previous.text = f"{previous.text} {words}".strip()
        if why:
            script.notes.append(
                ScriptNote(
                    number,
                    _("not read as a speaker line (%(why)s): it continues %(speaker)s's turn.")
                    % {"why": why, "speaker": previous.speaker},
                )
            )
    return script


def parse_script(text: str) -> list[Turn]:
    """Just the turns of ``text`` (see read_script)."""
    return read_script(text).turns


def speakers_of(turns) -> list[str]:
    """Speakers in order of first appearance, each once."""
    return list(dict.fromkeys(turn.speaker if isinstance(turn, Turn) else turn["speaker"] for turn in turns))


def format_script(turns: list[dict]) -> str:
    """The script text of request turns (``{"speaker", "text"}``): the
    inverse of parse_script, to start a new dialogue from an old one. A name
    that would not read back as itself is bracketed."""
    lines = []
    for turn in turns:
        speaker = turn["speaker"]
        if _read_line(f"{speaker}: x")[0] != speaker and "]" not in speaker:
            speaker = f"[{speaker}]"
        lines.append(f"{speaker}: {turn['text']}")
    return "\n".join(lines)

"""A user's pronunciation dictionary, applied to a turn's text.

An entry says how a written form is to be spoken: as a respelling (plain text
any engine reads: "Nguyen" → "win", "台積電" → "台積 電") or as phonemes for
the engines that take them: eSpeak's own phoneme mnemonics (``[[…]]`` input)
or IPA (Azure's SSML ``<phoneme alphabet="ipa">``).

Matching rules (also in the README):

- Whole words. A term that starts (ends) with a letter or digit of a script
  written with spaces (Latin, Cyrillic, Greek, Arabic…) matches only where
  the text has no such letter or digit just before (after) it: "Bob" is not
  found in "Bobby", but is in "Bob's" and in "我和Bob". Chinese, Japanese,
  Korean, Thai… are not written with spaces between words, so there a term
  matches as written wherever it occurs ("台積" in "台積電").
- Longest first. At any place in the text the longest entry that matches
  wins, and replaced text is not looked at again: with "台積" and "台積電",
  "台積電" is spoken as the "台積電" entry says.
- Case. An entry matches whatever the case (Unicode simple case folding,
  one character for one: "Straße" matches "STRAẞE", not "STRASSE") unless it
  is marked case-sensitive ("US" the country, not "us"); for the same
  written length a case-sensitive entry is tried first.
- Spaces inside a term match any run of white space in the text.
- Inline markers (``[pause 800ms]``, ``[停頓 1秒]``) are never changed.

Phonemes travel from here to the provider inside the text, as a span of
private-use characters: ``\\ue000 alphabet \\ue001 phonemes \\ue001 written
\\ue002``. The pipeline applies phoneme entries only for providers that take
their alphabet (``Capabilities.phoneme_alphabets``); such a provider turns the
spans into its own markup (``pieces``), and ``plain`` gives the written form
back for anything else. The span is part of the text that names a kept
segment (synthesis.segments.content_key), so editing an entry re-synthesizes
exactly the turns it touches.

Plain Python; messages are translated with Django's gettext.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import regex
from django.utils.translation import gettext as _

from synthesis import pauses

RESPELLING = "respelling"
ESPEAK = "espeak"  # eSpeak NG phoneme mnemonics, as in its [[…]] input
IPA = "ipa"
KINDS = (RESPELLING, ESPEAK, IPA)
PHONEME_KINDS = (ESPEAK, IPA)

MAX_WRITTEN = 100
MAX_SPOKEN = 200

SPAN_OPEN, SPAN_SEP, SPAN_CLOSE = "\ue000", "\ue001", "\ue002"
SPAN_CHARS = SPAN_OPEN + SPAN_SEP + SPAN_CLOSE
_FIELD = f"([^{SPAN_CHARS}]*)"
SPAN = regex.compile(f"{SPAN_OPEN}{_FIELD}{SPAN_SEP}{_FIELD}{SPAN_SEP}{_FIELD}{SPAN_CLOSE}")

# Scripts written without spaces between words: a term matches inside a run
# of them. (Korean separates phrases with spaces, but particles attach to the
# noun, "서울에서": a Korean term matches inside a phrase too.)
NO_SPACE_SCRIPTS = (
    r"\p{Han}\p{Hiragana}\p{Katakana}\p{Bopomofo}\p{Hangul}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}\p{Tibetan}ー々〆"
)
_SPACED_WORD_CHAR = regex.compile(rf"[\w--[{NO_SPACE_SCRIPTS}]]", regex.V1)
# Markers another part of the pipeline reads (inline pauses): left alone.
MARKER = r"\[\s*(?i:pause|停頓|停顿|暫停|暂停)\b[^\[\]\n]{0,40}\]"
_MARKER = regex.compile(MARKER)
_SPACES = regex.compile(r"\s+")
# Control characters, unpaired surrogates (PostgreSQL cannot store them) and our span marks.
FORBIDDEN_CHARS = regex.compile("[\x00-\x1f\x7f\ud800-\udfff" + SPAN_CHARS + "]")

# eSpeak reads "]]" as the end of phoneme input; SSML needs a well-formed
# attribute. Phonemes are letters, marks and the few symbols both alphabets use.
_BAD_PHONEMES = {
    ESPEAK: regex.compile(r"[\[\]\x00-\x1f\x7f<>&\"]"),
    IPA: regex.compile(r"[\[\]\x00-\x1f\x7f<>&\"]"),
}


@dataclass(frozen=True)
class Entry:
    written: str
    spoken: str
    kind: str = RESPELLING
    case_sensitive: bool = False

    def as_dict(self) -> dict:
        return {
            "written": self.written,
            "spoken": self.spoken,
            "kind": self.kind,
            "case_sensitive": self.case_sensitive,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Entry:
        return cls(data["written"], data["spoken"], data.get("kind", RESPELLING), bool(data.get("case_sensitive")))

    @property
    def is_phonemes(self) -> bool:
        return self.kind in PHONEME_KINDS

    def replacement(self) -> str:
        if self.is_phonemes:
            return f"{SPAN_OPEN}{self.kind}{SPAN_SEP}{self.spoken}{SPAN_SEP}{self.written}{SPAN_CLOSE}"
        return self.spoken


def normalise_term(text: str) -> str:
    """A written or spoken form as stored: trimmed, inner white space one space."""
    return _SPACES.sub(" ", text).strip()


def check_entry(written, spoken, kind, case_sensitive) -> dict[str, str]:
    """A message for each field that is not valid."""
    errors = {}
    if not isinstance(written, str) or not normalise_term(written):
        errors["written"] = _("The written form is required (text).")
    elif len(normalise_term(written)) > MAX_WRITTEN:
        errors["written"] = _("At most %(count)s characters.") % {"count": MAX_WRITTEN}
    elif FORBIDDEN_CHARS.search(written):
        errors["written"] = _("Control characters and invalid Unicode are not allowed.")
    elif not any(ch.isalnum() for ch in written):
        errors["written"] = _("The written form needs at least one letter or digit.")
    if kind not in KINDS:
        errors["kind"] = _("One of: %(kinds)s.") % {"kinds": ", ".join(KINDS)}
    if not isinstance(spoken, str) or not normalise_term(spoken):
        errors["spoken"] = _("The spoken form is required (text).")
    elif len(normalise_term(spoken)) > MAX_SPOKEN:
        errors["spoken"] = _("At most %(count)s characters.") % {"count": MAX_SPOKEN}
    elif FORBIDDEN_CHARS.search(spoken):
        errors["spoken"] = _("Control characters and invalid Unicode are not allowed.")
    elif pauses.find_markers(spoken):
        errors["spoken"] = _("A pause marker cannot be part of a spoken form.")
    elif kind in _BAD_PHONEMES and _BAD_PHONEMES[kind].search(spoken):
        errors["spoken"] = _("Phonemes cannot contain [ ] < > & or quotation marks.")
    if not isinstance(case_sensitive, bool):
        errors["case_sensitive"] = _("true or false.")
    return errors


@lru_cache(maxsize=8192)
def _fold_char(ch: str) -> str:
    # Simple (one character for one) case folding, so that positions in the
    # folded text are positions in the text.
    for folded in (ch.casefold(), ch.lower()):
        if len(folded) == 1:
            return folded
    return ch


def _fold(text: str) -> str:
    return "".join(map(_fold_char, text))


@lru_cache(maxsize=8192)
def _spaced(ch: str) -> bool:
    return bool(_SPACED_WORD_CHAR.match(ch))


def _ordered(entries) -> list[Entry]:
    # Longest first; for the same length a case-sensitive entry first; then
    # a fixed order, so the same dictionary always gives the same text.
    return sorted(entries, key=lambda e: (-len(e.written), not e.case_sensitive, e.written, e.kind, e.spoken))


class _Matcher:
    """Finds entries in a text by looking words up, not by trying a regular
    expression per entry: at each place a term could start (a word start in
    spaced scripts, any character in Chinese or Japanese), only the lengths
    of the terms that begin with that character are looked up in a dict,
    longest first. 1,000 entries against 100,000 characters take tens of
    milliseconds (a 1,000-branch regular expression took a minute)."""

    def __init__(self, entries):
        self.exact: dict[str, Entry] = {}
        self.folded: dict[str, Entry] = {}
        lengths: dict[str, set[int]] = {}
        for entry in _ordered(entries):
            term = normalise_term(entry.written)
            if not term:
                continue
            if entry.case_sensitive:
                self.exact.setdefault(term, entry)
            else:
                self.folded.setdefault(_fold(term), entry)
            lengths.setdefault(_fold_char(term[0]), set()).add(len(term))
        self.lengths = {first: sorted(found, reverse=True) for first, found in lengths.items()}

    def find(self, text: str):
        """(start, end, entry) of each match in ``text``, left to right."""
        if not self.lengths:
            return
        # White space runs count as one space (as in the stored terms); index
        # maps a position in that text back to the original.
        norm_chars, index = [], []
        previous_space = False
        for position, ch in enumerate(text):
            space = ch.isspace()
            if space and previous_space:
                continue
            norm_chars.append(" " if space else ch)
            index.append(position)
            previous_space = space
        index.append(len(text))
        norm = "".join(norm_chars)
        folded = _fold(norm)
        markers = [(m.start(), m.end()) for m in _MARKER.finditer(norm)]
        size, i, marker = len(norm), 0, 0
        while i < size:
            while marker < len(markers) and markers[marker][1] <= i:
                marker += 1
            limit = markers[marker][0] if marker < len(markers) else size
            if limit <= i:  # inside a marker: skip it whole
                i = markers[marker][1]
                continue
            lengths = self.lengths.get(folded[i])
            if lengths and not (_spaced(norm[i]) and i and _spaced(norm[i - 1])):
                for length in lengths:
                    end = i + length
                    if end > limit or (end < size and _spaced(norm[end - 1]) and _spaced(norm[end])):
                        continue
                    entry = self.exact.get(norm[i:end]) or self.folded.get(folded[i:end])
                    if entry is not None:
                        yield index[i], index[end - 1] + 1, entry
                        i = end
                        break
                else:
                    i += 1
            else:
                i += 1


def matching(entries, texts: list[str]) -> list[Entry]:
    """The entries that would change at least one of ``texts``: what a job
    records."""
    matcher = _Matcher(entries)
    used = {}
    for text in texts:
        for *_where, entry in matcher.find(strip_spans(text)):
            used[entry] = True
    return _ordered(used)


def apply(text: str, entries) -> str:
    """``text`` with every entry's written form replaced by its spoken form
    (phoneme entries as spans); markers untouched."""
    text = strip_spans(text)
    parts, position = [], 0
    for start, end, entry in _Matcher(entries).find(text):
        parts.append(text[position:start])
        parts.append(entry.replacement())
        position = end
    parts.append(text[position:])
    return "".join(parts)


def strip_spans(text: str) -> str:
    """User text never carries our span characters."""
    return regex.sub(f"[{SPAN_CHARS}]", "", text)


@dataclass(frozen=True)
class Phonemes:
    alphabet: str
    phonemes: str
    written: str


def pieces(text: str) -> list[str | Phonemes]:
    """The text cut into plain strings and phoneme spans, in order."""
    result: list[str | Phonemes] = []
    position = 0
    for match in SPAN.finditer(text):
        if match.start() > position:
            result.append(strip_spans(text[position : match.start()]))
        result.append(Phonemes(match[1], match[2], match[3]))
        position = match.end()
    if position < len(text) or not result:
        result.append(strip_spans(text[position:]))
    return result


def plain(text: str) -> str:
    """The text with every phoneme span back to its written form: what an
    engine that takes no phonemes is given."""
    return "".join(p if isinstance(p, str) else p.written for p in pieces(text))


def has_spans(text: str) -> bool:
    return SPAN_OPEN in text


def span_at(text: str, position: int) -> tuple[int, int] | None:
    """(start, end) of the span ``position`` falls strictly inside, or None:
    where a long text must not be cut."""
    start = text.rfind(SPAN_OPEN, 0, position)
    if start < 0:
        return None
    end = text.find(SPAN_CLOSE, start)
    if end < 0 or end + 1 <= position:
        return None
    return start, end + 1

"""Pauses written inside a line: ``[pause 800ms]``, ``[pause 1.5s]``, ``[停頓 1秒]``.

A marker is a keyword and a length in brackets. The keyword is ``pause``
(any case), ``停頓`` or ``停顿``; the length is digits (ASCII or full-width,
with an optional decimal point) and a unit: ``ms``/``毫秒`` or ``s``/``秒``,
with or without spaces (``[停頓1秒]``, ``[pause 800 ms]``). The brackets may be
``[…]``, full-width ``［…］`` or ``【…】`` (what a Chinese input method types
for ``[``), in any pairing. A marker is 0 to 10 seconds. Adjacent markers add
up. There is no escape: the words "[pause 1s]" cannot be read aloud.

Something that looks like a marker but is not one (``[pause]``, ``[pause
800]``, ``[停頓 一秒]``, ``[pause 12s]``, ``[pause 1s`` unclosed) is a problem
``pause_problems`` names, so validation refuses it instead of reading it
aloud; ``split_pauses`` never returns it as text either.

``split_pauses`` is the one place that cuts a turn into what is spoken and
what is silent; the pipeline, subtitles and timings all use it. Plain Python
and numpy, no Django except gettext for the problems' wording.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
from django.utils.translation import gettext as _

from synthesis.audio import Audio

MAX_PAUSE_MS = 10_000
OPENING = "[［【"
CLOSING = "]］】"
# A bracket opening with the keyword is a marker, or a mistaken one. An English
# keyword followed by a letter is a word ("[pauses here]"); a Chinese one
# followed by anything is a try at a marker ("[停頓一下]").
_LOOKS_LIKE = re.compile(
    rf"[{re.escape(OPENING)}][ \t\u3000]*(?:pause(?![^\W\d_])|停頓|停顿)"
    rf"(?P<body>[^{re.escape(OPENING + CLOSING)}\n]{{0,24}})(?P<close>[{re.escape(CLOSING)}])?",
    re.IGNORECASE,
)
_LENGTH = re.compile(r"\s*(?P<number>[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>ms|s|毫秒|秒)\s*", re.IGNORECASE)
_UNIT_MS = {"ms": 1, "毫秒": 1, "s": 1000, "秒": 1000}
# Scripts written without spaces between words: no space where a marker was.
_NO_SPACES = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f\U00020000-\U0003134f]")

Piece = tuple[str | None, int]


@dataclass(frozen=True)
class Marker:
    start: int
    end: int
    text: str
    ms: int | None  # None: not a valid marker (``problem`` says why)
    problem: str | None = None


def find_markers(text: str) -> list[Marker]:
    """Every marker and would-be marker in ``text``, in order."""
    markers = []
    for match in _LOOKS_LIKE.finditer(text):
        written = match[0]
        # NFKC: full-width digits and point (１．５) read as ASCII ones.
        length = _LENGTH.fullmatch(unicodedata.normalize("NFKC", match["body"]))
        if not match["close"] and length is not None:
            problem = _("“%(marker)s” has no closing bracket.") % {"marker": written.rstrip()}
            markers.append(Marker(match.start(), match.end(), written, None, problem))
            continue
        if length is None or not match["close"]:
            if not match["close"]:
                written = written.rstrip() + "…"
            problem = _("“%(marker)s” is not a pause: write it like [pause 800ms], [pause 1.5s] or [停頓 1秒].") % {
                "marker": written
            }
            markers.append(Marker(match.start(), match.end(), written, None, problem))
            continue
        # Decimal: 1.5 s is exactly 1500 ms; half a millisecond rounds up.
        exact = Decimal(length["number"]) * _UNIT_MS[length["unit"].lower()]
        ms = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
        if ms > MAX_PAUSE_MS:
            problem = _("“%(marker)s” is too long: a pause is 0 to 10 seconds.") % {"marker": written}
            markers.append(Marker(match.start(), match.end(), written, None, problem))
            continue
        markers.append(Marker(match.start(), match.end(), written, ms))
    return markers


def pause_problems(text: str) -> list[str]:
    """What is wrong with the would-be markers of ``text`` (empty: nothing)."""
    return [marker.problem for marker in find_markers(text) if marker.problem]


def split_pauses(text: str) -> list[Piece]:
    """``text`` as ``[(text or None, pause_ms after it), ...]``: each piece of
    speech (stripped, None when only spaces are left) followed by the silence
    written after it. Adjacent markers add up; a turn that starts with a
    marker starts with ``(None, ms)``; the last piece's pause is that of a
    marker ending the text, else 0. Text without markers is ``[(text, 0)]``.
    Mistaken markers (see ``pause_problems``; validation refuses them) are
    left out, neither spoken nor silent.

    >>> split_pauses("Hi [pause 800ms] there.")
    [('Hi', 800), ('there.', 0)]
    >>> split_pauses("[停頓 1秒]你好[pause 0.5s][pause 0.5s]")
    [(None, 1000), ('你好', 1000)]
    """
    pieces: list[Piece] = []
    position = 0
    for marker in find_markers(text):
        words = text[position : marker.start].strip() or None
        position = marker.end
        ms = marker.ms or 0
        if words is None and pieces:
            previous, pause = pieces[-1]
            pieces[-1] = (previous, pause + ms)
        else:
            pieces.append((words, ms))
    rest = text[position:].strip() or None
    if rest is not None or not pieces:
        pieces.append((rest, 0))
    return pieces


def has_markers(text: str) -> bool:
    return bool(find_markers(text))


def total_pause_ms(text: str) -> int:
    return sum(marker.ms or 0 for marker in find_markers(text))


def strip_pauses(text: str) -> str:
    """``text`` as it is read and shown (subtitles, titles, language
    detection): without its markers. Where a marker stood between words one
    space is left, none between Chinese or Japanese characters."""
    text = join_words(words for words, _ in split_pauses(text) if words)
    # Joining could bring a bracket and a keyword together ("[" "pause 1s]"):
    # once more until none is left (each round removes characters).
    while find_markers(text):
        text = join_words(words for words, _ in split_pauses(text) if words)
    return text


def join_words(parts) -> str:
    joined = ""
    for words in parts:
        if joined and not (_NO_SPACES.match(joined[-1]) and _NO_SPACES.match(words[0])):
            joined += " "
        joined += words
    return joined


def spoken_pieces(text: str, clean: Callable[[str], str | None]) -> list[Piece]:
    """``split_pauses(text)`` with each piece's words passed through ``clean``
    (what an engine should get: None when nothing is left to say). Pieces left
    with nothing to say give their pause to the piece before; a marker that
    the cleaning happened to form is dropped too, so none ever reaches an
    engine."""
    pieces: list[Piece] = []
    for words, ms in split_pauses(text):
        # Cleaning could form a marker ("[😀pause 1s]"): until none is left.
        while words is not None and ((words := clean(words)) is not None) and find_markers(words):
            words = strip_pauses(words) or None
        if words is None and pieces:
            previous, pause = pieces[-1]
            pieces[-1] = (previous, pause + ms)
        else:
            pieces.append((words, ms))
    return pieces


def canonical(pieces: Sequence[Piece]) -> str:
    """One string for ``pieces`` that two turns share exactly when they sound
    the same (``[pause 0.8s]`` and ``[pause 800ms]`` alike): the text part of
    a kept segment's content key. Without pauses it is the text itself, so
    turns without markers keep the keys they had; with them it starts with a
    NUL, which no accepted text holds."""
    if len(pieces) == 1 and pieces[0][1] == 0:
        return pieces[0][0] or ""
    return "\x00" + json.dumps([list(piece) for piece in pieces], ensure_ascii=False)


# --- the audio of a turn with pauses ------------------------------------------

# Below this (relative to the piece's peak) an edge next to a pause is the
# engine's own padding, trimmed so the silence heard is the one written.
TRIM_BELOW_DB = -60.0


def trim_silence(samples: np.ndarray, *, start: bool, end: bool) -> np.ndarray:
    """``samples`` without the near-silence at its start and/or end."""
    if not len(samples) or not (start or end):
        return samples
    magnitude = np.abs(samples)
    floor = max(float(magnitude.max()) * 10 ** (TRIM_BELOW_DB / 20), 1.5 / 32768)
    loud = np.flatnonzero(magnitude > floor)
    if not len(loud):
        return samples[:0]
    first = loud[0] if start else 0
    last = loud[-1] + 1 if end else len(samples)
    return samples[first:last]


def join_with_pauses(
    pieces: Sequence[tuple[Audio | None, int]], sample_rate: int
) -> tuple[Audio, list[tuple[float, float]]]:
    """The turn's audio from its spoken pieces (Audio, or None for none) and
    the pause after each, at ``sample_rate``: each pause is exactly that much
    digital silence between the speech around it (the engine's own leading or
    trailing silence next to a pause is trimmed; the turn's outer edges are
    left as the engine made them, so a turn without pauses is unchanged).
    Also returns where each piece's speech is in the turn, ``(start_ms,
    end_ms)`` (equal for a None piece), for timings finer than a turn."""
    parts, spans, position = [], [], 0
    count = len(pieces)
    for number, (audio, pause_ms) in enumerate(pieces):
        if audio is not None:
            samples = audio.at_rate(sample_rate).samples
            samples = trim_silence(
                np.asarray(samples, dtype=np.float32),
                # Every piece but the first follows a marker; every piece but
                # the last, and a last one with a pause, precedes one.
                start=number > 0,
                end=number < count - 1 or pause_ms > 0,
            )
            parts.append(samples)
        else:
            samples = np.zeros(0, dtype=np.float32)
        spans.append((1000.0 * position / sample_rate, 1000.0 * (position + len(samples)) / sample_rate))
        position += len(samples)
        silence = round(pause_ms * sample_rate / 1000)
        if silence:
            parts.append(np.zeros(silence, dtype=np.float32))
            position += silence
    samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    return Audio(samples.astype(np.float32, copy=False), sample_rate), spans

"""Sentences of a turn, and where each one is in the turn's audio.

Plain Python and numpy, no Django. A turn's text is cut into sentences
(``split_sentences``); its audio is timed sentence by sentence
(``sentence_offsets``) from the engine's own word marks when it reports
them (eSpeak's WORD events, ElevenLabs' character alignment: ``Audio.marks``,
pairs of (character index in the text the engine was given, ms)) and
otherwise from the audio itself: the turn's speech is shared out between its
sentences in proportion to their expected length, and each boundary is then
moved to the nearest pause (``_from_pauses``).

Offsets are kept per segment for the sentences of the text the engine spoke
(after emoji clean-up and, where one applies, a pronunciation dictionary);
``user_sentence_offsets`` maps them back to the sentences of what the user
wrote by order, not by character position, since the two texts differ.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
import regex

from synthesis import lexicon, pauses
from synthesis.audio import CHARS_PER_SECOND, Audio, estimate_duration_seconds

# A sentence ends at . ! ? … ؟ । (then closing quotes or brackets) followed by a
# space or the end; or at a CJK 。！？ whatever follows; or at a line break.
_CLOSERS = "\"'”’»)\\]」』）】〉》"
SENTENCE_END = regex.compile(
    rf"(?:[.!?…؟।]+[{_CLOSERS}]*(?=\s|$)|[。！？｡]+[{_CLOSERS}]*|\n+)",
)
# "Dr. Smith" is one sentence. A short list, English only: elsewhere a word
# with a period before a space ends a sentence.
ABBREVIATIONS = frozenset(
    ("mr", "mrs", "ms", "dr", "prof", "st", "sr", "jr", "vs", "e.g", "i.e", "fig", "mt", "approx")
)
_LAST_WORD = regex.compile(r"([\p{L}.]+)\.$")


@dataclass(frozen=True)
class Sentence:
    start: int  # character offsets in the turn's text, surrounding spaces left out
    end: int
    text: str


def _has_speech(text: str) -> bool:
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


def split_sentences(text: str) -> list[Sentence]:
    """The sentences of ``text``, in order. A piece with nothing to say
    (an emoji, "…") belongs to the sentence before it (the first one: to the
    next), so the count is the same for the user's text and the cleaned text
    an engine speaks."""
    pieces: list[tuple[int, int]] = []
    begin = 0
    for match in SENTENCE_END.finditer(text):
        end = match.end()
        if match.group().startswith(".") and match.group() == "." and _is_abbreviation(text[begin:end]):
            continue
        pieces.append((begin, end))
        begin = end
    pieces.append((begin, len(text)))
    merged: list[list[int]] = []
    for start, end in pieces:
        if not text[start:end].strip():
            continue
        if merged and not _has_speech(text[start:end]):
            merged[-1][1] = end
        elif merged and not _has_speech(text[merged[-1][0] : merged[-1][1]]):
            merged[-1][1] = end  # a leading piece with no speech joins this one
        else:
            merged.append([start, end])
    sentences = []
    for start, end in merged:
        piece = text[start:end]
        lead = len(piece) - len(piece.lstrip())
        trail = len(piece) - len(piece.rstrip())
        sentences.append(Sentence(start + lead, end - trail, piece.strip()))
    return sentences


def _is_abbreviation(piece: str) -> bool:
    match = _LAST_WORD.search(piece.rstrip())
    return bool(match) and match.group(1).lower() in ABBREVIATIONS


# --- timing ------------------------------------------------------------------

_FRAME_MS = 10
# A frame is speech when its peak is within this of the turn's loudest frame.
_SPEECH_BELOW_PEAK_DB = 40.0
# Shorter quiet stretches are between words, not between sentences.
MIN_PAUSE_MS = 150
# How far from the text-length estimate a boundary may move to reach a pause.
SNAP_WINDOW_MS = 1500


def _speech_frames(audio: Audio) -> np.ndarray:
    """One bool per 10 ms frame: is there speech in it. Frame k covers
    exactly [10 k, 10 k + 10) ms (22.05 kHz has no whole number of samples
    in 10 ms: a frame of 220 samples would drift 0.2 %, 136 ms a minute)."""
    samples = np.abs(np.asarray(audio.samples, dtype=np.float32))
    count = int(len(samples) * 1000 // (audio.sample_rate * _FRAME_MS))
    if not count:
        return np.zeros(0, dtype=bool)
    bounds = np.round(np.arange(count) * audio.sample_rate * _FRAME_MS / 1000).astype(np.int64)
    peaks = np.maximum.reduceat(samples[: round(count * audio.sample_rate * _FRAME_MS / 1000)], bounds)
    loudest = float(peaks.max())
    if loudest <= 0:
        return np.zeros(count, dtype=bool)
    return peaks >= max(loudest * 10 ** (-_SPEECH_BELOW_PEAK_DB / 20), 10 ** (-70 / 20))


def _pauses(speech: np.ndarray) -> list[tuple[int, int]]:
    """Quiet runs between speech, as (first quiet frame, first speech frame after)."""
    runs, start = [], None
    for i, loud in enumerate(speech):
        if not loud and start is None:
            start = i
        elif loud and start is not None:
            if start > 0 and i - start >= MIN_PAUSE_MS // _FRAME_MS:
                runs.append((start, i))
            start = None
    return runs


def sentence_offsets(text: str, audio: Audio) -> list[list[int]]:
    """[[start_ms, end_ms], …] of each of ``split_sentences(text)`` in
    ``audio`` (``text`` is what the engine was given), relative to the audio's
    first sample. A start is where the sentence's speech begins; an end is
    where its speech stops (its trailing pause belongs to nobody)."""
    sentences = split_sentences(text)
    if not sentences:
        return []
    speech = _speech_frames(audio)
    total_ms = audio.duration_ms
    if not speech.any():
        return [[0, round(total_ms)] for _ in sentences]
    first = int(np.argmax(speech)) * _FRAME_MS
    last = (len(speech) - int(np.argmax(speech[::-1]))) * _FRAME_MS
    marks = getattr(audio, "marks", None)
    starts = _from_marks(sentences, marks, first) if marks else None
    if starts is None:
        starts = _from_pauses(sentences, speech, first, last)
    offsets = []
    for k, start in enumerate(starts):
        limit = starts[k + 1] if k + 1 < len(starts) else min(last, total_ms)
        offsets.append([round(start), round(max(start, _speech_end(speech, start, limit)))])
    return offsets


def _speech_end(speech: np.ndarray, start_ms: float, limit_ms: float) -> float:
    """The end of the last speech frame in [start, limit)."""
    a, b = int(start_ms // _FRAME_MS), int(min(limit_ms, len(speech) * _FRAME_MS) // _FRAME_MS)
    window = speech[a:b]
    if not window.any():
        return limit_ms
    return min(limit_ms, (a + len(window) - int(np.argmax(window[::-1]))) * _FRAME_MS)


def _from_marks(sentences: list[Sentence], marks, first_ms: float) -> list[float] | None:
    """Each sentence starts at the first mark inside it. A sentence the engine
    gave no mark for is placed between its neighbours by length."""
    ordered = sorted((int(position), float(ms)) for position, ms in marks)
    starts: list[float | None] = []
    for sentence in sentences:
        inside = [ms for position, ms in ordered if sentence.start <= position < sentence.end]
        starts.append(min(inside) if inside else None)
    if all(s is None for s in starts):
        return None
    if starts[0] is None:
        starts[0] = first_ms
    known = [(k, s) for k, s in enumerate(starts) if s is not None]
    for k, start in enumerate(starts):
        if start is None:
            before = max((j, s) for j, s in known if j < k)
            after = [(j, s) for j, s in known if j > k]
            if after:
                j, end = after[0]
                starts[k] = before[1] + (end - before[1]) * (k - before[0]) / (j - before[0])
            else:
                starts[k] = before[1]
    # Marks of one sentence never come before those of the previous one.
    for k in range(1, len(starts)):
        starts[k] = max(starts[k], starts[k - 1])
    return starts


def _weight(sentence: Sentence) -> float:
    # A dictionary's phoneme span counts as the written word it replaces.
    return max(estimate_duration_seconds([lexicon.plain(sentence.text)], 0), 1 / CHARS_PER_SECOND)


def _from_pauses(sentences: list[Sentence], speech: np.ndarray, first_ms: float, last_ms: float) -> list[float]:
    """Share the speech between the sentences by expected length, then move
    each boundary to the nearest pause within SNAP_WINDOW_MS, in order (a pause
    serves one boundary); the next sentence starts where that pause ends."""
    weights = np.array([_weight(s) for s in sentences])
    shares = np.cumsum(weights)[:-1] / weights.sum()
    estimates = first_ms + shares * (last_ms - first_ms)
    pauses = [(a * _FRAME_MS, b * _FRAME_MS) for a, b in _pauses(speech)]
    starts, used = [first_ms], -1
    for estimate in estimates:
        best = None
        for index in range(used + 1, len(pauses)):
            a, b = pauses[index]
            distance = 0.0 if a <= estimate <= b else min(abs(estimate - a), abs(estimate - b))
            if distance <= SNAP_WINDOW_MS and (best is None or distance < best[0]):
                best = (distance, index)
        if best is None:
            starts.append(max(float(estimate), starts[-1]))
        else:
            used = best[1]
            starts.append(max(float(pauses[used][1]), starts[-1]))
    return starts


# --- from the engine's sentences to the user's --------------------------------


def user_sentence_offsets(user_text: str, spoken_offsets: list[list[int]]) -> list[tuple[Sentence, int, int]]:
    """The user's sentences of a turn with their (start_ms, end_ms), from the
    offsets of the sentences the engine spoke. Matched by order when the
    counts agree (they do unless a dictionary entry or the clean-up added or
    removed a sentence end); otherwise the user's sentences share the spoken
    span by expected length, each boundary moved to the nearest spoken
    sentence boundary."""
    sentences = split_sentences(user_text)
    if not sentences or not spoken_offsets:
        return []
    if len(sentences) == len(spoken_offsets):
        return [(s, int(a), int(b)) for s, (a, b) in zip(sentences, spoken_offsets)]
    first, last = spoken_offsets[0][0], spoken_offsets[-1][1]
    weights = np.array([_weight(s) for s in sentences])
    bounds = [first + share * (last - first) for share in np.cumsum(weights)[:-1] / weights.sum()]
    known = [start for start, _ in spoken_offsets[1:]]
    if known:
        bounds = [_nearest(known, bound) for bound in bounds]
    edges = [first, *sorted(bounds), last]
    return [(s, round(edges[k]), round(max(edges[k], edges[k + 1]))) for k, s in enumerate(sentences)]


def _nearest(candidates: list[float], value: float) -> float:
    best = min(candidates, key=lambda c: abs(c - value))
    return best if abs(best - value) <= SNAP_WINDOW_MS else value


def joined_marks(pieces, spoken: list[Audio | None], spans, sample_rate: int) -> list[tuple[int, float]]:
    """The marks of a turn spoken piece by piece around its pauses
    (synthesis.pauses): each piece's marks moved to where its words are in
    the turn's text (``pauses.join_words`` of the pieces) and its speech in
    the turn's audio (``pauses.join_with_pauses``' spans, after the padding
    it trimmed from the piece's start)."""
    marks: list[tuple[int, float]] = []
    said: list[str] = []
    for number, ((words, _), audio, (start_ms, _)) in enumerate(zip(pieces, spoken, spans)):
        if not words:
            continue
        offset = len(pauses.join_words([*said, words])) - len(words)
        said.append(words)
        if audio is None or not audio.marks:
            continue
        trimmed_ms = 0.0
        if number > 0:  # join_with_pauses trims the start of every piece after the first
            samples = np.asarray(audio.at_rate(sample_rate).samples, dtype=np.float32)
            kept = pauses.trim_silence(samples, start=True, end=False)
            trimmed_ms = 1000.0 * (len(samples) - len(kept)) / sample_rate
        marks.extend((offset + position, max(start_ms, start_ms + ms - trimmed_ms)) for position, ms in audio.marks)
    return marks

"""WebVTT and SRT subtitles from a finished job's timings.

Plain functions. ``cues`` makes one cue per sentence from the job's
``sentence_timings`` (jobs finished before sentences were timed: one per turn,
from ``turn_timings``, pause markers left out: synthesis.pauses), and cuts every cue to at most ``MAX_LINES`` lines of
``MAX_LINE_CHARS`` characters: a longer sentence becomes several cues, cut at
clause punctuation where it can be (, ; : — and CJK ，、；：), else between
words (between any two CJK characters: they need no spaces), and its time is
shared between them by their number of characters. CJK text counts
characters, like any other: a CJK character is one of the 42.

Speakers: WebVTT names the voice of every cue (``<v Alice>``); SRT has no
voice markup, so the first cue of each turn starts with ``Alice: `` (counted
in its first line) and the cues that continue the turn carry no name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import regex

from synthesis.language import isolate_if_rtl
from synthesis.pauses import strip_pauses

MAX_LINE_CHARS = 42
MAX_LINES = 2


@dataclass
class Cue:
    speaker: str
    text: str
    start_ms: int
    end_ms: int
    # Whether this cue starts its turn (SRT names the speaker there only).
    opens_turn: bool = True
    # The text laid out: at most MAX_LINES lines.
    lines: list[str] = field(default_factory=list)
    # The first line starts with "speaker:" (SRT's name_first).
    named: bool = False


def cues(
    input_turns: list[dict],
    timed_turns: list[dict],
    timed_sentences: list[dict] | None = None,
    *,
    name_first: bool = False,
) -> list[Cue]:
    """The timed items (sentences if any, else turns) as cues, in order;
    ``name_first`` for SRT (see the module's doc)."""
    by_index = {turn["index"]: turn for turn in input_turns}
    items = []
    if timed_sentences:
        for timed in timed_sentences:
            turn = by_index.get(timed["turn_index"], {})
            items.append(
                Cue(
                    turn.get("speaker", ""),
                    timed.get("text", ""),
                    int(timed["start_ms"]),
                    int(timed["end_ms"]),
                    opens_turn=timed.get("sentence_index", 0) == 0,
                )
            )
    else:
        for timed in timed_turns:
            # The speaker comes from the input: `speaker` in the timings is our
            # extension of the original contract's {turn_index, start_ms, end_ms}.
            turn = by_index.get(timed["turn_index"], {})
            speaker = turn.get("speaker", timed.get("speaker", ""))
            # Pause markers are not said, so not shown; a turn that is only a
            # pause has no cue.
            text = strip_pauses(turn.get("text", ""))
            if not text and "text" in turn:
                continue
            items.append(Cue(speaker, text, int(timed["start_ms"]), int(timed["end_ms"])))
    items.sort(key=lambda c: c.start_ms)
    return [piece for item in items for piece in _cut(item, name_first)]


# --- cutting a sentence into cues of two lines --------------------------------

# Characters written without spaces between them, any two of which may be
# split across lines.
_UNSPACED = regex.compile(r"[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}ー々〆〇]")
# Punctuation that belongs to the character before it (never starts a line)…
_TRAILING = set("。！？；，、：」』）】〉》”’.,;:!?…)]}\"'»%")
# …and after which a cue or line is best cut.
_CLAUSE_END = set("，、；：。！？,;:!?—…")


def _units(text: str) -> list[tuple[str, bool]]:
    """The text as (unit, space before it): words, single CJK characters,
    punctuation stuck to the unit before it. A unit is never longer than a
    line (a longer word is cut)."""
    units: list[tuple[str, bool]] = []
    space = False
    for token in regex.findall(r"\s+|\S", text):
        if token.isspace():
            space = True
            continue
        unspaced = bool(_UNSPACED.match(token))
        previous = units[-1][0] if units else ""
        glue = (
            units
            and not space
            and (
                token in _TRAILING
                or (not unspaced and not _UNSPACED.match(previous[-1]) and previous[-1] not in _CLAUSE_END)
                or previous[-1] in "「『（【〈《“‘(["
            )
        )
        if glue and len(previous) < MAX_LINE_CHARS:
            units[-1] = (previous + token, units[-1][1])
        else:
            units.append((token, space and bool(units)))
        space = False
    return units


def _join(units: list[tuple[str, bool]]) -> str:
    return "".join((" " if space and n else "") + unit for n, (unit, space) in enumerate(units))


def _wrap(units: list[tuple[str, bool]]) -> list[list[tuple[str, bool]]]:
    """Greedy: as many units on each line as fit."""
    lines: list[list[tuple[str, bool]]] = [[]]
    for unit in units:
        if lines[-1] and len(_join([*lines[-1], unit])) > MAX_LINE_CHARS:
            lines.append([])
        lines[-1].append(unit)
    return lines


def _fits(units) -> bool:
    return len(_wrap(units)) <= MAX_LINES


def _clauses_fit(clauses) -> bool:
    """Whether these clauses make at most two lines, each line whole clauses."""
    atoms = [(_join(clause), clause[0][1]) for clause in clauses]
    return all(len(atom) <= MAX_LINE_CHARS for atom, _ in atoms) and _fits(atoms)


def _balanced_lines(units: list[tuple[str, bool]]) -> list[str]:
    """One line if it fits, else the two-line cut with the most even lines
    (after clause punctuation when that costs little)."""
    if len(_join(units)) <= MAX_LINE_CHARS:
        return [_join(units)]
    best = None
    for cut in range(1, len(units)):
        top, bottom = _join(units[:cut]), _join(units[cut:])
        if len(top) > MAX_LINE_CHARS or len(bottom) > MAX_LINE_CHARS:
            continue
        cost = abs(len(top) - len(bottom)) - (MAX_LINE_CHARS if top[-1] in _CLAUSE_END else 0)
        if best is None or cost < best[0]:
            best = (cost, [top, bottom])
    return best[1] if best else [_join(line) for line in _wrap(units)]


def _cut(item: Cue, name_first: bool) -> list[Cue]:
    """``item`` as cues of at most two lines; with ``name_first`` (SRT) a
    turn's first cue starts with the speaker's name, which then counts in
    its first line."""
    units = _units(_one_line(item.text))
    if not units:
        return [item]
    named = name_first and item.opens_turn and item.speaker
    if named:
        units = [(f"{_one_line(item.speaker)}:", False), (units[0][0], True), *units[1:]]
    # Clauses: runs of units ending at clause punctuation (the name is one).
    clauses, current = [], []
    for n, unit in enumerate(units):
        current.append(unit)
        if unit[0][-1] in _CLAUSE_END and not (named and n == 0):
            clauses.append(current)
            current = []
    if current:
        clauses.append(current)
    # Whole clauses share a cue while each line can end at a clause's end; a
    # clause too long for that has a cue to itself, cut between words if it
    # needs more than one.
    groups: list[list[tuple[str, bool]]] = []
    group: list[list[tuple[str, bool]]] = []
    for clause in clauses:
        if _clauses_fit([*group, clause]):
            group.append(clause)
            continue
        if group:
            groups.append([unit for c in group for unit in c])
            group = []
        if _clauses_fit([clause]) or _fits(clause):
            group = [clause]
            continue
        units_group: list[tuple[str, bool]] = []
        for unit in clause:
            if units_group and not _fits([*units_group, unit]):
                groups.append(units_group)
                units_group = []
            units_group.append(unit)
        group = [units_group]
    if group:
        groups.append([unit for c in group for unit in c])
    # The cue's time is shared by characters of text (the name takes none).
    lengths = [len(_join(g)) for g in groups]
    if named:
        lengths[0] -= len(units[0][0]) + 1
    total = sum(lengths) or 1
    pieces, elapsed = [], 0
    span = item.end_ms - item.start_ms
    for n, (group, length) in enumerate(zip(groups, lengths)):
        start = item.start_ms + round(span * elapsed / total)
        elapsed += length
        end = item.start_ms + round(span * elapsed / total) if n + 1 < len(groups) else item.end_ms
        pieces.append(
            Cue(
                item.speaker,
                _join(group),
                start,
                end,
                opens_turn=item.opens_turn and n == 0,
                lines=_balanced_lines(group),
                named=bool(named) and n == 0,
            )
        )
    return pieces


# --- the two formats ----------------------------------------------------------


def _timestamp(ms: int, separator: str) -> str:
    ms = max(0, int(ms))
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


def _one_line(text: str) -> str:
    # A blank line ends a cue in both formats, and "-->" would read as a
    # timing line: neither may appear inside the text.
    return " ".join(text.split()).replace("-->", "->")


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_webvtt(cue_list: list[Cue]) -> str:
    blocks = ["WEBVTT"]
    for number, cue in enumerate(cue_list, 1):
        # <v Speaker> names the voice; the annotation ends at ">", so a name
        # cannot carry one.
        speaker = _vtt_escape(_one_line(cue.speaker))
        # Right-to-left text isolated (FSI…PDI): it keeps its punctuation on
        # its own side whatever the player's base direction.
        lines = "\n".join(isolate_if_rtl(_vtt_escape(line)) for line in cue.lines or [_one_line(cue.text)])
        blocks.append(
            f"{number}\n{_timestamp(cue.start_ms, '.')} --> {_timestamp(cue.end_ms, '.')}\n<v {speaker}>{lines}"
        )
    return "\n\n".join(blocks) + "\n"


# SRT has no escaping, yet players read HTML-like tags in it (<i>, <font
# color=…>, and worse in a web player) and libass-based ones read "{\an8}"
# override codes. Plain text only: the look-alikes keep the words readable.
SRT_MARKUP = str.maketrans({"<": "‹", ">": "›", "{": "(", "}": ")"})


def _srt_text(text: str) -> str:
    return _one_line(text).translate(SRT_MARKUP)


def to_srt(cue_list: list[Cue]) -> str:
    """``cue_list`` from ``cues(..., name_first=True)``: the name is in the text."""
    blocks = []
    for number, cue in enumerate(cue_list, 1):
        lines = [isolate_if_rtl(_srt_text(line)) for line in cue.lines or [_one_line(cue.text)]]
        if cue.named:
            # The name and the words isolated apart, as two runs of text.
            name = _one_line(cue.speaker)
            rest = cue.lines[0][len(name) + 1 :].lstrip()
            lines[0] = f"{isolate_if_rtl(_srt_text(name))}:" + (f" {isolate_if_rtl(_srt_text(rest))}" if rest else "")
        text = "\n".join(lines)
        blocks.append(f"{number}\n{_timestamp(cue.start_ms, ',')} --> {_timestamp(cue.end_ms, ',')}\n{text}")
    return "\n\n".join(blocks) + "\n"

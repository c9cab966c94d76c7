"""WebVTT and SRT subtitles from a finished job's per-turn timings.

Plain functions: ``cues`` pairs each timed turn (``Job.turn_timings``:
turn_index, speaker, start_ms, end_ms) with its text and speaker from the
job's input, without its pause markers (synthesis.pauses).
"""

from __future__ import annotations

from dataclasses import dataclass

from synthesis.language import isolate_if_rtl
from synthesis.pauses import strip_pauses


@dataclass
class Cue:
    speaker: str
    text: str
    start_ms: int
    end_ms: int


def cues(input_turns: list[dict], timed_turns: list[dict]) -> list[Cue]:
    by_index = {turn["index"]: turn for turn in input_turns}
    cue_list = []
    for timed in sorted(timed_turns, key=lambda t: t["start_ms"]):
        # The speaker comes from the input: `speaker` in the timings is our
        # extension of the original contract's {turn_index, start_ms, end_ms}.
        turn = by_index.get(timed["turn_index"], {})
        speaker = turn.get("speaker", timed.get("speaker", ""))
        # Pause markers are not said, so not shown; a turn that is only a
        # pause has no cue.
        text = strip_pauses(turn.get("text", ""))
        if not text and "text" in turn:
            continue
        cue_list.append(Cue(speaker, text, int(timed["start_ms"]), int(timed["end_ms"])))
    return cue_list


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
        blocks.append(
            f"{number}\n{_timestamp(cue.start_ms, '.')} --> {_timestamp(cue.end_ms, '.')}\n"
            f"<v {speaker}>{isolate_if_rtl(_vtt_escape(_one_line(cue.text)))}"
        )
    return "\n\n".join(blocks) + "\n"


# SRT has no escaping, yet players read HTML-like tags in it (<i>, <font
# color=…>, and worse in a web player) and libass-based ones read "{\an8}"
# override codes. Plain text only: the look-alikes keep the words readable.
SRT_MARKUP = str.maketrans({"<": "‹", ">": "›", "{": "(", "}": ")"})


def _srt_text(text: str) -> str:
    return _one_line(text).translate(SRT_MARKUP)


def to_srt(cue_list: list[Cue]) -> str:
    blocks = [
        f"{number}\n{_timestamp(cue.start_ms, ',')} --> {_timestamp(cue.end_ms, ',')}\n"
        f"{isolate_if_rtl(_srt_text(cue.speaker))}: {isolate_if_rtl(_srt_text(cue.text))}"
        for number, cue in enumerate(cue_list, 1)
    ]
    return "\n\n".join(blocks) + "\n"

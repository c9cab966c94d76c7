"""Dialogue scripts as people type them, turned into turns and back.

A script is lines of ``Speaker: text``. A line without a speaker continues the
previous turn; blank lines are ignored. Plain Python, no Django: the page's
form uses it, and its rules (length limits, empty text) stay in
``synthesis.validation`` so the pages and the API judge a job the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A speaker name opens the line: a letter first, then letters, digits, spaces
# and the punctuation names use ("Dr. Who", "O'Neil", "Guard-2"), at most three
# words. The limits keep "and then he said: hello" or "10:30" inside a turn
# instead of making up speakers, and "http://" is never a name.
SPEAKER_LINE = re.compile(
    r"""^\s*
    (?P<speaker>[^\W\d_][\w.'’()\-]*(?:[ \t]+[\w.'’()\-]+){0,2}?)
    [ \t]*:(?!//)
    [ \t]*(?P<text>.*)$""",
    re.VERBOSE,
)
MAX_SPEAKER_CHARS = 50


@dataclass
class Turn:
    speaker: str
    text: str
    line: int  # 1-based line of the script where the turn starts

    def as_request(self, index: int) -> dict:
        return {"speaker": self.speaker, "text": self.text, "index": index}


class ScriptError(ValueError):
    def __init__(self, line: int, message: str):
        super().__init__(f"Line {line}: {message}")
        self.line = line
        self.message = message


def parse_script(text: str) -> list[Turn]:
    """The turns of ``text`` in order. Raises ScriptError when text comes
    before the first speaker, since nobody would say it."""
    turns: list[Turn] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = SPEAKER_LINE.match(line)
        if match and len(match["speaker"]) <= MAX_SPEAKER_CHARS:
            turns.append(Turn(match["speaker"].strip(), match["text"].strip(), number))
        elif turns:
            turns[-1].text = f"{turns[-1].text} {line.strip()}".strip()
        else:
            raise ScriptError(number, "Start with a speaker's name and a colon, like “Alice: Hello.”")
    return turns


def speakers_of(turns) -> list[str]:
    """Speakers in order of first appearance, each once."""
    return list(dict.fromkeys(turn.speaker if isinstance(turn, Turn) else turn["speaker"] for turn in turns))


def format_script(turns: list[dict]) -> str:
    """The script text of request turns (``{"speaker", "text"}``): the
    inverse of parse_script, to start a new dialogue from an old one."""
    return "\n".join(f"{turn['speaker']}: {turn['text']}" for turn in turns)

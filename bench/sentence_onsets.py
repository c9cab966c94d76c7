"""How close sentence cues start to the speech they caption (issue 14, item 4).

Synthesizes a multi-language dialogue with the real eSpeak NG engine, times
each turn's sentences two ways — from eSpeak's own word events (what jobs
use with eSpeak) and from the pauses alone (what jobs use with engines that
report nothing: OpenAI-compatible servers, Azure, Piper) — renders the
dialogue exactly as a job does (render_dialogue: common rate, loudness, gap,
crossfade; WAV, and MP3 for the encoder's delay), decodes the file and finds,
by energy, the start of the speech each cue captions (tests/onsets.py).
Prints the distribution of the error (cue start minus speech start: positive
= the cue shows early) as JSON.

    .venv/bin/python bench/sentence_onsets.py [--format mp3] [--gap-ms 300] [--crossfade-ms 50]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from synthesis.audio import Audio, decode, render_dialogue  # noqa: E402
from synthesis.providers.espeak import EspeakProvider  # noqa: E402
from synthesis.sentences import sentence_offsets  # noqa: E402
from synthesis.speakable import speakable  # noqa: E402
from tests.onsets import onset_error_ms, speech_frames  # noqa: E402

TURNS = [
    ("en-us+f3", "Good morning, everyone. Thank you for coming today! We have a lot to cover. Shall we begin?"),
    ("en-gb+m3", "Of course. First, the budget. It went up by twelve percent this year, mostly because of travel."),
    ("cmn", "大家好。今天的天氣很好！我們先討論預算，然後再談旅行的計劃。有問題嗎？"),
    ("fr-fr+f2", "Bonjour à tous. Le projet avance bien. Nous aurons les résultats la semaine prochaine."),
    ("de+m3", "Guten Tag. Ich habe eine Frage zum Zeitplan. Wann beginnt die zweite Phase?"),
    ("es+f4", "Hola. La segunda fase empieza en marzo. ¿Alguna otra pregunta? Perfecto, gracias."),
    ("en-us", "Dr. Smith will send the report. It is long, detailed, and rather dry! Read it anyway."),
    ("cmn+f3", "好的。我明白了。謝謝大家，我們下次見！"),
    ("en-us+f3", "One more thing. The office will be closed on Friday. Enjoy the long weekend."),
    ("yue", "多謝晒。我哋下個禮拜再傾。"),
]


def stats(values: list[float]) -> dict:
    array = np.array(values, dtype=float)
    absolute = np.abs(array)
    return {
        "cues": len(values),
        "median_abs_ms": round(float(np.median(absolute)), 1),
        "p90_abs_ms": round(float(np.percentile(absolute, 90)), 1),
        "p95_abs_ms": round(float(np.percentile(absolute, 95)), 1),
        "max_abs_ms": round(float(absolute.max()), 1),
        "mean_signed_ms": round(float(array.mean()), 1),
        "within_100_ms": int((absolute <= 100).sum()),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--format", default="wav", choices=["wav", "mp3", "ogg", "flac"])
    parser.add_argument("--gap-ms", type=int, default=300)
    parser.add_argument("--crossfade-ms", type=int, default=50)
    args = parser.parse_args()

    provider = EspeakProvider()
    pieces, by_events, by_pauses = [], [], []
    for voice, text in TURNS:
        spoken = speakable(text)
        audio = provider.synthesize(spoken, voice)
        pieces.append(audio)
        by_events.append(sentence_offsets(spoken, audio))
        by_pauses.append(sentence_offsets(spoken, Audio(audio.samples, audio.sample_rate)))
    out = io.BytesIO()
    timings = render_dialogue(
        [lambda a=a: Audio(a.samples.copy(), a.sample_rate) for a in pieces],
        out,
        fmt=args.format,
        gap_ms=args.gap_ms,
        crossfade_ms=args.crossfade_ms,
        sample_rate=22050,
    )
    rendered = decode(out.getvalue())
    speech = speech_frames(rendered.samples, rendered.sample_rate)
    report = {"format": args.format, "gap_ms": args.gap_ms, "crossfade_ms": args.crossfade_ms}
    for name, offsets in (("espeak_word_events", by_events), ("pauses_only", by_pauses)):
        errors = []
        for (turn_start, _), turn_offsets in zip(timings, offsets):
            for start, end in turn_offsets:
                error = onset_error_ms(speech, turn_start + start, turn_start + end)
                errors.append(float("inf") if error is None else error)
        report[name] = stats(errors) | {"errors_ms": [round(e) for e in errors]}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

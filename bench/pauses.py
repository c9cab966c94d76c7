"""Pauses inside a line: the silence measured in the rendered file, per output
format and near-silence threshold; prints JSON.

    .venv/bin/python bench/pauses.py

Each dialogue is Alice / the paused line / Alice, with the job defaults
(gap 300 ms, crossfade 50 ms). The paused turn is cut and spoken as the
worker does (synthesis.pauses.spoken_pieces, the real eSpeak engine, one call
per piece, join_with_pauses), the dialogue rendered with
synthesis.audio.render_dialogue (loudness normalisation, gap, crossfades,
encoding), decoded again, and in the paused turn's span (its timings) the
longest run of samples below the threshold is measured: the silence from the
end of the speech before the marker to the start of the speech after it.
Speech is normalised to -20 dBFS RMS, so -50 dBFS is 30 dB below it.
"""

import io
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ttsjobs.settings")

import django

django.setup()

from synthesis.audio import decode, render_dialogue  # noqa: E402
from synthesis.pauses import join_with_pauses, spoken_pieces  # noqa: E402
from synthesis.pipeline import _speakable_or_none  # noqa: E402
from synthesis.providers.espeak import EspeakProvider  # noqa: E402

LINES = [
    ("Good morning everyone. [pause 800ms] Let us begin.", "en-us", 800),
    ("你好，各位。[停頓 0.8秒]我們開始吧。", "cmn", 800),
    ("Stop [pause 1.5s] right there.", "en-us+m3", 1500),
]
FORMATS = ("wav", "flac", "mp3", "ogg")
THRESHOLDS_DBFS = (-40, -50, -60)


def longest_quiet_ms(samples, rate, dbfs):
    quiet = np.concatenate([[False], np.abs(samples) < 10 ** (dbfs / 20), [False]])
    edges = np.flatnonzero(np.diff(quiet.astype(np.int8)))
    return round(1000 * int((edges[1::2] - edges[::2]).max()) / rate, 1)


def turn_audio(provider, text, voice):
    pieces = spoken_pieces(text, _speakable_or_none)
    spoken = [(provider.synthesize(words, voice) if words else None, ms) for words, ms in pieces]
    audio, _ = join_with_pauses(spoken, 22050)
    return audio


def main():
    provider = EspeakProvider()
    results = []
    for text, voice, written in LINES:
        turns = [turn_audio(provider, "Hello there.", "en-us+f3"), turn_audio(provider, text, voice)]
        turns.append(turn_audio(provider, "Bye.", "en-us+f3"))
        for fmt in FORMATS:
            out = io.BytesIO()
            timings = render_dialogue(
                [lambda t=t: type(t)(t.samples.copy(), t.sample_rate) for t in turns],
                out,
                fmt=fmt,
                gap_ms=300,
                crossfade_ms=50,
                sample_rate=22050,
            )
            audio = decode(out.getvalue())
            rate = audio.sample_rate
            start, end = timings[1]
            span = audio.samples[round(start * rate / 1000) : round(end * rate / 1000)]
            measured = {f"{dbfs} dBFS": longest_quiet_ms(span, rate, dbfs) for dbfs in THRESHOLDS_DBFS}
            results.append({"text": text, "format": fmt, "written_ms": written, "measured_ms": measured})
    print(json.dumps(results, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()

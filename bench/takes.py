"""Whether a local engine's takes of one line differ: what decides if the job
page offers "regenerate this line" (synthesis.providers.base.Provider.deterministic).

    DEBUG=1 .venv/bin/python bench/takes.py [--takes 8]

Synthesizes the same lines with the same voice ``--takes`` times per engine
(eSpeak NG, and Piper when installed) in this process and prints JSON per
engine and line: the length of each take in samples, how many takes are
byte-identical, and the spread of their durations in ms. Asserts nothing.
"""

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ttsjobs.settings")

import django

django.setup()

from synthesis.providers.espeak import EspeakProvider  # noqa: E402
from synthesis.providers.piper import PiperProvider  # noqa: E402

LINES = ["Good morning, both of you.", "Hello there, this is a test of the same line, spoken again."]


def takes_of(provider, voice: str, text: str, count: int) -> dict:
    takes = [provider.synthesize(text, voice) for _ in range(count)]
    lengths = [len(t.samples) for t in takes]
    rate = takes[0].sample_rate
    return {
        "voice": voice,
        "text": text,
        "lengths": lengths,
        "distinct_takes": len({t.samples.tobytes() for t in takes}),
        "duration_spread_ms": round(1000 * (max(lengths) - min(lengths)) / rate, 1),
        "duration_ms": round(1000 * sum(lengths) / len(lengths) / rate),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--takes", type=int, default=8)
    args = parser.parse_args()
    engines = [("espeak", EspeakProvider(), ["en-us", "en-us+f3", "cmn"])]
    piper = PiperProvider()
    if piper.is_available():
        engines.append(("piper", piper, sorted(piper.voice_ids())[:1]))
    report = {
        name: [takes_of(provider, voice, text, args.takes) for voice in voices for text in LINES]
        for name, provider, voices in engines
    }
    print(json.dumps(report, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()

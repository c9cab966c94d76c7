"""How long assemble_dialogue takes as dialogues grow; prints JSON.

    .venv/bin/python bench/assembly.py [turns ...]

Each turn is 2 s of noise-like speech at 22.05 kHz (every fifth at 24 kHz, so
resampling is in the measurement), 300 ms gap, 20 ms crossfade. Time per turn
should stay flat: assembly is linear in the dialogue's length.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from synthesis.audio import Audio, assemble_dialogue


def make_turns(count, seconds=2.0):
    rng = np.random.default_rng(0)
    turns = []
    for i in range(count):
        rate = 24000 if i % 5 == 4 else 22050
        samples = (rng.standard_normal(int(seconds * rate)) * (0.02 + 0.2 * (i % 3))).astype(np.float32)
        turns.append(Audio(samples, rate))
    return turns


def main(counts):
    results = []
    for count in counts:
        turns = make_turns(count)
        started = time.perf_counter()
        audio, _timings = assemble_dialogue(turns, gap_ms=300, crossfade_ms=20)
        elapsed = time.perf_counter() - started
        results.append({
            "turns": count,
            "audio_seconds": round(audio.duration_ms / 1000, 1),
            "assembly_seconds": round(elapsed, 3),
            "ms_per_turn": round(1000 * elapsed / count, 3),
        })  # fmt: skip
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [10, 100, 1000])

"""How far a timed cue is from the speech it captions, measured in audio.

Used by tests/test_sentences.py and bench/sentence_onsets.py to check sentence timings
against the rendered file, independently of how they were computed: speech
is found by energy in the decoded output, not from any engine data.
Plain numpy, no Django (test code, not the app's).
"""

from __future__ import annotations

import numpy as np

FRAME_MS = 5
# A frame is speech when its peak is within this of the file's loudest frame.
BELOW_PEAK_DB = 35.0
# Quiet shorter than this inside speech (a stop consonant) does not end it.
BRIDGE_MS = 60


def speech_frames(samples: np.ndarray, rate: int) -> np.ndarray:
    # Frame k is exactly [k, k + 1) × FRAME_MS: a whole number of samples per
    # frame would drift (110 samples at 22.05 kHz is 4.99 ms).
    samples = np.abs(np.asarray(samples, dtype=np.float32))
    count = int(len(samples) * 1000 // (rate * FRAME_MS))
    bounds = np.round(np.arange(count) * rate * FRAME_MS / 1000).astype(np.int64)
    peaks = np.maximum.reduceat(samples[: round(count * rate * FRAME_MS / 1000)], bounds)
    return peaks >= peaks.max() * 10 ** (-BELOW_PEAK_DB / 20)


def onset_error_ms(speech: np.ndarray, cue_start_ms: float, cue_end_ms: float) -> float | None:
    """Signed distance from the cue's start to the start of the speech it
    captions: the first speech at or after the cue's start, followed back to
    where that stretch of speech began (bridging gaps under BRIDGE_MS). Positive:
    the cue shows before its speech; negative: the speech had started already.
    None when the cue has no speech at all."""
    first = int(cue_start_ms // FRAME_MS)
    last = min(len(speech), int(cue_end_ms // FRAME_MS) + 1)
    loud = np.flatnonzero(speech[first:last])
    if not loud.size:
        return None
    onset = first + int(loud[0])
    bridge = BRIDGE_MS // FRAME_MS
    while onset > 0:
        before = speech[max(0, onset - bridge) : onset]
        hits = np.flatnonzero(before)
        if not hits.size:
            break
        onset = max(0, onset - bridge) + int(hits[0])
        # walk to the start of that loud run
        while onset > 0 and speech[onset - 1]:
            onset -= 1
    return onset * FRAME_MS - cue_start_ms

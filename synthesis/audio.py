"""Mixing and encoding of synthesized speech: plain functions on numpy arrays.

Samples are mono float32 in [-1, 1]. ``Audio`` is the value type every layer
passes around (providers return it, the pipeline assembles it); it lives here,
at the bottom of the import graph, so providers depend on audio and not the
other way round.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import soxr


@dataclass
class Audio:
    """Mono float32 samples in [-1, 1] at ``sample_rate``."""

    samples: np.ndarray
    sample_rate: int

    @property
    def duration_ms(self) -> float:
        return 1000.0 * len(self.samples) / self.sample_rate

    def at_rate(self, rate: int) -> Audio:
        """The same audio at ``rate`` (itself when it already is)."""
        if self.sample_rate == rate:
            return self
        return Audio(resample(self.samples, self.sample_rate, rate), rate)


OUTPUT_FORMATS = {"mp3": "audio/mpeg", "wav": "audio/wav", "ogg": "audio/ogg", "flac": "audio/flac"}

# soundfile (format, subtype) per output format. The bundled libsndfile writes
# all four and reads them back with the exact sample count.
_SOUNDFILE_FORMATS = {
    "mp3": ("MP3", "MPEG_LAYER_III"),
    "wav": ("WAV", "PCM_16"),
    "ogg": ("OGG", "VORBIS"),
    "flac": ("FLAC", "PCM_16"),
}

# Peaks are held 1 dB below full scale: lossy encoders overshoot a little, and
# a sample at exactly 1.0 clips as soon as MP3/Vorbis decoding adds ringing.
PEAK_CEILING = 10 ** (-1.0 / 20)

# Loudness is measured over blocks, ignoring the pauses between words:
# otherwise a turn with long silences would be pushed louder than its speech.
_LOUDNESS_BLOCK = 512  # samples (23 ms at 22.05 kHz)
_ABSOLUTE_GATE_DBFS = -70.0
_RELATIVE_GATE_DB = 30.0
_LIMITER_BLOCK = 256


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    samples = np.asarray(samples, dtype=np.float32)
    if from_rate == to_rate or samples.size == 0:
        return samples
    return soxr.resample(samples, from_rate, to_rate).astype(np.float32, copy=False)


def loudness_dbfs(samples: np.ndarray) -> float | None:
    """RMS level in dBFS of the blocks that aren't near-silence, or None if
    it is all silence."""
    samples = np.asarray(samples, dtype=np.float32)
    if not samples.size:
        return None
    blocks = -(-len(samples) // _LOUDNESS_BLOCK)
    padded = np.zeros(blocks * _LOUDNESS_BLOCK, dtype=np.float64)
    padded[: len(samples)] = samples
    counts = np.full(blocks, _LOUDNESS_BLOCK)
    counts[-1] = len(samples) - (blocks - 1) * _LOUDNESS_BLOCK
    energy = np.square(padded).reshape(blocks, _LOUDNESS_BLOCK).sum(axis=1) / counts
    # Gate like broadcast loudness meters do: an absolute floor, and anything far
    # below the loudest block (pauses, breaths, reverb tails) doesn't count.
    if energy.max() < 10 ** (_ABSOLUTE_GATE_DBFS / 10):
        return None
    active = energy[energy >= energy.max() * 10 ** (-_RELATIVE_GATE_DB / 10)]
    return 10 * float(np.log10(active.mean()))


def normalize_loudness(samples: np.ndarray, target_dbfs: float = -20.0) -> np.ndarray:
    """Scale to ``target_dbfs`` RMS over the non-silent parts, then limit peaks
    to ``PEAK_CEILING`` so nothing clips. Silence is returned unchanged."""
    samples = np.asarray(samples, dtype=np.float32)
    level = loudness_dbfs(samples)
    if level is None:
        return samples.copy()
    gained = samples * np.float32(10 ** ((target_dbfs - level) / 20))
    return _limit_peaks(gained)


def _limit_peaks(samples: np.ndarray) -> np.ndarray:
    """A gain envelope that is smooth (linear between block centres) and never
    lets a sample past the ceiling, instead of hard clipping or turning the whole
    turn down for one spike (which would undo the loudness matching).

    Each block's gain is the minimum needed by itself and its two neighbours, so
    the interpolated gain anywhere in a block is at most what that block needs.
    """
    n = len(samples)
    if n == 0 or np.abs(samples).max() <= PEAK_CEILING:
        return samples
    blocks = -(-n // _LIMITER_BLOCK)
    padded = np.zeros(blocks * _LIMITER_BLOCK, dtype=np.float32)
    padded[:n] = np.abs(samples)
    peaks = padded.reshape(blocks, _LIMITER_BLOCK).max(axis=1)
    needed = np.minimum(1.0, PEAK_CEILING / np.maximum(peaks, 1e-12))
    safe = needed.copy()
    safe[1:] = np.minimum(safe[1:], needed[:-1])
    safe[:-1] = np.minimum(safe[:-1], needed[1:])
    centres = np.arange(blocks) * _LIMITER_BLOCK + (_LIMITER_BLOCK - 1) / 2
    gain = np.interp(np.arange(n), centres, safe).astype(np.float32)
    # float32 rounding could leave a sample a hair above the ceiling.
    return np.clip(samples * gain, -PEAK_CEILING, PEAK_CEILING)


def assemble_dialogue(
    turns: list[Audio], gap_ms: int, crossfade_ms: int, sample_rate: int | None = None
) -> tuple[Audio, list[tuple[float, float]]]:
    """Join the turns into one track and say where each turn ended up.

    The track is the sequence of segments turn, silence (``gap_ms``), turn,
    silence, ..., turn (no silence segments when ``gap_ms`` is 0). At every join
    the next segment starts ``crossfade_ms`` before the previous one ends, and
    over that overlap the previous segment fades out linearly while the next
    fades in. A join's crossfade is cut to half the shorter of its two segments,
    so a segment's fade-in and fade-out never overlap. With a gap, the fades eat
    into the silence: the quiet between two turns is ``gap - 2 × crossfade``.
    Linear fades sum to exactly 1, so an overlap can't exceed the louder side.

    Every turn is resampled to the common rate (``sample_rate``, else the
    highest input rate) and loudness-normalized. Timings are
    ``(start_ms, end_ms)`` of each turn's first sample and one past its last,
    computed from the same integer sample offsets used to place it, so they
    can't drift. Work and memory are linear in the dialogue's length: offsets
    are computed first and the output is allocated once.
    """
    if not turns:
        raise ValueError("assemble_dialogue needs at least one turn")
    rate = sample_rate or max(t.sample_rate for t in turns)
    voiced = [normalize_loudness(resample(t.samples, t.sample_rate, rate)) for t in turns]

    gap = round(gap_ms * rate / 1000)
    crossfade = round(crossfade_ms * rate / 1000)
    if gap < 0 or crossfade < 0:
        raise ValueError("gap_ms and crossfade_ms can't be negative")

    # Segment lengths in order; silence segments are only lengths (they add nothing).
    lengths = []
    for i, samples in enumerate(voiced):
        if i and gap:
            lengths.append(gap)
        lengths.append(len(samples))
    overlaps = [min(crossfade, a // 2, b // 2) for a, b in zip(lengths, lengths[1:])]
    starts = [0]
    for length, overlap in zip(lengths, overlaps):
        starts.append(starts[-1] + length - overlap)
    total = starts[-1] + lengths[-1]

    out = np.zeros(total, dtype=np.float32)
    timings = []
    step = 2 if gap else 1  # segment index of turn i is i * step
    for i, samples in enumerate(voiced):
        seg = i * step
        start = starts[seg]
        fade_in = overlaps[seg - 1] if seg else 0
        fade_out = overlaps[seg] if seg < len(overlaps) else 0
        piece = samples.copy()
        if fade_in:
            piece[:fade_in] *= _ramp(fade_in)
        if fade_out:
            piece[len(piece) - fade_out :] *= _ramp(fade_out)[::-1]
        out[start : start + len(piece)] += piece
        timings.append((1000.0 * start / rate, 1000.0 * (start + len(piece)) / rate))
    return Audio(out, rate), timings


def _ramp(length: int) -> np.ndarray:
    # Mid-sample points: the fade-in and its mirror image sum to exactly 1.
    return ((np.arange(length, dtype=np.float32) + 0.5) / length).astype(np.float32)


def encode(audio: Audio, fmt: str = "mp3") -> bytes:
    if fmt not in _SOUNDFILE_FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; expected one of {', '.join(OUTPUT_FORMATS)}")
    container, subtype = _SOUNDFILE_FORMATS[fmt]
    buffer = io.BytesIO()
    samples = np.clip(np.asarray(audio.samples, dtype=np.float32), -1.0, 1.0)
    sf.write(buffer, samples, audio.sample_rate, format=container, subtype=subtype)
    return buffer.getvalue()


def decode(data: bytes) -> Audio:
    samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return Audio(samples.mean(axis=1).astype(np.float32, copy=False), rate)

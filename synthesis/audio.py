"""Mixing and encoding of synthesized speech: plain functions on numpy arrays.

Samples are mono float32 in [-1, 1]. ``Audio`` is the value type every layer
passes around (providers return it, the pipeline assembles it); it lives here,
at the bottom of the import graph, so providers depend on audio and not the
other way round.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import soundfile as sf
import soxr

from synthesis import mp3


@dataclass
class Audio:
    """Mono float32 samples in [-1, 1] at ``sample_rate``.

    ``marks``: where the engine said its words began, when it says so
    (eSpeak's word events, ElevenLabs' character alignment): pairs of
    (character index in the text the engine was given, ms from the first
    sample). Empty when the engine reports nothing; synthesis.sentences then
    times the sentences from the pauses."""

    samples: np.ndarray
    sample_rate: int
    marks: list[tuple[int, float]] = field(default_factory=list)

    @property
    def duration_ms(self) -> float:
        return 1000.0 * len(self.samples) / self.sample_rate

    def at_rate(self, rate: int) -> Audio:
        """The same audio at ``rate`` (itself when it already is)."""
        if self.sample_rate == rate:
            return self
        return Audio(resample(self.samples, self.sample_rate, rate), rate, self.marks)


OUTPUT_FORMATS = {"mp3": "audio/mpeg", "wav": "audio/wav", "ogg": "audio/ogg", "flac": "audio/flac"}

# soundfile (format, subtype) per output format. The bundled libsndfile writes
# all four and reads them back with the exact sample count (MP3 is written
# with LAME directly, with the same settings: see mp3.py).
_SOUNDFILE_FORMATS = {
    "mp3": ("MP3", "MPEG_LAYER_III"),
    "wav": ("WAV", "PCM_16"),
    "ogg": ("OGG", "VORBIS"),
    "flac": ("FLAC", "PCM_16"),
    # Not offered to users: headerless float32, the exact samples (tests, benchmarks).
    "f32": ("RAW", "FLOAT"),
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
# Long turns are measured and limited this many loudness blocks at a time
# (2^20 samples, 48 s at 22.05 kHz): bounded temporaries, identical results.
_CHUNK_BLOCKS = 2048


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
    energy = _block_energy(samples)
    # Gate like broadcast loudness meters do: an absolute floor, and anything far
    # below the loudest block (pauses, breaths, reverb tails) doesn't count.
    if energy.max() < 10 ** (_ABSOLUTE_GATE_DBFS / 10):
        return None
    active = energy[energy >= energy.max() * 10 ** (-_RELATIVE_GATE_DB / 10)]
    return 10 * float(np.log10(active.mean()))


def _block_energy(samples: np.ndarray) -> np.ndarray:
    """Mean square of each ``_LOUDNESS_BLOCK`` (the last one may be short),
    computed a slice at a time: a whole 14-minute turn squared in float64
    would be twice its own size again in temporaries."""
    blocks = -(-len(samples) // _LOUDNESS_BLOCK)
    energy = np.empty(blocks, dtype=np.float64)
    for first in range(0, blocks, _CHUNK_BLOCKS):
        last = min(first + _CHUNK_BLOCKS, blocks)
        padded = np.zeros((last - first) * _LOUDNESS_BLOCK, dtype=np.float64)
        piece = samples[first * _LOUDNESS_BLOCK : last * _LOUDNESS_BLOCK]
        padded[: len(piece)] = piece
        energy[first:last] = np.square(padded).reshape(last - first, _LOUDNESS_BLOCK).sum(axis=1)
    counts = np.full(blocks, _LOUDNESS_BLOCK)
    counts[-1] = len(samples) - (blocks - 1) * _LOUDNESS_BLOCK
    return energy / counts


def normalize_loudness(samples: np.ndarray, target_dbfs: float = -20.0) -> np.ndarray:
    """Scale to ``target_dbfs`` RMS over the non-silent parts, then limit peaks
    to ``PEAK_CEILING`` so nothing clips. Silence is returned unchanged."""
    samples = np.array(samples, dtype=np.float32)  # a copy
    _normalize_in_place(samples, target_dbfs)
    return samples


def _normalize_in_place(samples: np.ndarray, target_dbfs: float = -20.0) -> None:
    level = loudness_dbfs(samples)
    if level is not None:
        samples *= np.float32(10 ** ((target_dbfs - level) / 20))
        _limit_peaks(samples)


def _limit_peaks(samples: np.ndarray) -> None:
    """Hold peaks at ``PEAK_CEILING``, in place, with a gain envelope that is
    smooth (linear between block centres), instead of hard clipping or turning
    the whole turn down for one spike (which would undo the loudness matching).

    Each block's gain is the minimum needed by itself and its two neighbours, so
    the interpolated gain anywhere in a block is at most what that block needs.
    The envelope is applied a slice at a time (it is float64 per sample).
    """
    n = len(samples)
    if n == 0 or max(samples.max(), -samples.min()) <= PEAK_CEILING:
        return
    blocks = -(-n // _LIMITER_BLOCK)
    peaks = np.empty(blocks, dtype=np.float32)
    step = _CHUNK_BLOCKS * _LOUDNESS_BLOCK // _LIMITER_BLOCK  # blocks per slice
    for first in range(0, blocks, step):
        last = min(first + step, blocks)
        padded = np.zeros((last - first) * _LIMITER_BLOCK, dtype=np.float32)
        piece = samples[first * _LIMITER_BLOCK : last * _LIMITER_BLOCK]
        np.abs(piece, out=padded[: len(piece)])
        peaks[first:last] = padded.reshape(last - first, _LIMITER_BLOCK).max(axis=1)
    needed = np.minimum(1.0, PEAK_CEILING / np.maximum(peaks, 1e-12))
    safe = needed.copy()
    safe[1:] = np.minimum(safe[1:], needed[:-1])
    safe[:-1] = np.minimum(safe[:-1], needed[1:])
    centres = np.arange(blocks) * _LIMITER_BLOCK + (_LIMITER_BLOCK - 1) / 2
    step = _CHUNK_BLOCKS * _LOUDNESS_BLOCK
    for first in range(0, n, step):
        piece = samples[first : first + step]
        gain = np.interp(np.arange(first, first + len(piece)), centres, safe).astype(np.float32)
        # float32 rounding could leave a sample a hair above the ceiling.
        np.clip(piece * gain, -PEAK_CEILING, PEAK_CEILING, out=piece)


# WSOLA time-stretching (for pitch shifts that keep the duration): 30 ms
# frames overlapping by half, each placed where it best continues the last.
_STRETCH_FRAME_S = 0.030
_STRETCH_TOLERANCE_S = 0.006
# Only this much of a frame is compared when looking for the best place: enough
# to lock onto a voice's period (down to 50 Hz), and it keeps long turns quick.
_STRETCH_MATCH_S = 0.012


def time_stretch(samples: np.ndarray, rate: int, factor: float) -> np.ndarray:
    """``samples`` made ``factor`` times as long without changing their pitch
    (WSOLA: overlap-added frames, each taken near where it should come from,
    at the offset that best continues the previous one, so periods line up)."""
    samples = np.asarray(samples, dtype=np.float32)
    if factor == 1.0 or samples.size == 0:
        return samples
    frame = max(2, int(_STRETCH_FRAME_S * rate)) // 2 * 2
    hop = frame // 2
    tolerance = int(_STRETCH_TOLERANCE_S * rate)
    match = min(frame, int(_STRETCH_MATCH_S * rate))
    window = np.hanning(frame + 1)[:frame].astype(np.float32)  # periodic: halves sum to 1
    length = max(1, round(len(samples) * factor))
    # Padded so every frame and every search window can be cut whole.
    padded = np.concatenate(
        [np.zeros(tolerance, np.float32), samples, np.zeros(frame * 2 + tolerance + hop, np.float32)]
    )
    out = np.zeros(length + frame, dtype=np.float32)
    previous = 0  # where (in ``samples``) the last frame was taken
    for k, at in enumerate(range(0, length, hop)):
        nominal = int(at / factor)
        if k == 0:
            start = nominal
        else:
            # The natural continuation of the previous frame, and the place
            # near ``nominal`` that resembles it most.
            template = padded[tolerance + previous + hop : tolerance + previous + hop + match]
            region = padded[nominal : nominal + 2 * tolerance + match]
            scores = np.correlate(region, template, mode="valid")
            start = nominal - tolerance + int(np.argmax(scores))
            start = max(0, start)
        out[at : at + frame] += padded[tolerance + start : tolerance + start + frame] * window
        previous = start
    return out[:length]


def shift_pitch(samples: np.ndarray, rate: int, semitones: float) -> np.ndarray:
    """``samples`` with every frequency moved by ``semitones``, the duration
    kept: stretched in time by the pitch ratio, then resampled back to the
    original length (so the formants move too, as with a tape played faster)."""
    samples = np.asarray(samples, dtype=np.float32)
    if not semitones or samples.size == 0:
        return samples
    ratio = 2.0 ** (semitones / 12.0)
    stretched = time_stretch(samples, rate, ratio)
    # Played ``ratio`` times faster: each period 1/ratio as long.
    shifted = soxr.resample(stretched, rate * ratio, rate).astype(np.float32, copy=False)
    return shifted


def apply_volume(samples: np.ndarray, volume: float) -> None:
    """Scale a (normalised) turn by ``volume``, in place. Above 1 its peaks
    can pass the ceiling again: the limiter holds them, so a loud turn is
    compressed a little rather than clipped."""
    if volume == 1.0:
        return
    samples *= np.float32(volume)
    if volume > 1.0:
        _limit_peaks(samples)


def assemble_dialogue(
    turns: list[Audio],
    gap_ms: int,
    crossfade_ms: int,
    sample_rate: int | None = None,
    volumes: Sequence[float] | None = None,
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
    highest input rate) and loudness-normalized, then scaled by its
    ``volumes`` entry (a speaker's volume setting; 1.0 when not given). Timings are
    ``(start_ms, end_ms)`` of each turn's first sample and one past its last,
    computed from the same integer sample offsets used to place it, so they
    can't drift. Work and memory are linear in the dialogue's length: offsets
    are computed first and the output is allocated once.
    """
    if not turns:
        raise ValueError("assemble_dialogue needs at least one turn")
    rate = sample_rate or max(t.sample_rate for t in turns)
    voiced = [normalize_loudness(resample(t.samples, t.sample_rate, rate)) for t in turns]
    for samples, volume in zip(voiced, volumes or ()):
        apply_volume(samples, volume)

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


def render_dialogue(
    turns: Sequence[Callable[[], Audio]],
    out: BinaryIO,
    *,
    fmt: str,
    gap_ms: int,
    crossfade_ms: int,
    sample_rate: int,
    volumes: Sequence[float] | None = None,
    on_progress: Callable[[str, float], None] | None = None,
    on_block: Callable[[np.ndarray], None] | None = None,
    pads: Mapping[int, int] | None = None,
) -> list[tuple[float, float]]:
    """Mix the turns exactly as ``assemble_dialogue`` does and encode the
    result into ``out`` (a writable, seekable binary file) as ``fmt``,
    streaming: memory holds one turn (plus the tail of the previous one that a
    crossfade still needs) and one block of output, whatever the length.

    Each of ``turns`` is called once, in order, and returns that turn's audio,
    which is then render_dialogue's: its samples are normalised in place (so a
    long turn is in memory once), so return a fresh array, not one you keep. Returns the turns' ``(start_ms, end_ms)``,
    equal to ``assemble_dialogue``'s for the same input, to the sample.
    ``volumes``: one gain per turn (its speaker's volume setting), applied
    after the loudness normalisation, so 0.5 is really 6 dB below the others.
    ``on_progress(phase, fraction)`` is called at least every
    ``PROGRESS_INTERVAL`` seconds of work, with fraction < 1 until the file is
    complete and 1.0 once it is. ``on_block(samples)`` sees each block of
    the mix, in order, as it goes to the encoder (the waveform's peaks are
    measured there instead of decoding the file again). ``pads``: samples
    of silence added to the gap before turn i (a re-render's, to keep the
    source's MP3 frames: synthesis.splice); only with a gap.
    """
    if not turns:
        raise ValueError("render_dialogue needs at least one turn")
    gap, crossfade = _gap_and_crossfade(gap_ms, crossfade_ms, sample_rate, pads)
    count = len(turns)
    progress = _Progress(on_progress, "encoding")
    timings = []
    with _open_encoder(out, fmt, sample_rate) as encoder:
        mixer = _Mixer(encoder if on_block is None else _tapped(encoder, on_block))
        # The previous turn's last samples, not yet faded out: how much fades
        # depends on the next segment's length. (start, samples, turn length)
        held = None
        for i, load in enumerate(turns):
            progress.at(i / count)
            turn = load()
            progress.beat()
            samples = resample(turn.samples, turn.sample_rate, sample_rate)
            del turn  # a resampled turn's original goes now
            if not samples.flags.writeable:
                samples = samples.copy()
            # In place: a 20-minute turn is 100 MB, and a copy would double it.
            _normalize_in_place(samples)
            # After the normalisation, which would otherwise undo it.
            if volumes is not None:
                apply_volume(samples, volumes[i])
            progress.beat()
            length = len(samples)
            if held is None:
                start = fade_in = 0
            else:
                held_start, tail, previous_length = held
                pad = pads.get(i, 0) if pads else 0
                fade_out, fade_in, advance = _join(previous_length, length, gap, crossfade, pad)
                # held_start + len(tail) is where the previous turn ends.
                start = held_start + len(tail) - previous_length + advance
                if fade_out:
                    tail[len(tail) - fade_out :] *= _ramp(fade_out)[::-1]
                mixer.add(held_start, tail)
            if fade_in:
                samples[:fade_in] *= _ramp(fade_in)
            # Hold back what the next join could fade: at most the crossfade,
            # and never more than half the turn (fade-in and fade-out never meet).
            keep = min(crossfade, length // 2) if i + 1 < count else 0
            body = length - keep
            mixer.add(start, samples[:body])
            held = (start + body, samples[body:].copy(), length)
            # Nothing will be added before the held tail: write everything up to it.
            mixer.flush(start + body, lambda done, i=i: progress.at((i + done) / count))
            del samples
            timings.append((1000.0 * start / sample_rate, 1000.0 * (start + length) / sample_rate))
        held_start, tail, _ = held
        mixer.add(held_start, tail)
        mixer.flush(held_start + len(tail), lambda _done: progress.beat())
        # Closing the encoder still writes (MP3 and Vorbis flush, headers are
        # patched): not 1.0 yet.
        progress.at(progress.ALMOST)
    progress.done()
    return timings


def _gap_and_crossfade(gap_ms: int, crossfade_ms: int, sample_rate: int, pads) -> tuple[int, int]:
    gap = round(gap_ms * sample_rate / 1000)
    crossfade = round(crossfade_ms * sample_rate / 1000)
    if gap < 0 or crossfade < 0:
        raise ValueError("gap_ms and crossfade_ms can't be negative")
    if pads and (not gap or min(pads.values()) < 0):
        raise ValueError("pads lengthen a gap: they need one, and can't be negative")
    return gap, crossfade


def _join(previous_length: int, length: int, gap: int, crossfade: int, pad: int = 0) -> tuple[int, int, int]:
    """How a turn follows the previous one: the previous turn's fade-out,
    this turn's fade-in, and how far after the previous turn's start this
    one starts. ``pad`` samples of silence are added to the gap without
    changing its fades, so the turns themselves are mixed the same."""
    if gap:
        # turn, silence, turn: two joins, each capped by its own pair.
        fade_out = min(crossfade, previous_length // 2, gap // 2)
        fade_in = min(crossfade, gap // 2, length // 2)
        return fade_out, fade_in, previous_length - fade_out + gap + pad - fade_in
    fade = min(crossfade, previous_length // 2, length // 2)
    return fade, fade, previous_length - fade


@dataclass(frozen=True)
class Place:
    """Where render_dialogue puts a turn: its first sample in the mix, its
    length, and how many samples at each end it fades."""

    start: int
    length: int
    fade_in: int
    fade_out: int

    @property
    def end(self) -> int:
        return self.start + self.length


def layout(
    lengths: Sequence[int], *, gap_ms: int, crossfade_ms: int, sample_rate: int, pads: Mapping[int, int] | None = None
) -> list[Place]:
    """Where render_dialogue places turns of these lengths (in samples at
    ``sample_rate``, after resampling), without their audio. The mix ends at
    the last turn's end; every sample that no turn covers is exactly 0."""
    gap, crossfade = _gap_and_crossfade(gap_ms, crossfade_ms, sample_rate, pads)
    places: list[Place] = []
    for i, length in enumerate(lengths):
        if not places:
            places.append(Place(0, length, 0, 0))
            continue
        previous = places[-1]
        fade_out, fade_in, advance = _join(previous.length, length, gap, crossfade, pads.get(i, 0) if pads else 0)
        places[-1] = Place(previous.start, previous.length, previous.fade_in, fade_out)
        places.append(Place(previous.start + advance, length, fade_in, 0))
    return places


def mix_span(
    turns: Sequence[Callable[[], Audio]],
    places: Sequence[Place],
    begin: int,
    end: int,
    write: Callable[[np.ndarray], None],
    *,
    sample_rate: int,
    volumes: Sequence[float] | None = None,
    on_progress: Callable[[], None] | None = None,
):
    """Write samples [begin, end) of the mix render_dialogue makes of these
    turns placed at ``places`` (``layout``'s), bit for bit the same (each
    turn normalised, scaled and faded the same way, the turns summed in the
    same order), in blocks as ``render_dialogue``'s ``on_block`` sees them
    (not yet clipped for the encoder). Only the turns that reach into the
    span are loaded, one at a time."""
    mixer = _Mixer(write)
    mixer.written = begin
    for i, (load, place) in enumerate(zip(turns, places)):
        if place.end <= begin or place.start >= end:
            continue
        mixer.flush(min(place.start, end), lambda _done: on_progress and on_progress())
        turn = load()
        samples = resample(turn.samples, turn.sample_rate, sample_rate)
        del turn
        if len(samples) != place.length:
            raise ValueError(f"turn {i} has {len(samples)} samples, not the {place.length} it was placed with")
        if not samples.flags.writeable:
            samples = samples.copy()
        _normalize_in_place(samples)
        if volumes is not None:
            apply_volume(samples, volumes[i])
        if place.fade_in:
            samples[: place.fade_in] *= _ramp(place.fade_in)
        if place.fade_out:
            samples[len(samples) - place.fade_out :] *= _ramp(place.fade_out)[::-1]
        start = max(place.start, begin)
        mixer.add(start, samples[start - place.start : end - place.start])
    mixer.flush(end, lambda _done: on_progress and on_progress())


def _tapped(write, tap):
    def tapped(block):
        tap(block)
        write(block)

    return tapped


PROGRESS_INTERVAL = 0.25  # seconds


class _Progress:
    """Rate-limited progress: callers report often and cheaply, the callback
    hears at most every ``PROGRESS_INTERVAL`` s (a job heartbeat is a query)."""

    ALMOST = 0.999

    def __init__(self, callback, phase):
        self.callback = callback
        self.phase = phase
        self.fraction = 0.0
        self.last = float("-inf")

    def at(self, fraction: float):
        self.fraction = min(fraction, self.ALMOST)
        self.beat()

    def beat(self):
        now = time.monotonic()
        if self.callback is not None and now - self.last >= PROGRESS_INTERVAL:
            self.last = now
            self.callback(self.phase, self.fraction)

    def done(self):
        if self.callback is not None:
            self.callback(self.phase, 1.0)


class _Mixer:
    """Sums pieces placed at sample offsets and writes the result in order,
    a block at a time. Pieces are kept by reference until written, so a turn
    is never copied into a track-sized buffer."""

    def __init__(self, write):
        self.write = write
        self.written = 0  # samples before this are in the file
        self.pieces: list[tuple[int, np.ndarray]] = []

    def add(self, start: int, samples: np.ndarray):
        if start < self.written:
            raise ValueError("a piece can't start before what is already written")
        if len(samples):
            self.pieces.append((start, samples))

    def flush(self, upto: int, on_block: Callable[[float], None]):
        """Write every sample before ``upto`` (nothing may be added there
        later), telling ``on_block`` the fraction of the way done after each block."""
        begin = self.written
        while self.written < upto:
            first = self.written
            last = min(upto, first + _WRITE_BLOCK)
            block = np.zeros(last - first, dtype=np.float32)
            # In the order added, like assemble_dialogue's ``out +=``: same sums, same bits.
            for start, samples in self.pieces:
                a, b = max(start, first), min(start + len(samples), last)
                if a < b:
                    block[a - first : b - first] += samples[a - start : b - start]
            self.write(block)
            self.written = last
            self.pieces = [(start, samples) for start, samples in self.pieces if start + len(samples) > last]
            on_block((last - begin) / (upto - begin))


_WRITE_BLOCK = 1 << 16  # samples (3 s at 22.05 kHz)


@contextmanager
def _open_encoder(out: BinaryIO, fmt: str, sample_rate: int):
    """A function that appends float32 samples to ``fmt`` in ``out``; the file
    is finished (headers, tags) when the block ends."""
    if fmt not in _SOUNDFILE_FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; expected one of {', '.join(OUTPUT_FORMATS)}")
    if fmt == "mp3":
        # LAME with libsndfile's settings, in a faster build, on every core: see mp3.py.
        writer = mp3.ParallelMp3Writer if mp3.THREADS > 1 else mp3.Mp3Writer
        with writer(out, sample_rate) as encoder:
            yield lambda block: encoder.write(np.clip(block, -1.0, 1.0))
        return
    container, subtype = _SOUNDFILE_FORMATS[fmt]
    # Written a block at a time: one sf.write of the whole signal overflows the
    # bundled libsndfile's stack for OGG above ~8 MiB of float32.
    with sf.SoundFile(out, "w", sample_rate, 1, format=container, subtype=subtype) as sound:
        yield lambda block: sound.write(np.clip(block, -1.0, 1.0))


def _ramp(length: int) -> np.ndarray:
    # Mid-sample points: the fade-in and its mirror image sum to exactly 1.
    return ((np.arange(length, dtype=np.float32) + 0.5) / length).astype(np.float32)


def encode(audio: Audio, fmt: str = "mp3") -> bytes:
    buffer = io.BytesIO()
    with _open_encoder(buffer, fmt, audio.sample_rate) as write:
        samples = np.asarray(audio.samples, dtype=np.float32)
        for first in range(0, len(samples), _WRITE_BLOCK):
            write(samples[first : first + _WRITE_BLOCK])
    return buffer.getvalue()


# Speaking rates for estimating a dialogue's length from its text, before any
# synthesis. Alphabetic text is read at about 14 characters a second (measured:
# eSpeak English 19, cloud voices 14-16); a Chinese, Japanese or Korean
# character is a syllable, about 4 a second (eSpeak Mandarin: 4.1). Rough by
# nature: spelled-out numbers, or Japanese kanji that eSpeak reads one by one,
# come out slower, so a job can exceed its estimate.
CHARS_PER_SECOND = 14.0
SYLLABIC_CHARS_PER_SECOND = 4.0
_SYLLABIC_CHAR = re.compile(
    "[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f]"
)


def estimate_duration_seconds(turns: Sequence[str], gap_ms: int) -> float:
    """Roughly how long the audio of these turns' texts will be, with
    ``gap_ms`` between turns (crossfades, which shorten it, are ignored)."""
    seconds = 0.0
    for text in turns:
        syllabic = len(_SYLLABIC_CHAR.findall(text))
        seconds += syllabic / SYLLABIC_CHARS_PER_SECOND + (len(text) - syllabic) / CHARS_PER_SECOND
    return seconds + max(len(turns) - 1, 0) * gap_ms / 1000


def decode(data: bytes) -> Audio:
    samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return Audio(samples.mean(axis=1).astype(np.float32, copy=False), rate)

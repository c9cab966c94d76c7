"""Re-rendering a new version from its source's MP3 file: only the part of
the dialogue that changed is mixed and encoded again.

A new version (``Job.based_on``, synthesis.versions) speaks only the turns
whose sound changed, but the mix and the MP3 encoding of a 20-minute
dialogue cost more CPU than eSpeak speaking all of it. The mix is local
(audio.render_dialogue: each turn is normalised on its own and placed at a
sample offset), so:

- before the first changed turn, the new mix is the source's, sample for
  sample. The source's file is a stream of independently decodable pieces
  (mp3.ParallelMp3Writer): its frames before a frame boundary in a silence
  (a gap between turns) are copied byte for byte, and a fresh encoder takes
  over there, exactly as at one of the parallel writer's cuts;
- after the last changed turn, the unchanged turns are the source's, moved
  by a shift Δ. Where Δ is a multiple of the frame size F (576 samples below
  32 kHz) the source's frames line up with the new timeline, and from a
  frame where one of the source's encoders started (no bit reservoir from
  before it: ``mp3.Stream.starts_clean``), at a silence, the rest of the
  source's frames are copied too. To make Δ a multiple of F, the gap after
  the last changed turn is made longer by less than one frame of silence
  (under 26 ms at 22.05 kHz), recorded in the job's ``gap_padding``;
- only the samples between the two joins are mixed (the turns that reach
  into them are loaded) and encoded, and the Info frame is rewritten for
  the whole stream.

Turn timings come from the same layout (audio.layout), so they are the
file's to the sample. The waveform's levels are the loudest of blocks of
one frame (waveform.BLOCK): measured on what is mixed, the source's
elsewhere (its ``Waveform``), so they are the full render's exactly.

Only when it is safe: an MP3 source of the same owner, completed, with the
same output format, sample rate, gap and crossfade, whose segments are all
there at the mix's rate, whose file parses and decodes to exactly the
length its layout says. Anything else (other formats: WAV, FLAC and Ogg are
rendered whole) is rendered the plain way.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

from synthesis import mp3, waveform
from synthesis.audio import Audio, Place, layout, mix_span
from synthesis.models import Job, Segment, Waveform

log = logging.getLogger("synthesis.jobs")


@dataclass(frozen=True)
class Turn:
    """A turn as the mix sees it. ``sound`` names its samples: the segment's
    content key and creation time (a copied segment keeps its original's,
    synthesis.versions; a retake has the key of the take it replaces but a
    time of its own). ``length`` is in samples at the mix's rate."""

    sound: tuple
    length: int
    volume: float


@dataclass
class Plan:
    """How to make the new version's file from the source's ``stream``:
    samples [0, begin) are the source's first ``begin // F`` frames,
    [begin, end) are mixed and encoded, and from ``end`` on (when ``tail`` is
    not None) the source's frames from index ``tail``, whose samples are
    ``shift`` earlier in the source."""

    places: list[Place]  # the new version's layout, its pads included
    pads: dict[int, int]  # samples of silence added to the gap before turn i (the source's kept, and one new)
    begin: int
    end: int
    tail: int | None
    shift: int
    stream: mp3.Stream = field(repr=False)

    @property
    def samples(self) -> int:
        return self.places[-1].end


def plan(
    source_turns: Sequence[Turn],
    turns: Sequence[Turn],
    stream: mp3.Stream,
    *,
    source_pads: dict[int, int],
    gap_ms: int,
    crossfade_ms: int,
    sample_rate: int,
) -> Plan | None:
    """Where the new version's mix can reuse the source's file, or None
    when nothing can (or the file is not the source's layout)."""
    spacing = {"gap_ms": gap_ms, "crossfade_ms": crossfade_ms, "sample_rate": sample_rate}
    old = layout([t.length for t in source_turns], pads=source_pads, **spacing)
    if old[-1].end != stream.samples or stream.sample_rate != sample_rate:
        return None
    f = stream.frame_size
    lengths = [t.length for t in turns]

    # Turns [0, prefix) and the last ``suffix`` ones sound as the source's did.
    shortest = min(len(old), len(turns))
    prefix = 0
    while prefix < shortest and source_turns[prefix] == turns[prefix]:
        prefix += 1
    suffix = 0
    while suffix < shortest - prefix and source_turns[-1 - suffix] == turns[-1 - suffix]:
        suffix += 1
    first, old_first = len(turns) - suffix, len(old) - suffix  # where the suffix starts, in each

    # The source's own pads (a version of a version) between turns that stay
    # stay too, so those turns keep their places.
    pads = {k: v for k, v in source_pads.items() if 0 < k < prefix}
    pads |= {k - old_first + first: v for k, v in source_pads.items() if k > old_first}
    unpadded = layout(lengths, pads=pads, **spacing)
    # The same places and fades (without a gap a fade depends on the next
    # turn's length): the same contribution to the mix.
    prefix = next((i for i in range(prefix) if unpadded[i] != old[i]), prefix)
    moved = unpadded[-1].start - old[-1].start  # how far the suffix moved, if there is one
    for j in range(suffix - 1, -1, -1):
        new, was = unpadded[first + j], old[old_first + j]
        if (new.start - was.start, new.fade_in, new.fade_out) != (moved, was.fade_in, was.fade_out):
            first, old_first, suffix = first + j + 1, old_first + j + 1, suffix - j - 1
            break

    # The mixes are equal before the first turn that differs, in either.
    equal_until = min(
        unpadded[prefix].start if prefix < len(turns) else unpadded[-1].end,
        old[prefix].start if prefix < len(old) else old[-1].end,
    )
    # Computed without the pad below: the pad only lengthens a gap after
    # the prefix, so a cut valid without it is valid with it.
    begin = _last_cut_before(unpadded, equal_until, f)

    places, end, tail, shift = unpadded, unpadded[-1].end, None, 0
    if suffix:
        pad = -moved % f
        found = None
        if not pad:
            found = _first_clean_join(unpadded, old, first, old_first, moved, begin, stream)
        elif first and round(gap_ms * sample_rate / 1000):  # a pad lengthens a gap
            padded = layout(lengths, pads=pads | {first: pad}, **spacing)
            found = _first_clean_join(padded, old, first, old_first, moved + pad, begin, stream)
            if found is not None:
                places, pads = padded, pads | {first: pad}
        if found is not None:
            (end, tail), shift = found, moved + pad
    if not begin and tail is None:
        return None
    return Plan(places=places, pads=pads, begin=begin, end=end, tail=tail, shift=shift, stream=stream)


def _last_cut_before(places: list[Place], limit: int, f: int) -> int:
    """The last frame boundary c where the mix is silent (no turn) over
    [c - SILENCE_BEFORE, c + SILENCE_AFTER) with c + SILENCE_AFTER <= limit;
    0 (the stream's start) if there is none."""
    for i in range(len(places) - 2, -1, -1):
        quiet_from, quiet_to = places[i].end, min(places[i + 1].start, limit)
        cut = (quiet_to - mp3.SILENCE_AFTER) // f * f
        if cut - mp3.SILENCE_BEFORE >= quiet_from and cut > 0:
            return cut
    return 0


def _first_clean_join(
    places: list[Place], old: list[Place], first: int, old_first: int, shift: int, begin: int, stream: mp3.Stream
) -> tuple[int, int] | None:
    """The first place ``end`` (and the source's frame ``tail`` there) where
    the source's frames can take over: ``end = tail × F + shift``, after
    ``begin``, where the new mix is the source's moved by ``shift`` with
    silence around, and the source's frame starts clean. None if there is none."""
    f = stream.frame_size
    # From here on the new mix is the source's, moved: both changed parts are over.
    moved_from = max(
        places[first - 1].end if first else 0,
        (old[old_first - 1].end if old_first else 0) + shift,
        begin + f,
    )
    starts = [p.start for p in places]
    frame = max(1, -(-(moved_from + mp3.SILENCE_BEFORE - shift) // f))
    while frame < len(stream.frames):
        end = frame * f + shift
        if stream.starts_clean(frame):
            # The gap (no turn) that holds ``end``, if any.
            after = bisect.bisect_right(starts, end)  # the first turn starting after ``end``
            if (
                0 < after < len(places)
                and places[after - 1].end <= end - mp3.SILENCE_BEFORE
                and end + mp3.SILENCE_AFTER <= places[after].start
            ):
                return end, frame
        frame += 1
    return None


@dataclass
class Spliced:
    timings: list[tuple[float, float]]
    meter: waveform.KnownBlocks
    pads: dict[int, int]
    encoded_samples: int  # mixed and encoded here (the rest was copied)
    encoded_frames: int
    frames: int  # in the whole stream


def render(
    found: Plan,
    loaders: Sequence[Callable[[], Audio]],
    out: BinaryIO,
    *,
    sample_rate: int,
    volumes: Sequence[float] | None,
    source_blocks: np.ndarray,
    on_progress: Callable[[], None] | None = None,
) -> Spliced:
    """Write the new version's MP3 into ``out``: the source's frames where
    ``found`` says, the mix of the rest (``loaders``: every turn's audio,
    only those in the mixed span are called). ``source_blocks``: the
    source's ``waveform.StreamMeter.block_levels``, reused with its frames."""
    f = found.stream.frame_size
    middle = waveform.StreamMeter(count=0)  # block levels from the first sample on
    with mp3.ParallelMp3Writer(out, sample_rate, copied=found.stream, head=found.begin // f, tail=found.tail) as writer:

        def write(block: np.ndarray):
            middle.add(block)
            writer.write(np.clip(block, -1.0, 1.0))

        mix_span(
            loaders,
            found.places,
            found.begin,
            found.end,
            write,
            sample_rate=sample_rate,
            volumes=volumes,
            on_progress=on_progress,
        )
    # The joins and the shift are whole frames, so whole blocks (waveform.BLOCK).
    parts = [source_blocks[: found.begin // waveform.BLOCK], middle.block_levels()]
    if found.tail is not None:
        parts.append(source_blocks[(found.end - found.shift) // waveform.BLOCK :])
    blocks = np.concatenate(parts)
    if len(blocks) != -(-found.samples // waveform.BLOCK):
        raise AssertionError("the waveform's blocks do not add up to the audio")  # a bug, not a source to refuse
    timings = [(1000.0 * p.start / sample_rate, 1000.0 * p.end / sample_rate) for p in found.places]
    return Spliced(
        timings,
        waveform.KnownBlocks(blocks),
        found.pads,
        found.end - found.begin,
        writer.encoded_frames,
        len(writer.frame_sizes),
    )


# --- the pipeline's side ------------------------------------------------------


def source_of(job: Job) -> Job | None:
    """The job's source when its file may be reused (one query): a
    completed MP3 job of the same owner with the same gap and crossfade,
    whose waveform's blocks were kept."""
    if not job.based_on_id or job.output_format != "mp3":
        return None
    source = (
        Job.objects.filter(
            pk=job.based_on_id, owner_id=job.owner_id, status=Job.Status.COMPLETED, waveform__isnull=False
        )
        .exclude(audio="")
        .first()
    )
    if source is None or source.output_format != "mp3" or not source.result_metadata:
        return None
    mine, theirs = job.input_params, source.input_params
    if (mine["gap_ms"], mine["crossfade_ms"]) != (theirs["gap_ms"], theirs["crossfade_ms"]):
        return None
    return source


def render_from_source(
    job: Job,
    segments: list[Segment],
    out: BinaryIO,
    *,
    volumes_of: Callable[[dict], list[float]],
    on_progress: Callable[[], None] | None = None,
) -> Spliced | None:
    """Render ``job`` (a new version; ``segments`` its turns', in order) into
    ``out`` reusing its source's file, or None (nothing written) when that
    is not possible or not safe: the caller renders the plain way.
    ``volumes_of(input_params)``: each turn's volume (pipeline.turn_volumes)."""
    source = source_of(job)
    if source is None:
        return None
    rate = max(s.sample_rate for s in segments)
    metadata = source.result_metadata
    source_segments = list(Segment.objects.filter(job=source).order_by("turn_index"))
    count = len(source.input_params["turns"])
    levels = Waveform.objects.filter(job=source, block=waveform.BLOCK).values_list("levels", flat=True).first()
    if (
        metadata.get("sample_rate") != rate
        or [s.turn_index for s in source_segments] != list(range(count))
        or any(s.sample_rate != rate for s in [*segments, *source_segments])
        or levels is None
    ):
        return None
    try:
        with source.audio.open("rb") as file:
            stream = mp3.read_stream(file.read())
    except (OSError, ValueError) as error:
        log.warning("source audio not reusable job_id=%s from=%s error=%s", job.pk, source.pk, error)
        return None
    source_pads = {int(turn): samples for turn, samples in metadata.get("gap_padding") or []}
    spacing = {"gap_ms": job.input_params["gap_ms"], "crossfade_ms": job.input_params["crossfade_ms"]}
    source_turns = [
        Turn((s.content_key, s.created_at), s.frames, volume)
        for s, volume in zip(source_segments, volumes_of(source.input_params))
    ]
    # The source's file must be the layout we compute for it, turn by turn.
    old = layout([t.length for t in source_turns], pads=source_pads, sample_rate=rate, **spacing)
    recorded = [(t["start_ms"], t["end_ms"]) for t in metadata.get("turn_timings") or []]
    if recorded != [(round(1000 * p.start / rate), round(1000 * p.end / rate)) for p in old]:
        return None
    volumes = volumes_of(job.input_params)
    turns = [Turn((s.content_key, s.created_at), s.frames, volume) for s, volume in zip(segments, volumes)]
    source_blocks = np.frombuffer(bytes(levels), dtype=np.uint8)
    if len(source_blocks) != -(-stream.samples // waveform.BLOCK) or stream.frame_size % waveform.BLOCK:
        return None
    found = plan(source_turns, turns, stream, source_pads=source_pads, sample_rate=rate, **spacing)
    # A short mix's levels are of single samples, not of blocks: rendered whole (it is quick).
    if found is None or found.samples <= waveform.PEAK_COUNT * waveform.BLOCK:
        return None
    result = render(
        found,
        [s.load for s in segments],
        out,
        sample_rate=rate,
        volumes=volumes,
        source_blocks=source_blocks,
        on_progress=on_progress,
    )
    log.info(
        "job spliced job_id=%s from=%s span=%d-%d shift=%d encoded=%d of %d samples frames=%d of %d",
        job.pk,
        source.pk,
        found.begin,
        found.end,
        found.shift,
        result.encoded_samples,
        found.samples,
        result.encoded_frames,
        result.frames,
    )
    return result

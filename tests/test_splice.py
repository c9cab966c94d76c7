"""A new version's MP3 made from its source's file (synthesis/splice.py):
real eSpeak, real files, each compared with a full render of the same new
dialogue (decoded), its timings, its waveform and its stream."""

import io
import logging
import re

import numpy as np
import pytest
import soundfile as sf

from synthesis import mp3, waveform
from synthesis.audio import decode, render_dialogue
from synthesis.models import Job, Segment, Waveform
from synthesis.pipeline import turn_volumes
from synthesis.tasks import run_synthesis
from synthesis.validation import clean_job_request
from tests.conftest import dialogue

pytestmark = pytest.mark.django_db
SPEAKERS = ("Alice", "Bob", "Carol")
VOICES = {"Alice": "en-us+f3", "Bob": "en-us+m3", "Carol": "en-gb"}
WORDS = "the committee discusses next year's budget in some detail while the fox jumps over a lazy dog".split()  # noqa: SIM905


def script(count=36):
    """(speaker, text) lines of about 2.5 s: 36 are 90 s, several of the parallel encoder's pieces."""
    return [
        (SPEAKERS[i % 3], f"Line {i}: " + " ".join(WORDS[(i + k) % len(WORDS)] for k in range(6 + i % 5)) + ".")
        for i in range(count)
    ]


def submit(user, lines, voices=None, output_format="mp3", gap_ms=300, **version):
    voices = {**VOICES, **(voices or {})}
    body = dialogue(provider="scripted", output_format=output_format, gap_ms=gap_ms)
    body["turns"] = [{"speaker": s, "text": t, "index": i} for i, (s, t) in enumerate(lines)]
    body["voice_assignments"] = [{"speaker": s, "voice_id": voices[s]} for s in dict.fromkeys(s for s, _ in lines)]
    provider, params = clean_job_request(body)
    return Job.objects.submit(user, params, provider=provider, **version)


def completed(job) -> Job:
    assert run_synthesis(str(job.pk)) == "completed"
    job.refresh_from_db()
    return job


def full_render(job, fmt, blocks=False):
    """The new dialogue rendered whole from its segments, the pad included: (data, timings, levels)."""
    segments = list(Segment.objects.filter(job=job).order_by("turn_index"))
    pads = dict(job.result_metadata.get("gap_padding", []))
    meter = waveform.StreamMeter()
    out = io.BytesIO()
    timings = render_dialogue(
        [s.load for s in segments],
        out,
        fmt=fmt,
        gap_ms=job.input_params["gap_ms"],
        crossfade_ms=job.input_params["crossfade_ms"],
        sample_rate=max(s.sample_rate for s in segments),
        volumes=turn_volumes(job.input_params),
        on_block=meter.add,
        pads=pads,
    )
    if blocks:
        return meter.block_levels().tobytes()
    return out.getvalue(), timings, meter.levels()


def check_against_full_render(job, source, figures):
    """Everything a listener, a player and the job page get is the full
    render's: the same length and timings, the same samples (to MP3's own
    noise where this file was encoded apart from it), the same waveform (to
    a slice or two where it is the source's), a valid stream."""
    data = job.audio.open("rb").read()
    job.audio.close()
    stream = mp3.read_stream(data)  # whole frames, the Info frame's count right
    assert len(stream.frames) == figures["frames"]
    got = decode(data).samples
    exact = np.frombuffer(full_render(job, "f32")[0], dtype=np.float32)
    whole, timings, levels = full_render(job, "mp3")
    kept = Waveform.objects.get(job=job)
    assert bytes(kept.levels) == full_render(job, "f32", blocks=True)
    reference = decode(whole).samples
    # The same length: decoders trim by the rewritten Info frame exactly.
    assert len(got) == len(reference) == len(exact) == stream.samples == sf.info(io.BytesIO(data)).frames
    # Timings are the full render's, hence the file's, to the sample.
    meta = job.result_metadata
    assert [(t["start_ms"], t["end_ms"]) for t in meta["turn_timings"]] == [(round(a), round(b)) for a, b in timings]
    assert meta["duration_ms"] == round(timings[-1][1]) == round(1000 * len(got) / meta["sample_rate"])
    for timed in meta["sentence_timings"]:
        turn = meta["turn_timings"][timed["turn_index"]]
        assert turn["start_ms"] <= timed["start_ms"] <= timed["end_ms"] <= turn["end_ms"]
    # The same quality, and the same samples to within MP3's noise (the
    # full render's encoders were cut elsewhere: their noise differs).
    assert snr_db(got, exact) > snr_db(reference, exact) - 0.3
    assert np.abs(got - reference).max() < 0.01
    # Silent around the joins, as the input is.
    for join in (figures["begin"], figures["end"]):
        if 0 < join < len(got):
            assert np.abs(got[join - 1500 : join + 1000]).max() < 0.01
    # Where it was copied it decodes to the source's samples: exactly before
    # the first join (a decoder's sample d comes from frames up to (d + 1,105) / 576),
    # and after the second to the decoder's float rounding (its filter bank
    # carries the frames before the join, silent on both sides, for a while).
    before = decode(source.audio.open("rb").read()).samples
    source.audio.close()
    head = max(figures["begin"] - 1105, 0)
    assert np.array_equal(got[:head], before[:head])
    if figures["end"] < len(got):
        tail = figures["end"] + 576
        assert np.abs(got[tail:] - before[tail - figures["shift"] :]).max() <= 2**-20
    # The waveform is the full render's, and kept for the next version.
    assert meta["peaks"] == levels
    return got, before


def snr_db(decoded, original):
    error = decoded.astype(np.float64) - original
    return 10 * np.log10(np.sum(np.square(original, dtype=np.float64)) / np.sum(np.square(error)))


def spliced_log(caplog):
    """The last splice's figures (synthesis.splice's log line), or None."""
    found = [r.getMessage() for r in caplog.records if r.getMessage().startswith("job spliced")]
    if not found:
        return None
    pattern = r"span=(\d+)-(\d+) shift=(-?\d+) encoded=(\d+) of (\d+) samples frames=(\d+) of (\d+)"
    names = ("begin", "end", "shift", "encoded", "samples", "encoded_frames", "frames")
    return dict(zip(names, (int(n) for n in re.search(pattern, found[-1]).groups())))


def rerender(alice, caplog, lines, new_lines=None, source_format="mp3", **changes):
    first = completed(submit(alice, lines, output_format=source_format))
    caplog.clear()
    return first, completed(submit(alice, new_lines or lines, based_on=first, **changes))


EDITED = ("Alice", "This line was edited after listening, and it is a little longer now.")
# name: (the new version's changes, at most how much of it is encoded again)
CASES = {
    "a line in the middle": (lambda t: {"new_lines": [*t[:17], EDITED, *t[18:]]}, 0.2),
    "the first line": (lambda t: {"new_lines": [EDITED, *t[1:]]}, 0.2),
    "the last line": (lambda t: {"new_lines": [*t[:-1], EDITED]}, 0.2),
    "two lines": (lambda t: {"new_lines": [*t[:5], EDITED, *t[6:28], ("Carol", "One near the end."), *t[29:]]}, 0.9),
    "a line deleted": (lambda t: {"new_lines": t[:12] + t[13:]}, 0.2),
    "a speaker's voice": (lambda t: {"voices": {"Bob": "en-gb+m3"}}, 1.0),
    "a speaker added": (
        lambda t: {"new_lines": [*t[:20], ("Dave", "Hello, I am new here."), *t[20:]], "voices": {"Dave": "en-gb+m3"}},
        0.2,
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_new_version_reuses_its_sources_mp3_and_is_the_full_render(alice, scripted_provider, caplog, case):
    caplog.set_level(logging.INFO, logger="synthesis.jobs")
    changes, most = CASES[case]
    lines = script()
    first, second = rerender(alice, caplog, lines, **changes(lines))
    figures = spliced_log(caplog)
    assert figures is not None, "the source's file was not reused"
    assert figures["encoded_frames"] <= most * figures["frames"]
    check_against_full_render(second, first, figures)


def test_a_version_of_a_version_keeps_the_gaps_made_longer_and_reuses_again(alice, scripted_provider, caplog):
    caplog.set_level(logging.INFO, logger="synthesis.jobs")
    lines = script()
    first = completed(submit(alice, lines))
    lines[17] = EDITED
    second = completed(submit(alice, lines, based_on=first))
    assert second.result_metadata["gap_padding"]
    lines[30] = ("Alice", "Edited again, later in the dialogue.")
    caplog.clear()
    third = completed(submit(alice, lines, based_on=second))
    figures = spliced_log(caplog)
    assert figures is not None
    # The second version's longer gap is in the part copied from it.
    pads = dict(third.result_metadata["gap_padding"])
    assert set(dict(second.result_metadata["gap_padding"])) <= set(pads)
    check_against_full_render(third, second, figures)


@pytest.mark.parametrize(
    "source_format, changes",
    [
        ("wav", {}),  # another format: rendered whole
        ("mp3", {"output_format": "flac"}),
        ("mp3", {"gap_ms": 500}),
        ("mp3", {"short": True}),  # under 26 s: its waveform is of single samples
    ],
)
def test_a_new_version_renders_whole_when_the_source_cant_be_reused(
    alice, scripted_provider, caplog, source_format, changes
):
    caplog.set_level(logging.INFO, logger="synthesis.jobs")
    lines = script(6 if changes.pop("short", False) else 36)
    first = completed(submit(alice, lines, output_format=source_format))
    lines[3] = EDITED
    caplog.clear()
    second = completed(submit(alice, lines, based_on=first, **changes))
    assert spliced_log(caplog) is None
    assert "gap_padding" not in second.result_metadata
    fmt = second.output_format
    data = second.audio.open("rb").read()
    second.audio.close()
    assert data == full_render(second, fmt)[0]


def test_a_source_whose_file_or_waveform_is_gone_is_rendered_whole(alice, scripted_provider, caplog):
    caplog.set_level(logging.INFO, logger="synthesis.jobs")
    lines = script()
    first = completed(submit(alice, lines))
    lines[3] = EDITED
    Waveform.objects.filter(job=first).delete()  # a job completed before waveforms were kept
    caplog.clear()
    completed(submit(alice, lines, based_on=first))
    assert spliced_log(caplog) is None

    second = completed(submit(alice, script()))
    second.audio.storage.delete(second.audio.name)
    caplog.clear()
    third = completed(submit(alice, lines, based_on=second))
    assert spliced_log(caplog) is None
    assert third.result_metadata["duration_ms"] > 0


def test_a_source_file_that_does_not_parse_is_rendered_whole(alice, scripted_provider, caplog):
    caplog.set_level(logging.INFO, logger="synthesis.jobs")
    lines = script()
    first = completed(submit(alice, lines))
    stream = mp3.read_stream(first.audio.open("rb").read())
    first.audio.close()
    with open(first.audio.path, "r+b") as file:
        file.seek(len(stream.info_frame) + sum(len(frame) for frame in stream.frames[:100]))
        file.write(b"\0" * 4)  # not a frame header where one should be
    lines[3] = EDITED
    caplog.clear()
    second = completed(submit(alice, lines, based_on=first))
    assert spliced_log(caplog) is None
    assert any("source audio not reusable" in r.getMessage() for r in caplog.records)
    data = second.audio.open("rb").read()
    second.audio.close()
    assert data == full_render(second, "mp3")[0]


def silent_stream(samples):
    out = io.BytesIO()
    with mp3.ParallelMp3Writer(out, 22050) as writer:
        writer.write(np.zeros(samples, np.float32))
    return mp3.read_stream(out.getvalue())


def test_without_a_gap_there_is_no_silence_to_cut_at():
    from synthesis.audio import layout
    from synthesis.splice import Turn, plan

    source = [Turn(("line", i), 40_000, 1.0) for i in range(30)]
    edited = [*source[:15], Turn(("edited", 15), 50_000, 1.0), *source[16:]]
    spacing = {"crossfade_ms": 50, "sample_rate": 22050}
    for gap_ms, expected in ((0, None), (300, "a plan")):
        total = layout([t.length for t in source], gap_ms=gap_ms, **spacing)[-1].end
        found = plan(source, edited, silent_stream(total), source_pads={}, gap_ms=gap_ms, **spacing)
        assert (found and "a plan") == expected
    # ... and a stream of another length is not the source's file.
    assert plan(source, edited, silent_stream(total - 1), source_pads={}, gap_ms=300, **spacing) is None

import io
import threading
import time

import numpy as np
import pytest

from synthesis import audio as audio_module
from synthesis.audio import (
    OUTPUT_FORMATS,
    PEAK_CEILING,
    Audio,
    assemble_dialogue,
    decode,
    encode,
    estimate_duration_seconds,
    layout,
    loudness_dbfs,
    mix_span,
    normalize_loudness,
    render_dialogue,
    resample,
)

RATE = 22050


def square(n_samples, amplitude=0.5, period=50, rate=RATE):
    """A signal with no zero samples, so its first and last samples can be
    found exactly in the mix (fades scale it but never zero it)."""
    phase = (np.arange(n_samples) // (period // 2)) % 2
    return Audio(np.where(phase, amplitude, -amplitude).astype(np.float32), rate)


def speech_like(seconds, amplitude, rate=RATE):
    """Tone bursts with pauses between them, like words."""
    t = np.arange(int(seconds * rate)) / rate
    bursts = (np.floor(t * 4) % 2 == 0).astype(np.float32)
    return Audio((amplitude * np.sin(2 * np.pi * 220 * t) * bursts).astype(np.float32), rate)


def rms_db(samples):
    samples = samples[np.abs(samples) > 0]
    return 20 * np.log10(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


def nonzero_span(samples):
    idx = np.flatnonzero(samples)
    return idx[0], idx[-1] + 1


def test_resample_changes_length_by_the_rate_ratio():
    out = resample(np.zeros(22050, dtype=np.float32), 22050, 48000)
    assert len(out) == 48000
    assert out.dtype == np.float32


def test_resample_same_rate_is_a_no_op():
    samples = np.linspace(-1, 1, 100, dtype=np.float32)
    assert np.array_equal(resample(samples, 16000, 16000), samples)


def test_normalize_brings_quiet_and_loud_to_the_same_level():
    quiet = normalize_loudness(speech_like(2, 0.01).samples)
    loud = normalize_loudness(speech_like(2, 0.9).samples)
    assert abs(rms_db(quiet) - rms_db(loud)) < 1.0
    assert abs(loudness_dbfs(quiet) - -20.0) < 0.5


def test_normalize_ignores_pauses_when_measuring():
    # Same speech, one with a long pause added: both come out at the same level.
    speech = speech_like(1, 0.3).samples
    padded = np.concatenate([speech, np.zeros(RATE * 5, dtype=np.float32)])
    assert abs(rms_db(normalize_loudness(speech)) - rms_db(normalize_loudness(padded))) < 0.1


def test_normalize_limits_peaks_instead_of_clipping():
    samples = speech_like(2, 0.05).samples
    samples[RATE // 2] = 0.9  # one spike, 25 dB above the rest
    out = normalize_loudness(samples)
    assert np.abs(out).max() <= PEAK_CEILING + 1e-6
    # The limiter acts locally: the turn as a whole still reaches the target.
    assert abs(loudness_dbfs(out) - -20.0) < 1.0


def test_normalize_leaves_silence_alone():
    silence = np.zeros(1000, dtype=np.float32)
    assert np.array_equal(normalize_loudness(silence), silence)


@pytest.mark.parametrize("gap_ms", [0, 300])
def test_timings_without_crossfade_are_where_the_turns_are(gap_ms):
    lengths = [22050, 11025, 33075]
    audio, timings = assemble_dialogue([square(n) for n in lengths], gap_ms=gap_ms, crossfade_ms=0)

    gap = gap_ms * RATE // 1000
    start = 0
    for n, (start_ms, end_ms) in zip(lengths, timings):
        assert start_ms == pytest.approx(1000 * start / RATE)
        assert end_ms == pytest.approx(1000 * (start + n) / RATE)
        assert np.all(audio.samples[start : start + n] != 0)
        start += n + gap
    assert len(audio.samples) == sum(lengths) + gap * (len(lengths) - 1)


def test_timings_with_crossfade_and_gap_are_exact_at_every_join():
    # 40 turns: the old implementation drifted by one crossfade per join.
    lengths = [RATE // 2 + 37 * i for i in range(40)]
    gap_ms, crossfade_ms = 200, 20
    gap, crossfade = 4410, 441
    audio, timings = assemble_dialogue([square(n) for n in lengths], gap_ms=gap_ms, crossfade_ms=crossfade_ms)

    start = 0
    for n, (start_ms, end_ms) in zip(lengths, timings):
        first = round(start_ms * RATE / 1000)
        last = round(end_ms * RATE / 1000)
        assert (first, last) == (start, start + n)
        # The turn is really there: silence right before and after it.
        assert nonzero_span(audio.samples[max(first - 100, 0) : last + 100]) == (
            min(first, 100),
            min(first, 100) + n,
        )
        # Each join overlaps by the crossfade: turn → silence → turn.
        start += n - crossfade + gap - crossfade
    assert timings[-1][1] == pytest.approx(audio.duration_ms)


def test_crossfade_without_gap_overlaps_turns():
    lengths = [RATE, RATE, RATE]
    constant = [Audio(np.full(n, 0.5, dtype=np.float32), RATE) for n in lengths]
    audio, timings = assemble_dialogue(constant, gap_ms=0, crossfade_ms=100)
    crossfade = 2205
    assert [round(s * RATE / 1000) for s, _ in timings] == [0, RATE - crossfade, 2 * (RATE - crossfade)]
    assert len(audio.samples) == 3 * RATE - 2 * crossfade
    # Linear fades sum to 1: a constant signal stays constant through the joins.
    assert np.allclose(audio.samples, audio.samples[0], atol=1e-6)


def test_crossfade_is_capped_at_half_the_shorter_neighbour():
    # A 100 ms gap can take at most 50 ms of fade on each side.
    _audio, timings = assemble_dialogue([square(RATE), square(RATE)], gap_ms=100, crossfade_ms=500)
    half_gap = 2205 // 2
    assert round(timings[1][0] * RATE / 1000) == RATE - half_gap + 2205 - half_gap
    # A turn shorter than twice the crossfade limits its own joins.
    _audio, timings = assemble_dialogue([square(RATE), square(1000), square(RATE)], gap_ms=0, crossfade_ms=500)
    assert [round(s * RATE / 1000) for s, _ in timings] == [0, RATE - 500, RATE - 500 + 1000 - 500]


def test_turns_at_different_rates_are_brought_to_the_highest():
    audio, timings = assemble_dialogue([square(16000, rate=16000), square(24000, rate=24000)], gap_ms=0, crossfade_ms=0)
    assert audio.sample_rate == 24000
    assert timings == [(0.0, 1000.0), (1000.0, 2000.0)]


def test_explicit_sample_rate_wins():
    audio, timings = assemble_dialogue([square(RATE)], gap_ms=0, crossfade_ms=0, sample_rate=48000)
    assert audio.sample_rate == 48000
    assert timings == [(0.0, 1000.0)]


def test_assembled_turns_have_equal_loudness():
    audio, timings = assemble_dialogue([speech_like(2, 0.02), speech_like(2, 0.8)], gap_ms=250, crossfade_ms=10)
    levels = [rms_db(audio.samples[int(s * RATE / 1000) : int(e * RATE / 1000)]) for s, e in timings]
    assert abs(levels[0] - levels[1]) < 1.0
    assert np.abs(audio.samples).max() <= 1.0


def test_no_turns_is_an_error():
    with pytest.raises(ValueError):
        assemble_dialogue([], gap_ms=0, crossfade_ms=0)


@pytest.mark.parametrize("fmt", sorted(OUTPUT_FORMATS))
def test_encoded_duration_matches_the_assembled_duration(fmt):
    audio, _ = assemble_dialogue([speech_like(1.3, 0.5), speech_like(0.7, 0.1)], gap_ms=300, crossfade_ms=15)
    decoded = decode(encode(audio, fmt))
    assert decoded.sample_rate == audio.sample_rate
    assert abs(decoded.duration_ms - audio.duration_ms) < 50


def test_wav_round_trip_keeps_the_samples():
    audio = speech_like(0.5, 0.5)
    decoded = decode(encode(audio, "wav"))
    assert np.allclose(decoded.samples, audio.samples, atol=1 / 16384)


def test_mp3_is_the_default_format():
    data = encode(speech_like(0.5, 0.5))
    assert data[:3] == b"ID3" or data[0] == 0xFF  # ID3 tag or an MPEG frame sync


def test_unknown_format_is_a_value_error():
    with pytest.raises(ValueError):
        encode(speech_like(0.1, 0.5), "aiff")


def loaders(turns):
    """What the pipeline passes: one call per turn, each returning fresh audio."""
    return [lambda turn=turn: Audio(turn.samples.copy(), turn.sample_rate) for turn in turns]


def render(turns, fmt="f32", **kwargs):
    kwargs = {"gap_ms": 300, "crossfade_ms": 50, "sample_rate": RATE, **kwargs}
    out = io.BytesIO()
    timings = render_dialogue(loaders(turns), out, fmt=fmt, **kwargs)
    return out.getvalue(), timings


def random_dialogue(rng):
    turns = []
    for _ in range(rng.integers(1, 12)):
        rate = int(rng.choice([16000, 22050, 24000]))
        # Lengths from one sample to 2 s: shorter than a crossfade, odd, long.
        n = int(rng.choice([rng.integers(1, 50), rng.integers(50, 3000), rng.integers(3000, 2 * rate)]))
        amplitude = float(rng.choice([0.0, 0.01, 0.5, 3.0]))  # silent, quiet, loud, over full scale
        turns.append(Audio((rng.standard_normal(n) * amplitude).astype(np.float32), rate))
    gap_ms = int(rng.choice([0, 0, rng.integers(1, 2001)]))
    crossfade_ms = int(rng.choice([0, rng.integers(1, 501)]))
    return turns, gap_ms, crossfade_ms


@pytest.mark.parametrize("seed", range(40))
def test_render_writes_the_same_samples_and_timings_as_assemble(seed):
    rng = np.random.default_rng(seed)
    turns, gap_ms, crossfade_ms = random_dialogue(rng)
    rate = int(rng.choice([16000, 22050, 48000]))
    expected, expected_timings = assemble_dialogue(turns, gap_ms, crossfade_ms, sample_rate=rate)

    data, timings = render(turns, gap_ms=gap_ms, crossfade_ms=crossfade_ms, sample_rate=rate)

    assert timings == expected_timings
    assert np.array_equal(np.frombuffer(data, dtype="<f4"), np.clip(expected.samples, -1, 1))


@pytest.mark.parametrize("seed", range(30))
def test_layout_and_a_span_of_the_mix_are_the_renders_to_the_bit(seed):
    # What a re-render that reuses its source's MP3 relies on (synthesis.splice):
    # turns placed without their audio, and any span of the mix made alone.
    rng = np.random.default_rng(seed)
    turns, gap_ms, crossfade_ms = random_dialogue(rng)
    turns = [Audio(resample(t.samples, t.sample_rate, RATE), RATE) for t in turns]
    pads = {int(i): int(rng.integers(0, 576)) for i in rng.integers(1, 12, 3) if i < len(turns)}
    pads = pads if round(gap_ms * RATE / 1000) else None
    volumes = [float(v) for v in rng.choice([0.5, 1.0, 1.5], len(turns))]
    blocks = []
    timings = render_dialogue(
        loaders(turns), io.BytesIO(), fmt="f32", gap_ms=gap_ms, crossfade_ms=crossfade_ms, sample_rate=RATE,
        volumes=volumes, on_block=blocks.append, pads=pads,
    )  # fmt: skip
    mix = np.concatenate(blocks)
    places = layout(
        [len(t.samples) for t in turns], gap_ms=gap_ms, crossfade_ms=crossfade_ms, sample_rate=RATE, pads=pads
    )
    assert [(1000 * p.start / RATE, 1000 * p.end / RATE) for p in places] == timings
    assert places[-1].end == len(mix)
    for begin, end in [(0, len(mix)), *np.sort(rng.integers(0, len(mix) + 1, (4, 2)), axis=1).tolist()]:
        loaded, span = [], []
        counted = [
            lambda i=i, load=load, loaded=loaded: loaded.append(i) or load() for i, load in enumerate(loaders(turns))
        ]
        mix_span(counted, places, begin, end, span.append, sample_rate=RATE, volumes=volumes)
        got = np.concatenate(span) if span else np.zeros(0, np.float32)
        assert np.array_equal(got, mix[begin:end])
        # Only the turns that reach into the span are read.
        assert loaded == [i for i, p in enumerate(places) if p.end > begin and p.start < end]


def test_a_pad_lengthens_one_gap_and_nothing_else():
    turns = [speech_like(1, 0.5), speech_like(1, 0.5), speech_like(1, 0.5)]
    plain_data, plain = render(turns)
    padded_data, padded = render(turns, pads={2: 100})
    assert padded[:2] == plain[:2]
    assert [(a - b) * RATE / 1000 for a, b in zip(padded[2], plain[2])] == pytest.approx([100, 100])
    plain_samples, padded_samples = np.frombuffer(plain_data, "<f4"), np.frombuffer(padded_data, "<f4")
    start = round(plain[2][0] * RATE / 1000)
    assert np.array_equal(padded_samples[:start], plain_samples[:start])
    assert np.array_equal(padded_samples[start + 100 :], plain_samples[start:])
    with pytest.raises(ValueError):
        render(turns, gap_ms=0, pads={1: 10})


def test_render_takes_the_turns_samples_over():
    # They are normalised in place: a long turn is in memory once, not twice.
    turns = [speech_like(1, 0.01), speech_like(1, 0.5)]
    render_dialogue(
        [lambda turn=turn: turn for turn in turns], io.BytesIO(), fmt="wav", gap_ms=0, crossfade_ms=0, sample_rate=RATE
    )
    assert [round(loudness_dbfs(turn.samples), 1) for turn in turns] == [-20.0, -20.0]
    # A read-only array is copied instead.
    frozen = speech_like(1, 0.01)
    frozen.samples.flags.writeable = False
    render_dialogue([lambda: frozen], io.BytesIO(), fmt="wav", gap_ms=0, crossfade_ms=0, sample_rate=RATE)
    assert loudness_dbfs(frozen.samples) < -30


def test_render_loads_each_turn_after_the_previous_one_is_written():
    # Bounded memory: turn i is only asked for once everything before turn
    # i - 1's held-back tail (at most one crossfade) is in the file.
    lengths = [RATE, 2 * RATE, RATE // 2, 3 * RATE]
    out = io.BytesIO()
    seen = []

    def loader(i):
        def load():
            seen.append((i, out.tell() // 4))
            return square(lengths[i])

        return load

    timings = render_dialogue(
        [loader(i) for i in range(len(lengths))], out, fmt="f32", gap_ms=0, crossfade_ms=100, sample_rate=RATE
    )
    crossfade = 2205
    assert [i for i, _ in seen] == [0, 1, 2, 3]
    for (i, written), (_start, previous_end) in zip(seen[1:], timings):
        assert written == round(previous_end * RATE / 1000) - min(crossfade, lengths[i - 1] // 2)


def test_render_reports_progress_and_1_only_when_the_file_is_complete(monkeypatch):
    monkeypatch.setattr(audio_module, "PROGRESS_INTERVAL", 0.0)
    out = io.BytesIO()
    reports = []
    turns = [speech_like(4, 0.3), speech_like(6, 0.2), speech_like(1, 0.5)]
    render_dialogue(
        loaders(turns), out, fmt="mp3", gap_ms=300, crossfade_ms=50, sample_rate=RATE,
        on_progress=lambda phase, fraction: reports.append((phase, fraction, len(out.getvalue()))),
    )  # fmt: skip
    fractions = [fraction for _phase, fraction, _size in reports]
    assert {phase for phase, _fraction, _size in reports} == {"encoding"}
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0 and all(f < 1 for f in fractions[:-1])
    assert reports[-1][2] == len(out.getvalue())
    # Several reports per turn: the blocks of a long turn are progress too.
    assert len(reports) > 2 * len(turns)


def test_render_progress_is_rate_limited(monkeypatch):
    monkeypatch.setattr(audio_module, "PROGRESS_INTERVAL", 3600.0)
    reports = []
    render_dialogue(
        loaders([square(RATE)] * 5), io.BytesIO(), fmt="wav", gap_ms=300, crossfade_ms=50, sample_rate=RATE,
        on_progress=lambda phase, fraction: reports.append(fraction),
    )  # fmt: skip
    assert reports == [0.0, 1.0]


@pytest.mark.parametrize("fmt", sorted(OUTPUT_FORMATS))
def test_render_encodes_every_format_with_the_exact_length(fmt):
    turns = [speech_like(1.3, 0.5), speech_like(0.7, 0.1), speech_like(2.1, 0.3)]
    expected, _ = assemble_dialogue(turns, 300, 50, sample_rate=RATE)
    data, _ = render(turns, fmt=fmt)
    decoded = decode(data)
    assert decoded.sample_rate == RATE
    assert len(decoded.samples) == len(expected.samples)
    if fmt in ("wav", "flac"):
        assert np.allclose(decoded.samples, expected.samples, atol=1 / 16384)


def test_render_writes_ten_minutes_of_ogg():
    # One sf.write of more than 8 MiB of float32 used to crash libsndfile's
    # Vorbis encoder (a stack overflow that killed the worker). 8 kHz keeps it
    # quick: 4.8 million samples are still 19 MB of float32.
    rate = 8000
    turns = [speech_like(60, 0.3, rate=rate) for _ in range(10)]
    data, timings = render(turns, fmt="ogg", sample_rate=rate, gap_ms=0, crossfade_ms=0)
    assert timings[-1] == (540_000.0, 600_000.0)
    assert len(decode(data).samples) == 600 * rate


def test_render_needs_a_turn_and_a_known_format():
    with pytest.raises(ValueError):
        render_dialogue([], io.BytesIO(), fmt="mp3", gap_ms=0, crossfade_ms=0, sample_rate=RATE)
    with pytest.raises(ValueError):
        render([square(100)], fmt="aiff")


def test_estimate_counts_syllabic_scripts_slower_and_adds_the_gaps():
    assert estimate_duration_seconds(["a" * 14, "中" * 4, "かな" * 2, "한국"], gap_ms=500) == 1 + 1 + 1 + 0.5 + 1.5
    assert estimate_duration_seconds(["Hello."], gap_ms=2000) == 6 / 14


@pytest.mark.parametrize(
    "text, voice",
    [
        ("The committee discussed next year's budget in detail, and everyone agreed on schools. " * 3, "en-us"),
        ("我们今天讨论的是明年的预算问题，委员会的各位成员都认为应该增加教育方面的投入。" * 3, "cmn"),
    ],
)
def test_estimate_is_near_what_espeak_says(text, voice):
    from synthesis.providers.espeak import EspeakProvider

    spoken = EspeakProvider().synthesize(text, voice).duration_ms / 1000
    assert 0.6 < estimate_duration_seconds([text], gap_ms=0) / spoken < 1.5


def test_a_turn_that_fails_to_load_stops_the_encoders():
    def gone():
        raise OSError("the segment is gone")

    turns = [lambda: speech_like(25, 0.3), lambda: square(RATE), gone]
    with pytest.raises(OSError):
        render_dialogue(turns, io.BytesIO(), fmt="mp3", gap_ms=300, crossfade_ms=50, sample_rate=RATE)
    deadline = time.monotonic() + 30
    while any(t.name == "mp3-piece" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [t for t in threading.enumerate() if t.name == "mp3-piece"]

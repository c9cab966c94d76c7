"""The waveform overview: peaks computed at completion, drawn as SVG."""

import numpy as np
import pytest

from synthesis import waveform
from synthesis.models import Job
from tests.website import submitted_job


def test_peaks_are_the_loudest_sample_of_each_slice():
    samples = np.zeros(1000, dtype=np.float32)
    samples[5] = -0.5  # slice 0
    samples[250] = 0.25  # slice 2
    assert waveform.peaks(samples, count=10) == [50, 0, 25, 0, 0, 0, 0, 0, 0, 0]


def test_peaks_of_short_and_empty_audio():
    assert waveform.peaks(np.array([0.1, -1.5, 0.0], dtype=np.float32)) == [10, 100, 0]  # clipped at 100
    assert waveform.peaks(np.array([], dtype=np.float32)) == []


def test_a_long_dialogue_has_at_most_1000_peaks():
    levels = waveform.peaks(np.random.default_rng(1).uniform(-0.5, 0.5, 22050 * 600).astype(np.float32))
    assert len(levels) == waveform.PEAK_COUNT and 45 <= min(levels) <= max(levels) <= 50


@pytest.mark.parametrize("chunk", [1, 7, 1000, 4096, 10**6])
def test_peaks_of_a_stream_in_chunks_equal_the_peaks_of_the_whole(chunk):
    samples = np.random.default_rng(2).uniform(-1, 1, 22050 * 3 + 17).astype(np.float32)
    meter = waveform.PeakMeter(samples.size)
    for start in range(0, samples.size, chunk):
        meter.add(samples[start : start + chunk])
    assert meter.levels() == waveform.peaks(samples)
    assert waveform.peaks(samples, count=7) == [
        round(float(np.abs(part).max()) * 100)
        for part in np.array_split(samples, np.linspace(0, samples.size, 8).astype(int)[1:-1])
    ]


def test_svg_path_is_closed_and_symmetric():
    d = waveform.svg_path([0, 100], width=10, height=100)
    assert d == "M2.5 49.5 L7.5 0.0 L7.5 100.0 L2.5 50.5 Z"
    assert waveform.svg_path([]) == ""


@pytest.mark.django_db
def test_completion_stores_the_peaks_of_the_real_audio(alice):
    job = submitted_job(alice, Job.Status.COMPLETED)
    levels = job.result_metadata["peaks"]
    assert 0 < len(levels) <= waveform.PEAK_COUNT
    # eSpeak's speech, brought to -20 dBFS with peaks held at -1 dBFS: loud
    # somewhere, silent in the gaps between turns.
    assert 50 <= max(levels) <= 90 and min(levels) == 0


@pytest.mark.parametrize("length", [0, 3, 999, 576_000, 576_001, 1_000_000, 2_000_000])
def test_a_stream_meter_gives_the_loudest_sample_of_slices_equal_to_a_block(length):
    samples = np.random.default_rng(length).uniform(-0.9, 0.9, length).astype(np.float32)
    if length:
        samples[length // 3] = -1.0  # one loud sample: its slice says 100
    meter = waveform.StreamMeter()
    for first in range(0, length, 65536):
        meter.add(samples[first : first + 65536])
    levels = meter.levels()
    block_levels = meter.block_levels()
    assert len(block_levels) == -(-length // 576)
    assert list(block_levels) == [round(float(np.abs(samples[a : a + 576]).max()) * 100) for a in range(0, length, 576)]
    if length <= 1000 * 576:  # kept whole while short: exactly peaks()
        assert levels == waveform.peaks(samples)
        assert not meter.long
        return
    assert meter.long and levels == waveform.block_peaks(block_levels)
    assert len(levels) == waveform.PEAK_COUNT
    # Slices cut at block edges: each level is the loudest sample of its slice.
    blocks = -(-length // 576)
    edges = np.linspace(0, blocks, 1001).astype(np.int64) * 576
    expected = [round(float(np.abs(samples[a:b]).max()) * 100) for a, b in zip(edges, edges[1:])]
    assert levels == expected
    assert levels[np.searchsorted(edges, length // 3, side="right") - 1] == 100

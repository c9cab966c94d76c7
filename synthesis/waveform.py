"""A waveform overview of a finished dialogue: peak levels computed once, at
completion, and drawn by the job page as an SVG path (no library).

Plain numpy, no Django: the pipeline feeds the mix to a ``StreamMeter`` as it
is rendered; the page calls ``svg_path`` with what was stored.
"""

import numpy as np

# Enough for a 1,000-turn dialogue's overview to show every turn's shape on a
# wide screen, and small in the job's metadata (about 3.5 KB as JSON).
PEAK_COUNT = 1000
# A long mix is measured in blocks of an MP3 frame (576 samples below 32 kHz,
# half a frame above; 26 ms at 22.05 kHz): a re-render that reuses its
# source's frames (synthesis.splice) reuses the source's block levels with
# them, since its joins and its shift fall on block edges.
BLOCK = 576


class PeakMeter:
    """Peak levels of audio that arrives in chunks, for a render that streams
    the dialogue to its file instead of holding it whole: the total number of
    samples must be known up front (it is: the turns' offsets are computed
    before any sample is written)."""

    def __init__(self, total_samples: int, count: int = PEAK_COUNT):
        self.count = min(count, total_samples)
        # Slice i covers samples [edges[i], edges[i + 1]).
        self.edges = np.linspace(0, total_samples, self.count + 1).astype(np.int64)
        self.loudest = np.zeros(self.count, dtype=np.float32)
        self.position = 0

    def add(self, chunk: np.ndarray) -> "PeakMeter":
        chunk = np.abs(np.asarray(chunk, dtype=np.float32))
        if not chunk.size or not self.count:
            return self
        start, end = self.position, self.position + chunk.size
        first = int(np.searchsorted(self.edges, start, side="right")) - 1
        inside = self.edges[(self.edges > start) & (self.edges < end)] - start
        pieces = np.maximum.reduceat(chunk, np.concatenate(([0], inside)))
        last = min(first + pieces.size, self.count)
        self.loudest[first:last] = np.maximum(self.loudest[first:last], pieces[: last - first])
        self.position = end
        return self

    def levels(self) -> list[int]:
        """Whole percent of full scale (0–100) for each slice."""
        return [int(v) for v in np.rint(np.clip(self.loudest, 0.0, 1.0) * 100)]


class StreamMeter:
    """Peak levels of audio whose length is not known until it ends (the
    render's mix, block by block as the encoder gets it: no decoding of the
    file afterwards). Up to ``count × block`` samples it keeps them and gives
    exactly ``peaks``; past that it keeps the loudest sample of each
    ``block`` samples (``BLOCK``: 26 ms at 22.05 kHz; 4 MB for 6 hours) and
    the slices are cut at block edges, so they are equal to within one block
    and each level is still the loudest sample of its slice."""

    def __init__(self, count: int = PEAK_COUNT, block: int = BLOCK):
        self.count = count
        self.block = block
        self.head: list[np.ndarray] = []  # |samples| while few
        self.head_size = 0
        self.maxima: list[np.ndarray] = []  # of whole blocks
        self.rest = np.zeros(0, dtype=np.float32)  # |samples| after the last whole block

    def add(self, chunk: np.ndarray) -> "StreamMeter":
        chunk = np.abs(np.asarray(chunk, dtype=np.float32))
        if self.head is not None:
            self.head.append(chunk)
            self.head_size += chunk.size
            if self.head_size <= self.count * self.block:
                return self
            chunk, self.head = np.concatenate(self.head), None
        if self.rest.size:
            chunk = np.concatenate([self.rest, chunk])
        whole = chunk.size - chunk.size % self.block
        if whole:
            self.maxima.append(chunk[:whole].reshape(-1, self.block).max(axis=1))
        self.rest = chunk[whole:].copy()
        return self

    def levels(self) -> list[int]:
        if self.head is not None:
            return peaks(np.concatenate(self.head) if self.head else np.zeros(0, np.float32), self.count)
        return block_peaks(self.block_levels(), self.count)

    @property
    def long(self) -> bool:
        """Whether ``levels`` are cut at block edges (``block_peaks``)."""
        return self.head is None

    def block_levels(self) -> np.ndarray:
        """The loudest sample of each block (the last one may be short), in
        whole percent like the levels: what ``block_peaks`` slices."""
        if self.head is not None:
            samples = np.concatenate(self.head) if self.head else np.zeros(0, np.float32)
            whole = samples.size - samples.size % self.block
            maxima = [samples[:whole].reshape(-1, self.block).max(axis=1, initial=0.0)]
            if whole < samples.size:
                maxima.append(samples[whole:].max(keepdims=True))
        else:
            maxima = self.maxima + ([self.rest.max(keepdims=True)] if self.rest.size else [])
        maxima = np.concatenate(maxima) if maxima else np.zeros(0, np.float32)
        return np.rint(np.clip(maxima, 0.0, 1.0) * 100).astype(np.uint8)


class KnownBlocks:
    """A long mix's levels when its block levels are known already (a
    re-render's: synthesis.splice), with StreamMeter's ``levels`` and
    ``block_levels``."""

    long = True

    def __init__(self, block_levels: np.ndarray, count: int = PEAK_COUNT):
        self.blocks = np.asarray(block_levels, dtype=np.uint8)
        self.count = count

    def levels(self) -> list[int]:
        return block_peaks(self.blocks, self.count)

    def block_levels(self) -> np.ndarray:
        return self.blocks


def block_peaks(block_levels: np.ndarray, count: int = PEAK_COUNT) -> list[int]:
    """A long mix's levels from its ``StreamMeter.block_levels``: the
    loudest block of each of ``count`` slices cut at block edges. (Whole
    percent is rounded from the loudest sample, so the loudest rounded
    block is the rounded loudest sample.)"""
    block_levels = np.asarray(block_levels, dtype=np.uint8)
    edges = np.linspace(0, block_levels.size, count + 1).astype(np.int64)
    return [int(v) for v in np.maximum.reduceat(block_levels, edges[:-1])]


def peaks(samples: np.ndarray, count: int = PEAK_COUNT) -> list[int]:
    """The loudest absolute sample of each of ``count`` equal slices of the
    audio, as whole percent of full scale (0–100). Fewer slices when there are
    fewer samples; none for no audio."""
    samples = np.asarray(samples, dtype=np.float32)
    return PeakMeter(samples.size, count).add(samples).levels()


def svg_path(levels: list[int], width: float = 1000.0, height: float = 100.0) -> str:
    """A closed SVG path, symmetric about the middle line, drawing ``levels``
    across ``width`` × ``height`` user units: along the top, then back along
    the bottom."""
    if not levels:
        return ""
    step = width / len(levels)
    middle = height / 2
    top, bottom = [], []
    for i, level in enumerate(levels):
        half = max(level, 1) / 100 * middle  # a hairline where it is silent
        x = f"{(i + 0.5) * step:.1f}"
        top.append(f"{x} {middle - half:.1f}")
        bottom.append(f"{x} {middle + half:.1f}")
    return "M" + " L".join(top) + " L" + " L".join(reversed(bottom)) + " Z"

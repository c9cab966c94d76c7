"""Rendering a dialogue while its turns are still being spoken.

A run used to speak every missing turn, then mix and encode the whole
dialogue: for a 300-turn eSpeak job the engine (a child process) and the
encoder each had the machine to themselves in turn, and the render read back
every turn it had just written. ``RenderAhead`` mixes and encodes in a thread
of its own, right behind the synthesis: each turn is mixed as soon as it is
kept, from memory when it was just spoken (up to ``MEMORY_BYTES`` waiting at
a time; beyond that it is read back from its segment), so the two overlap
and the last turn is followed only by the last few seconds of encoding. The
pipeline does this only for dialogues of short turns (``MAX_TURN_SECONDS``):
two long turns in memory at once (one spoken, one mixed) would break the
memory bound that streaming gives.

The output is exactly the plain render's (``audio.render_dialogue`` over the
segments, at the highest sample rate of the turns): a turn's audio in memory
is the float32 mono signal its lossless segment decodes to. The rate is the
first turn's (or a kept turn's, if higher); if a later turn turns out to
have a higher one, the render ahead is dropped and the run renders again the
plain way once everything is spoken.

The thread never touches the database. The run's own thread keeps checking
for a stop, a cancel and the deadline, and abandons the render ahead on any
error; the render thread only checks whether it was abandoned.
"""

from __future__ import annotations

import functools
import tempfile
import threading
from collections.abc import Callable

import numpy as np

from synthesis import waveform
from synthesis.audio import Audio, render_dialogue
from synthesis.isolation import POLL_SECONDS


class _Abandoned(Exception):
    pass


class _RateChanged(Exception):
    """A turn has a higher sample rate than the render ahead started with."""


class RenderAhead:
    # Turns spoken but not yet mixed are held in memory up to this size
    # (about 6 minutes of 22.05 kHz audio); past it the mix reads them back.
    MEMORY_BYTES = 32 * 2**20
    # The pipeline renders ahead only when no turn is expected to be longer
    # (pipeline.renders_ahead): 2 minutes is 23 MB at 48 kHz.
    MAX_TURN_SECONDS = 120

    def __init__(
        self,
        segments: dict,
        count: int,
        *,
        fmt: str,
        gap_ms: int,
        crossfade_ms: int,
        volumes: list[float] | None = None,
    ):
        """``segments``: the turns already kept (index → Segment), read from
        storage when the mix gets to them; the others arrive by ``offer``.
        ``volumes``: each turn's speaker's volume, as for render_dialogue."""
        self.count = count
        self.fmt, self.gap_ms, self.crossfade_ms = fmt, gap_ms, crossfade_ms
        self.volumes = volumes
        self.rate: int | None = None
        self._kept_rates = [s.sample_rate for s in segments.values()]
        self._segments = dict(segments)
        self._audio: dict[int, Audio] = {}
        self._held = 0
        self._cond = threading.Condition()
        self._abandoned = False
        self._error: BaseException | None = None
        self._result = None
        self._thread = threading.Thread(target=self._run, name="render-ahead", daemon=True)
        self._thread.start()

    # --- the run's thread ----------------------------------------------------

    def offer(self, index: int, segment, audio: Audio) -> None:
        """Turn ``index`` was kept as ``segment``; ``audio`` is what was
        spoken (copied: the mix normalises its turns in place)."""
        samples = audio.samples
        exact = isinstance(samples, np.ndarray) and samples.dtype == np.float32 and samples.ndim == 1
        with self._cond:
            self._segments[index] = segment
            # Anything else is read back from the segment, which is what the
            # plain render would mix (float32, mono).
            if exact and self._held + samples.nbytes <= self.MEMORY_BYTES:
                self._audio[index] = Audio(samples.copy(), audio.sample_rate)
                self._held += samples.nbytes
            self._cond.notify_all()

    def result(self, check: Callable[[], None]):
        """Once every turn was offered: wait for the render, calling
        ``check`` meanwhile (it may raise: the render is then abandoned).
        Returns ``(file, timings, meter, rate)``, the file open and at its
        end and now the caller's; or None when the turns must be rendered
        the plain way (a later turn had a higher sample rate)."""
        try:
            while self._thread.is_alive():
                self._thread.join(POLL_SECONDS)
                if self._thread.is_alive():
                    check()
        except BaseException:
            self.abandon()
            raise
        if isinstance(self._error, _RateChanged):
            return None
        if self._error is not None:
            raise self._error
        result, self._result = self._result, None
        return result

    def abandon(self) -> None:
        """Stop the render (after an error, a stop, a cancel) and drop what
        it wrote. Safe to call more than once, and after ``result``."""
        with self._cond:
            self._abandoned = True
            self._audio.clear()
            self._cond.notify_all()
        self._thread.join()
        if self._result is not None:
            self._result[0].close()
            self._result = None

    # --- the render thread ---------------------------------------------------

    def _take(self, index: int) -> Audio:
        with self._cond:
            while index not in self._segments and not self._abandoned:
                self._cond.wait()
            if self._abandoned:
                raise _Abandoned()
            audio = self._audio.pop(index, None)
            if audio is not None:
                self._held -= audio.samples.nbytes
            segment = self._segments[index]
        if audio is None:
            audio = segment.load()
        if self.rate is not None and audio.sample_rate > self.rate:
            raise _RateChanged()
        return audio

    def _progress(self, phase: str, fraction: float) -> None:
        if self._abandoned:
            raise _Abandoned()

    def _run(self) -> None:
        out = None
        try:
            first = [self._take(0)]
            self.rate = max([first[0].sample_rate, *self._kept_rates])
            # first.pop: the mix gets turn 0 and nothing here holds it after.
            loaders = [first.pop] + [functools.partial(self._take, i) for i in range(1, self.count)]
            meter = waveform.StreamMeter()
            out = tempfile.TemporaryFile(prefix="ttsjobs-render-")
            timings = render_dialogue(
                loaders,
                out,
                fmt=self.fmt,
                gap_ms=self.gap_ms,
                crossfade_ms=self.crossfade_ms,
                sample_rate=self.rate,
                volumes=self.volumes,
                on_progress=self._progress,
                on_block=meter.add,
            )
            self._result = (out, timings, meter, self.rate)
        except BaseException as error:  # handed to the run's thread
            self._error = error
            if out is not None:
                out.close()

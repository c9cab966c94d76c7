"""One synthesis run: from a claimed job to stored audio.

A job is a sequence of turns, and each synthesized turn is kept as a
``Segment`` (a lossless file in storage) the moment it exists. A run
synthesizes only the turns without a segment of the right content key, then
renders the dialogue from the segments, stores it and completes the job. So a
run that dies (SIGKILL, OOM, a deploy, a lost host) costs nothing but the turn
it was on: the job is released back to pending and the next run resumes.

The state moves are the Job's methods; this module only decides what to call
in which order. Every move after the claim carries the run's token, so if the
job was cancelled, reaped or released meanwhile, this run notices at its next
move (or at its next heartbeat) and stops without writing anything.
"""

from __future__ import annotations

import logging
import multiprocessing
import tempfile
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.core.files import File
from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone
from django_q.exceptions import TimeoutException

from synthesis import lexicon, pauses, sentences, splice, versions, waveform
from synthesis.audio import Audio, estimate_duration_seconds, render_dialogue
from synthesis.isolation import POLL_SECONDS, ChildEngine, EngineCrashed, ThreadEngine, engine_for
from synthesis.models import Job, Segment, Waveform
from synthesis.providers import PermanentProviderError, Provider, ProviderError, get_provider
from synthesis.providers.base import Capabilities, VoiceSettings
from synthesis.render_ahead import RenderAhead
from synthesis.segments import content_key, encode_lossless
from synthesis.speakable import has_speech, speakable

log = logging.getLogger("synthesis.jobs")

T = TypeVar("T")

# Set by run_worker when the cluster is asked to stop (SIGTERM). Created at
# import, before django-q2 forks its processes, so every worker shares it: a
# run sees it within POLL_SECONDS, gives its job back and returns.
shutdown = multiprocessing.get_context("fork").Event()

# The errors of a database that stopped answering (a restart, a fail-over, a
# dropped connection), as opposed to errors in what we asked of it.
CONNECTION_ERRORS = (OperationalError, InterfaceError)


class RunAborted(Exception):
    """The run must stop: it hit its deadline or lost the job (cancelled,
    reaped, released)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class RunStopped(Exception):
    """The worker is shutting down: give the job back, keep its segments."""


class RunInterrupted(Exception):
    """A process under the run was killed from outside (the engine's child,
    by the OOM killer or an operator): the run is over, but not because of
    the job. Released to resume from its segments, like a run whose worker
    process was killed, and counted as one of its attempts."""


def _speakable_or_none(text: str) -> str | None:
    text = speakable(text)
    return text if has_speech(text) else None


def lost() -> RunAborted:
    return RunAborted("LOST", "The job was taken away from this worker.")


def batches_for(turns: list[dict], capabilities: Capabilities) -> list[list[dict]]:
    """Split turns at turn boundaries into requests a native provider accepts:
    under its character limit and its number of speakers."""
    batches, current, chars, speakers = [], [], 0, set()
    for turn in turns:
        new_speakers = speakers | {turn["speaker"]}
        if current and (
            chars + len(turn["text"]) > capabilities.max_chars_per_request
            or len(new_speakers) > capabilities.max_speakers
        ):
            batches.append(current)
            current, chars, new_speakers = [], 0, {turn["speaker"]}
        current.append(turn)
        chars += len(turn["text"])
        speakers = new_speakers
    if current:
        batches.append(current)
    return batches


def speaker_settings(params: dict) -> dict[str, VoiceSettings]:
    """Each speaker's voice settings (jobs from before settings: the defaults)."""
    return {a["speaker"]: VoiceSettings.of(a) for a in params["voice_assignments"]}


def renders_ahead(turns: list[dict]) -> bool:
    """Whether to mix and encode while the turns are spoken: only when every
    turn is short (by its text and pauses, synthesis.audio's estimate), so
    the turn being spoken, the one being mixed and those waiting stay small
    together. A dialogue of long turns (a 5,000-character Chinese turn is 20
    minutes, 108 MB) is rendered after its synthesis, one turn in memory."""
    return all(
        estimate_duration_seconds([turn["text"]], 0) + sum(ms for _, ms in turn["pieces"]) / 1000
        <= RenderAhead.MAX_TURN_SECONDS
        for turn in turns
    )


def turn_volumes(params: dict) -> list[float]:
    """Each turn's volume (its speaker's), in the order of the turns: applied
    when the dialogue is mixed, after the loudness matching."""
    voice_settings = speaker_settings(params)
    return [voice_settings[turn["speaker"]].volume for turn in params["turns"]]


class RunHeartbeat:
    """Beat the job's heartbeat from a side thread for the whole run, whatever
    the main thread is doing (a long provider call, rendering, an upload), and
    notice when the job is no longer this run's (a cancel, a reap): ``lost``
    is then set and the main thread stops at its next check."""

    def __init__(self, job: Job, interval: float):
        self.job = job
        self.interval = interval
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = None

    def start(self) -> None:
        if self.interval > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{self.job.pk}", daemon=True)
            self._thread.start()

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    if not self.job.beat():
                        self.lost.set()
                        return
                except CONNECTION_ERRORS:
                    # The database blinked: a fresh connection at the next beat.
                    log.warning("heartbeat failed job_id=%s (database unavailable)", self.job.pk)
                    connection.close()
        finally:
            connection.close()  # this thread's own connection

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def sentence_timings(turns: list[dict], timings: list[tuple[float, float]], offsets: list[list]) -> list[dict]:
    """Each sentence of each turn (as the user wrote it) in the rendered
    file's timeline: the turn's place (render_dialogue's, after resampling,
    gaps and crossfades, which move no sample within a turn) plus the
    sentence's offset within its segment."""
    timed = []
    for turn, (turn_start, turn_end), spoken_offsets in zip(turns, timings, offsets):
        # The user's text as it is read: without its pause markers.
        shown = pauses.strip_pauses(turn["text"])
        for number, (sentence, start, end) in enumerate(sentences.user_sentence_offsets(shown, spoken_offsets)):
            timed.append(
                {
                    "turn_index": turn["index"],
                    "sentence_index": number,
                    "start_ms": min(round(turn_start + start), round(turn_end)),
                    "end_ms": min(round(turn_start + end), round(turn_end)),
                    "text": sentence.text,
                }
            )
    return timed


class SynthesisRun:
    def __init__(self, job: Job, sleep: Callable[[float], None] | None = None):
        self.job = job
        self.sleep = sleep or self._pause
        self.heartbeat = RunHeartbeat(job, settings.TTS_HEARTBEAT_INTERVAL_SECONDS)
        self.ahead: RenderAhead | None = None

    # --- checks, made between steps and while waiting on an engine ---------

    def check(self) -> None:
        """Raise if the run must stop now: the worker is shutting down, the
        job is no longer ours, or the deadline passed."""
        if shutdown.is_set():
            raise RunStopped()
        if self.heartbeat.lost.is_set():
            raise lost()
        self.check_deadline()

    def check_deadline(self, needed_seconds: float = 0.0) -> None:
        if timezone.now().timestamp() + needed_seconds >= self.job.deadline_at.timestamp():
            raise RunAborted(
                "TIMEOUT",
                f"The job ran past its {settings.TTS_JOB_DEADLINE_SECONDS // 60}-minute limit and was stopped.",
            )

    def _pause(self, seconds: float) -> None:
        """Sleep between retries, but wake for a stop or a cancel."""
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            if shutdown.wait(min(left, POLL_SECONDS)):
                break
            self.check()
        self.check()

    def db(self, operation: Callable[[], T]) -> T:
        """Run a database operation, riding out a database that stops
        answering for up to TTS_DB_RETRY_SECONDS: the connection is dropped
        and the operation tried again on a new one."""
        give_up = time.monotonic() + settings.TTS_DB_RETRY_SECONDS
        delay = 0.2
        while True:
            try:
                return operation()
            except CONNECTION_ERRORS:
                # Inside an outer transaction (tests) a new connection would
                # lose it: let the error through.
                if connection.in_atomic_block or time.monotonic() + delay > give_up:
                    raise
                log.warning("database unavailable job_id=%s; retrying in %.1fs", self.job.pk, delay)
                connection.close()
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    # --- synthesis -------------------------------------------------------

    def with_retries(self, call: Callable[[], T]) -> T:
        """Run ``call`` retrying transient provider errors with the configured
        backoff; a permanent error, or a transient one after the last retry,
        propagates."""
        delays = list(settings.TTS_RETRY_DELAYS)
        attempt = 0
        while True:
            self.check()
            try:
                return call()
            except ProviderError as error:
                if not error.transient or attempt >= len(delays):
                    raise
                delay = max(delays[attempt], min(error.retry_after or 0, 60))
                attempt += 1
                # Waiting past the deadline is pointless: stop now with TIMEOUT.
                self.check_deadline(delay)
                if not self.db(self.job.record_retry):
                    raise lost() from None
                log.info(
                    "job retried job_id=%s attempt=%d delay=%.3fs error=%s", self.job.pk, attempt, delay, error.code
                )
                self.sleep(delay)

    def spoken_turns(self) -> list[dict]:
        """The turns as the engines get them: cut at their pauses
        (synthesis.pauses: ``pieces``, [(text or None, pause_ms)]), each piece
        without emoji, kaomoji and punctuation runs (synthesis.speakable),
        whichever the provider, then with the job's pronunciation dictionary
        applied (the entries it recorded at submission: synthesis.lexicon;
        pieces, never markers); ``text`` is what is said, without markers. A
        turn with nothing to say and no pause ends the job before any engine
        is paid; a turn that is only a pause is that silence."""
        entries = [lexicon.Entry.from_dict(item) for item in self.job.lexicon or () if item.get("applied", True)]

        def clean(words: str) -> str | None:
            words = lexicon.apply(speakable(words), entries)
            return words if has_speech(words) else None

        turns = []
        for position, turn in enumerate(self.job.input_params["turns"]):
            pieces = pauses.spoken_pieces(turn["text"], clean)
            if not any(words for words, _ in pieces) and not sum(ms for _, ms in pieces):
                raise RunAborted(
                    "NO_AUDIO",
                    f"Turn {position + 1} ({turn['speaker']}) has nothing to say once emoji and symbols are left out.",
                )
            # Engines get the pieces, never ``text`` (what is said, for
            # counting and logs): a transform of what is spoken (a
            # pronunciation dictionary) applies to each piece's words.
            text = pauses.join_words(words for words, _ in pieces if words)
            turns.append(turn | {"text": text, "pieces": pieces})
        return turns

    def turn_keys(self, provider: Provider, turns: list[dict]) -> list[str]:
        """Each turn's content key; ``turns`` as the engine gets them (spoken_turns).
        The pauses are part of it: a turn's segment is the whole turn, pauses included."""
        params = self.job.input_params
        voices = {a["speaker"]: a["voice_id"] for a in params["voice_assignments"]}
        voice_settings = speaker_settings(params)
        mode = "native" if provider.capabilities.native_multi_speaker else "segmented"
        return [
            content_key(
                provider=provider.name,
                engine_version=provider.engine_version(voices[turn["speaker"]]),
                voice_id=voices[turn["speaker"]],
                language=params.get("language"),
                text=pauses.canonical(turn["pieces"]),
                mode=mode,
                voice_settings=voice_settings[turn["speaker"]].sound(),
            )
            for turn in turns
        ]

    def kept_segments(self, keys: list[str]) -> dict[int, Segment]:
        """The job's segments that still match their turn; others (the engine
        was upgraded since, the input was edited) are deleted."""
        kept, stale = {}, []
        for segment in Segment.objects.filter(job=self.job):
            if segment.turn_index < len(keys) and segment.content_key == keys[segment.turn_index]:
                kept[segment.turn_index] = segment
            else:
                stale.append(segment)
        if stale:
            self.job.delete_segments(stale)
        return kept

    def keep(self, kept: dict[int, Segment], index: int, key: str, piece: Audio, text: str) -> None:
        """Keep ``piece``, the audio of ``text`` (as the engine got it), with
        where each of its sentences is (synthesis.sentences)."""
        data, ext = encode_lossless(piece)
        done = len(kept) + 1
        offsets = sentences.sentence_offsets(text, piece)
        segment = self.db(
            lambda: self.job.keep_segment(
                index,
                key,
                data,
                ext,
                frames=len(piece.samples),
                sample_rate=piece.sample_rate,
                done=done,
                sentences=offsets,
            )
        )
        if segment is None:
            raise lost()
        kept[index] = segment
        if self.ahead is not None:
            self.ahead.offer(index, segment, piece)

    def synthesize_missing(
        self,
        provider: Provider,
        engine: ThreadEngine | ChildEngine,
        turns: list[dict],
        keys: list[str],
        kept: dict[int, Segment],
    ) -> None:
        """Synthesize the turns without a kept segment, keeping each as it
        comes. A turn with pauses is spoken piece by piece (the markers never
        reach an engine) and kept whole, its pieces joined with exactly the
        silence written (synthesis.pauses.join_with_pauses)."""
        params = self.job.input_params
        voices = {a["speaker"]: a["voice_id"] for a in params["voice_assignments"]}
        voice_settings = speaker_settings(params)
        language = params.get("language")
        missing = [dict(turns[i], position=i) for i in range(len(turns)) if i not in kept]
        # A turn that is only a pause has no engine audio to take a rate
        # from: the provider's lowest, so it never raises the mix's rate.
        rate = min(provider.capabilities.sample_rates)

        def keep_turn(turn: dict, spoken: list) -> None:
            pieces = [(audio, ms) for audio, (_, ms) in zip(spoken, turn["pieces"])]
            turn_rate = max((audio.sample_rate for audio in spoken if audio is not None), default=rate)
            audio, spans = pauses.join_with_pauses(pieces, turn_rate)
            audio.marks = sentences.joined_marks(turn["pieces"], spoken, spans, turn_rate)
            self.keep(kept, turn["position"], keys[turn["position"]], audio, turn["text"])

        if provider.capabilities.native_multi_speaker:
            # Each piece of speech is one input of the native request, so a
            # turn with pauses is several consecutive inputs of its voice; a
            # turn is kept once all its pieces are back (a batch may end
            # between two pieces of one turn).
            spoken = {turn["position"]: [None] * len(turn["pieces"]) for turn in missing}
            waiting = {turn["position"]: sum(1 for words, _ in turn["pieces"] if words) for turn in missing}
            inputs = []
            for turn in missing:
                if not waiting[turn["position"]]:
                    keep_turn(turn, spoken[turn["position"]])  # only a pause: no request
                for number, (words, _) in enumerate(turn["pieces"]):
                    if words:
                        inputs.append({"speaker": turn["speaker"], "text": words, "turn": turn, "piece": number})
            for batch in batches_for(inputs, provider.capabilities):
                request = [(item["text"], voices[item["speaker"]]) for item in batch]
                settings_of_batch = [voice_settings[item["speaker"]] for item in batch]
                # The call runs inside with_retries before the loop moves on: binding is safe.
                result = self.with_retries(
                    lambda request=request, batch_settings=settings_of_batch: engine.synthesize_dialogue(
                        request, language, self.check, batch_settings
                    )
                )
                for item, audio in zip(batch, result.turns):
                    position = item["turn"]["position"]
                    spoken[position][item["piece"]] = audio
                    waiting[position] -= 1
                    if not waiting[position]:
                        keep_turn(item["turn"], spoken[position])
            return
        for turn in missing:
            voice, settings_of_turn = voices[turn["speaker"]], voice_settings[turn["speaker"]]
            spoken = [
                self.speak(engine, provider, turn, words, voice, language, settings_of_turn) if words else None
                for words, _ in turn["pieces"]
            ]
            keep_turn(turn, spoken)

    def speak(self, engine, provider: Provider, turn: dict, text: str, voice: str, language, settings_of_turn) -> Audio:
        """One piece of a turn from a segmented provider, with retries."""
        try:
            return self.with_retries(lambda: engine.synthesize(text, voice, language, self.check, settings_of_turn))
        except EngineCrashed as crash:
            if crash.killed_from_outside:
                # Not the text's doing: a SIGKILL (the OOM killer, an
                # operator) or a stop sent to the whole process group.
                log.warning(
                    "engine process killed job_id=%s provider=%s turn=%d how=%s",
                    self.job.pk,
                    provider.name,
                    turn["position"],
                    crash.how,
                )
                if shutdown.is_set():
                    raise RunStopped() from None
                raise RunInterrupted(crash.how) from None
            # Permanent: the same text would crash the engine again.
            log.error(
                "engine crashed job_id=%s provider=%s turn=%d how=%s",
                self.job.pk,
                provider.name,
                turn["position"],
                crash.how,
            )
            raise PermanentProviderError(
                f"The speech engine crashed on turn {turn['position'] + 1} ({turn['speaker']}); "
                "this text cannot be spoken with this voice.",
                code="ENGINE_CRASHED",
            ) from None

    # --- rendering and storing -------------------------------------------

    def on_render_progress(self, phase: str, fraction: float) -> None:
        # The heartbeat thread keeps the job alive (and notices a cancel);
        # this is where a cancel, a stop or the deadline interrupts a long
        # render, between two blocks of output.
        self.check()

    def render(self, segments: list[Segment]):
        """Render the dialogue from the kept segments into a temporary file:
        ``(file, timings, meter, rate)`` (the meter: waveform.StreamMeter). audio.render_dialogue streams: each
        segment is read from storage when the mix reaches it, and memory
        holds about one turn, whatever the dialogue's length."""
        params = self.job.input_params
        rate = max(s.sample_rate for s in segments)
        meter = waveform.StreamMeter()
        out = tempfile.TemporaryFile(prefix="ttsjobs-render-")
        try:
            timings = render_dialogue(
                [segment.load for segment in segments],
                out,
                fmt=self.job.output_format,
                gap_ms=params["gap_ms"],
                crossfade_ms=params["crossfade_ms"],
                sample_rate=rate,
                # Volume is the mix's, not the engine's: a kept turn serves any volume.
                volumes=turn_volumes(params),
                on_progress=self.on_render_progress,
                on_block=meter.add,
            )
        except BaseException:
            out.close()
            raise
        return out, timings, meter, rate

    def splice(self, segments: list[Segment]):
        """A new version's render from its source's MP3 file, mixing and
        encoding only around what changed (synthesis.splice): like
        ``render``'s result, or None when the source's file can't be reused."""
        out = tempfile.TemporaryFile(prefix="ttsjobs-render-")
        try:
            spliced = splice.render_from_source(
                self.job,
                segments,
                out,
                volumes_of=turn_volumes,
                on_progress=lambda: self.on_render_progress("encoding", 0.0),
            )
        except BaseException:
            out.close()
            raise
        if spliced is None:
            out.close()
            return None
        self.gap_padding = spliced.pads
        return out, spliced.timings, spliced.meter, max(s.sample_rate for s in segments)

    def render_and_store(self, segments: list[Segment], mode: str, spoken: list[str] | None = None) -> str:
        """Render the dialogue (or take what the render ahead made of it),
        store it, complete the job. Returns the stored name (for clean-up if
        the completion is refused). ``spoken``: each turn's text as the
        engine got it, to time the sentences of segments kept before they
        were timed (from their pauses: they are read once more for that)."""
        job, params = self.job, self.job.input_params
        offsets = [
            segment.sentences or (sentences.sentence_offsets(spoken[n], segment.load()) if spoken and spoken[n] else [])
            for n, segment in enumerate(segments)
        ]
        rendered = self.ahead.result(self.check) if self.ahead is not None else None
        self.gap_padding = {}
        if rendered is None and job.based_on_id:
            rendered = self.splice(segments)
        out, timings, meter, rate = rendered or self.render(segments)
        with out:
            size = out.tell()
            self.check()
            out.seek(0)
            stored_name = job.audio.field.generate_filename(job, f"audio.{job.output_format}")
            stored_name = job.audio.storage.save(stored_name, File(out))
        self.stored_name = stored_name
        metadata = {
            # The last turn ends the track, so its end is the duration.
            "duration_ms": round(timings[-1][1]),
            # From the first pickup, over every run of a resumed job (the
            # waits between them included), to the audio being stored.
            "latency_ms": int((timezone.now() - (job.first_started_at or job.started_at)).total_seconds() * 1000),
            "synthesis_mode": mode,
            "sample_rate": rate,
            "peaks": meter.levels(),
            "format": job.output_format,
            "size_bytes": size,
            "attempts": job.attempts,
            # The original contract's shape; `speaker` is our addition.
            "turn_timings": [
                {
                    "turn_index": turn["index"],
                    "speaker": turn["speaker"],
                    "start_ms": round(start),
                    "end_ms": round(end),
                }
                for turn, (start, end) in zip(params["turns"], timings)
            ],
            "sentence_timings": sentence_timings(params["turns"], timings, offsets),
        }
        if self.gap_padding:
            # Samples of silence added to the gap before these turns, so the
            # source's MP3 frames after them could be reused (synthesis.splice).
            metadata["gap_padding"] = sorted([turn, samples] for turn, samples in self.gap_padding.items())
        if job.based_on_id:
            # A new version: how many turns were copied from the one it is
            # based on rather than spoken (copies keep their original's date,
            # so this holds across a resumed run too: versions.reuse_segments).
            metadata["reused_turns"] = sum(1 for segment in segments if segment.created_at < job.created_at)
        if job.output_format == "mp3" and meter.long:
            # For a new version based on this one (synthesis.splice). Kept
            # first: a job completes with it or not at all (if this run loses
            # the job, the row goes with the job).
            blocks = meter.block_levels().tobytes()
            self.db(
                lambda: Waveform.objects.update_or_create(job=job, defaults={"block": waveform.BLOCK, "levels": blocks})
            )
        if not self.db(lambda: job.complete(stored_name, metadata)):
            raise lost()
        self.stored_name = None  # the job's now
        return stored_name

    # --- the run ---------------------------------------------------------

    def run(self) -> None:
        job = self.job
        provider = get_provider(job.provider)
        if provider is None:
            self.db(
                lambda: job.fail(
                    "PROVIDER_UNAVAILABLE", f"The {job.provider} provider is not available on this server."
                )
            )
            return
        self.stored_name = None
        self.ahead = None
        engine = engine_for(provider)
        try:
            turns = self.spoken_turns()
            keys = self.turn_keys(provider, turns)
            kept = self.db(lambda: self.kept_segments(keys))
            # A new version of an edited dialogue: what didn't change is
            # copied from the version it came from, not spoken again.
            if job.based_on_id and len(kept) < len(keys) and self.db(lambda: versions.reuse_segments(job, keys)):
                kept = self.db(lambda: self.kept_segments(keys))
            if job.attempts > 1:
                self.delete_leftovers()
            if len(kept) < len(keys):
                engine.prepare()
            self.heartbeat.start()
            if kept:
                log.info("job resumed job_id=%s kept=%d of %d", job.pk, len(kept), len(keys))
                if not self.db(lambda: job.record_progress(len(kept))):
                    raise lost()
            # A new version that can reuse its source's file mixes and encodes
            # only around its changes once they are spoken (synthesis.splice).
            reuses_file = job.based_on_id and self.db(lambda: splice.source_of(job)) is not None
            if len(kept) < len(keys) and renders_ahead(turns) and not reuses_file:
                # Mix and encode while the turns are spoken (synthesis.render_ahead).
                self.ahead = RenderAhead(
                    kept,
                    len(keys),
                    fmt=job.output_format,
                    gap_ms=job.input_params["gap_ms"],
                    crossfade_ms=job.input_params["crossfade_ms"],
                    volumes=turn_volumes(job.input_params),
                )
            try:
                self.synthesize_missing(provider, engine, turns, keys, kept)
            except BaseException:
                self._abandon_render()
                raise
            finally:
                engine.close()
            mode = "native" if provider.capabilities.native_multi_speaker else "segmented"
            self.render_and_store([kept[i] for i in range(len(keys))], mode, [turn["text"] for turn in turns])
        except RunStopped:
            self._discard()
            if self.db(lambda: job.release("worker stopping")):
                log.info("job handed back job_id=%s (worker stopping)", job.pk)
        except RunInterrupted as interrupted:
            self._discard()
            self._interrupted(str(interrupted))
        except RunAborted as aborted:
            self._discard()
            if aborted.code == "LOST":
                self._after_lost()
            else:
                code, message = aborted.code, aborted.message
                self.db(lambda: job.fail(code, message))
        except ProviderError as error:
            self._discard()
            code, message = error.code or "PROVIDER_ERROR", error.message
            self.db(lambda: job.fail(code, message))
        except TimeoutException:
            # django-q2's hard timeout (SIGALRM, a SystemExit) fired inside a
            # provider call that ignored our deadline: end the job the same way
            # and let django-q2 finish its handling.
            self._discard()
            job.fail(
                "TIMEOUT",
                f"The job ran past its {settings.TTS_JOB_DEADLINE_SECONDS // 60}-minute limit and was stopped.",
            )
            raise
        except CONNECTION_ERRORS:
            # Log first: the database may not answer what comes next. The
            # worker is fine; give the job back so it resumes from its
            # segments instead of waiting to be found as a lost worker.
            log.exception("job lost its database connection job_id=%s", job.pk)
            self._discard()
            try:
                connection.close()
                if self.db(lambda: job.release("database unavailable")):
                    return
            except CONNECTION_ERRORS:
                log.warning("job could not be released job_id=%s; the reaper will", job.pk)
        except BaseException as error:
            if isinstance(error, Exception) and self._taken_away():
                # A cancel deleted the segments this run was reading: not a bug.
                self._discard()
                self._after_lost()
                return
            # Anything else (a bug, a signal) must still end the job with a
            # reason and leave no file. Log first: failing may raise too.
            log.exception("job crashed job_id=%s", job.pk)
            self._discard()
            try:
                self.db(lambda: job.fail("INTERNAL_ERROR", "Synthesis failed unexpectedly; the error has been logged."))
            except Exception:
                log.exception("job could not be failed job_id=%s", job.pk)
            if not isinstance(error, Exception):
                raise
        finally:
            self._abandon_render()
            self.heartbeat.stop()

    def _abandon_render(self) -> None:
        if self.ahead is not None:
            self.ahead.abandon()
            self.ahead = None

    def delete_leftovers(self) -> None:
        """A resumed run first deletes what the interrupted one stored but
        never recorded; cleanup's orphan sweep would, but only an hour later."""
        try:
            deleted = self.db(self.job.delete_segment_leftovers)
        except CONNECTION_ERRORS:
            raise
        except Exception:
            log.exception("could not delete segment leftovers job_id=%s", self.job.pk)
            return
        if deleted:
            log.info("job resumed job_id=%s deleted %d unrecorded segment file(s)", self.job.pk, deleted)

    def _interrupted(self, how: str) -> None:
        """Release the job to resume (this run counts as an attempt), or
        fail it as a lost worker would once its attempts are used up."""
        job = self.job
        if job.attempts >= settings.TTS_MAX_ATTEMPTS:
            self.db(
                lambda: job.fail(
                    "WORKER_LOST",
                    f"The job was interrupted {settings.TTS_MAX_ATTEMPTS} times (the worker running it stopped).",
                )
            )
        elif self.db(lambda: job.release(f"engine process {how}", counts=True)):
            log.info("job handed back job_id=%s (engine process %s)", job.pk, how)

    def _taken_away(self) -> bool:
        try:
            return not Job.objects.filter(
                pk=self.job.pk, status=Job.Status.PROCESSING, run_token=self.job.run_token
            ).exists()
        except Exception:
            return False

    def _after_lost(self) -> None:
        """The job is no longer ours. If it was cancelled, make sure none of
        its segments outlive it (the canceller deleted those it saw)."""
        try:
            self.job.refresh_from_db(fields=["status"])
            if self.job.status == Job.Status.CANCELLED:
                self.job.discard_segments()
        except Exception:
            log.exception("could not clean up after a lost job job_id=%s", self.job.pk)

    def _discard(self) -> None:
        if self.stored_name:
            try:
                self.job.audio.storage.delete(self.stored_name)
            except Exception:
                log.exception("could not delete partial audio job_id=%s", self.job.pk)
            self.stored_name = None

"""One synthesis run: from a claimed job to stored audio.

The state moves are the Job's methods; this module only decides what to call
in which order. Every move after the claim carries the run's token, so if the
reaper failed the job meanwhile (a stale heartbeat) this run notices at its
next move and stops without writing anything.
"""

import logging
import threading
import time

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection
from django.utils import timezone
from django_q.exceptions import TimeoutException

from synthesis import audio, waveform
from synthesis.audio import Audio
from synthesis.providers import ProviderError, get_provider
from synthesis.speakable import has_speech, speakable

log = logging.getLogger("synthesis.jobs")


class RunAborted(Exception):
    """The run must stop: it hit its deadline or lost the job to the reaper."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def batches_for(turns: list[dict], capabilities) -> list[list[dict]]:
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


class HeartbeatDuringCall:
    """Beat the job's heartbeat from a side thread while one provider call
    runs. A single request to a cloud engine (a long native batch) can outlast
    the reaper's staleness threshold although this worker is alive and merely
    waiting; the heartbeat after each turn cannot cover that."""

    def __init__(self, job, interval: float):
        self.job = job
        self.interval = interval
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        if self.interval > 0:
            self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{self.job.pk}", daemon=True)
            self._thread.start()
        return self

    def _beat(self):
        try:
            while not self._stop.wait(self.interval):
                if not self.job.beat():
                    return  # the run lost the job; the main thread finds out at its next move
        finally:
            connection.close()  # this thread's own connection

    def __exit__(self, *exc_info):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return False


class SynthesisRun:
    def __init__(self, job, sleep=time.sleep):
        self.job = job
        self.sleep = sleep

    def check_deadline(self, needed_seconds: float = 0.0):
        if timezone.now().timestamp() + needed_seconds >= self.job.deadline_at.timestamp():
            raise RunAborted(
                "TIMEOUT",
                f"The job ran past its {settings.TTS_JOB_DEADLINE_SECONDS // 60}-minute limit and was stopped.",
            )

    def with_retries(self, call):
        """Run ``call`` retrying transient provider errors with the configured
        backoff; a permanent error, or a transient one after the last retry,
        propagates."""
        delays = list(settings.TTS_RETRY_DELAYS)
        attempt = 0
        while True:
            self.check_deadline()
            try:
                with HeartbeatDuringCall(self.job, settings.TTS_HEARTBEAT_INTERVAL_SECONDS):
                    return call()
            except ProviderError as error:
                if not error.transient or attempt >= len(delays):
                    raise
                delay = max(delays[attempt], min(error.retry_after or 0, 60))
                attempt += 1
                # Waiting past the deadline is pointless: stop now with TIMEOUT.
                self.check_deadline(delay)
                if not self.job.record_retry():
                    raise RunAborted("LOST", "The job was taken away from this worker.") from None
                log.info(
                    "job retried job_id=%s attempt=%d delay=%.3fs error=%s", self.job.pk, attempt, delay, error.code
                )
                self.sleep(delay)

    def spoken_turns(self) -> list[dict]:
        """The turns as the engines get them: without emoji, kaomoji and
        punctuation runs (synthesis.speakable), whichever the provider. A turn
        with nothing left to say ends the job before any engine is paid."""
        turns = []
        for position, turn in enumerate(self.job.input_params["turns"]):
            text = speakable(turn["text"])
            if not has_speech(text):
                raise RunAborted(
                    "NO_AUDIO",
                    f"Turn {position + 1} ({turn['speaker']}) has nothing to say once emoji and symbols are left out.",
                )
            turns.append(turn | {"text": text})
        return turns

    def synthesize_turns(self, provider) -> tuple[list[Audio], str]:
        params = self.job.input_params
        voices = {a["speaker"]: a["voice_id"] for a in params["voice_assignments"]}
        language = params.get("language")
        turns = self.spoken_turns()
        pieces: list[Audio] = []
        if provider.capabilities.native_multi_speaker:
            for batch in batches_for(turns, provider.capabilities):
                request = [(t["text"], voices[t["speaker"]]) for t in batch]
                # The call runs inside with_retries before the loop moves on: binding is safe.
                result = self.with_retries(lambda request=request: provider.synthesize_dialogue(request, language))
                pieces.extend(result.turns)
                self.progress(len(pieces))
            return pieces, "native"
        for turn in turns:
            text, voice = turn["text"], voices[turn["speaker"]]
            piece = self.with_retries(lambda text=text, voice=voice: provider.synthesize(text, voice, language))
            pieces.append(piece)
            self.progress(len(pieces))
        return pieces, "segmented"

    def progress(self, done: int):
        if not self.job.record_progress(done):
            raise RunAborted("LOST", "The job was taken away from this worker.")

    def run(self):
        job = self.job
        provider = get_provider(job.provider)
        if provider is None:
            job.fail("PROVIDER_UNAVAILABLE", f"The {job.provider} provider is not available on this server.")
            return
        stored_name = None
        try:
            pieces, mode = self.synthesize_turns(provider)
            params = job.input_params
            mix, timings = audio.assemble_dialogue(pieces, params["gap_ms"], params["crossfade_ms"])
            data = audio.encode(mix, job.output_format)
            self.check_deadline()
            stored_name = job.audio.field.generate_filename(job, f"audio.{job.output_format}")
            stored_name = job.audio.storage.save(stored_name, ContentFile(data))
            metadata = {
                "duration_ms": round(mix.duration_ms),
                "latency_ms": int((timezone.now() - job.started_at).total_seconds() * 1000),
                "synthesis_mode": mode,
                "sample_rate": mix.sample_rate,
                "peaks": waveform.peaks(mix.samples),
                "format": job.output_format,
                "size_bytes": len(data),
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
            }
            if not job.complete(stored_name, metadata):
                raise RunAborted("LOST", "The job was taken away from this worker.")
        except RunAborted as aborted:
            self._discard(stored_name)
            if aborted.code != "LOST":
                job.fail(aborted.code, aborted.message)
        except ProviderError as error:
            self._discard(stored_name)
            job.fail(error.code or "PROVIDER_ERROR", error.message)
        except TimeoutException:
            # django-q2's hard timeout (SIGALRM, a SystemExit) fired inside a
            # provider call that ignored our deadline: end the job the same way
            # and let django-q2 finish its handling.
            self._discard(stored_name)
            job.fail(
                "TIMEOUT",
                f"The job ran past its {settings.TTS_JOB_DEADLINE_SECONDS // 60}-minute limit and was stopped.",
            )
            raise
        except BaseException as error:
            # Anything else (a bug, a signal) must still end the job with a
            # reason and leave no file.
            self._discard(stored_name)
            job.fail("INTERNAL_ERROR", "Synthesis failed unexpectedly; the error has been logged.")
            log.exception("job crashed job_id=%s", job.pk)
            if not isinstance(error, Exception):
                raise

    def _discard(self, stored_name):
        if stored_name:
            try:
                self.job.audio.storage.delete(stored_name)
            except Exception:
                log.exception("could not delete partial audio job_id=%s", self.job.pk)

"""Failure injection around the real engine.

These wrap the real eSpeak provider and, when told to, raise the errors a
remote engine would: they exist to drive the worker's retry and deadline
logic, which cannot be provoked from eSpeak itself.
"""

import ctypes
import os
import time

from synthesis.providers.base import PermanentProviderError, TransientProviderError
from synthesis.providers.espeak import EspeakProvider


class ScriptedEspeak(EspeakProvider):
    name = "scripted"
    label = "eSpeak with scripted failures (tests)"
    # A stand-in for a remote engine: it runs in the worker process, so the
    # test sees its script and its call count.
    isolated = False
    # As a remote engine's voices, its takes of a line may differ: the job
    # page offers "regenerate this line" for its jobs.
    deterministic = False

    def __init__(self):
        self.script: list = []  # errors to raise (in order) before speaking
        # Seconds per call; worker processes started by tests set it from the environment.
        self.delay = float(os.getenv("TTS_TEST_TURN_DELAY", "0"))
        self.calls = 0
        self.on_call = None  # called once per call, before speaking (a test moves its clock)

    def synthesize(self, text, voice_id, language=None, **kwargs):
        self.calls += 1
        if self.on_call is not None:
            self.on_call()
        if self.delay:
            time.sleep(self.delay)
        if self.script:
            raise self.script.pop(0)
        return super().synthesize(text, voice_id, language, **kwargs)


def transient(message="The engine is busy.", retry_after=None):
    return TransientProviderError(message, code="ENGINE_BUSY", retry_after=retry_after)


def permanent(message="That voice cannot read this text."):
    return PermanentProviderError(message, code="ENGINE_REFUSED")


# A turn containing this makes CrashingEspeak's process segfault.
CRASH_WORD = "segfault"


class CrashingEspeak(EspeakProvider):
    """eSpeak, except that a turn containing CRASH_WORD crashes the process
    for real (a NULL read through ctypes: SIGSEGV), as libespeak-ng 1.52 does
    on a few texts. The pipeline's text clean-up happens to strip the dashes
    of the known repro ("---लच्छेद" with "hi"), so this stands in for the
    texts we do not know. Isolated like eSpeak: the crash hits the engine's
    child process."""

    name = "crashing"
    label = "eSpeak that segfaults on a word (tests)"
    isolated = True

    def __init__(self):
        # Seconds per call, spent in the engine's child process (so a test
        # can kill it mid-call); worker processes set it from the environment.
        self.delay = float(os.getenv("TTS_TEST_TURN_DELAY", "0"))

    def synthesize(self, text, voice_id, language=None, **kwargs):
        if self.delay:
            time.sleep(self.delay)
        if CRASH_WORD in text:
            ctypes.string_at(0)
        return super().synthesize(text, voice_id, language, **kwargs)


class RecordingEspeak(EspeakProvider):
    """eSpeak that remembers the text of every call (in this process): what
    the pipeline really hands an engine."""

    name = "recording"
    label = "eSpeak that records its texts (tests)"
    isolated = False
    texts: list[str] = []

    def synthesize(self, text, voice_id, language=None, **kwargs):
        RecordingEspeak.texts.append(text)
        return super().synthesize(text, voice_id, language, **kwargs)

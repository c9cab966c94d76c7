"""Failure injection around the real engine.

These wrap the real eSpeak provider and, when told to, raise the errors a
remote engine would: they exist to drive the worker's retry and deadline
logic, which cannot be provoked from eSpeak itself.
"""

import os
import time

from synthesis.providers.base import PermanentProviderError, TransientProviderError
from synthesis.providers.espeak import EspeakProvider


class ScriptedEspeak(EspeakProvider):
    name = "scripted"
    label = "eSpeak with scripted failures (tests)"

    def __init__(self):
        self.script: list = []  # errors to raise (in order) before speaking
        # Seconds per call; worker processes started by tests set it from the environment.
        self.delay = float(os.getenv("TTS_TEST_TURN_DELAY", "0"))
        self.calls = 0

    def synthesize(self, text, voice_id, language=None):
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        if self.script:
            raise self.script.pop(0)
        return super().synthesize(text, voice_id, language)


def transient(message="The engine is busy.", retry_after=None):
    return TransientProviderError(message, code="ENGINE_BUSY", retry_after=retry_after)


def permanent(message="That voice cannot read this text."):
    return PermanentProviderError(message, code="ENGINE_REFUSED")

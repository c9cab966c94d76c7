"""Settings for worker processes started by tests: the real settings plus the
failure-injecting provider of tests/engines.py."""

from ttsjobs.settings import *  # noqa: F403

TTS_PROVIDER_CLASSES = [
    "synthesis.providers.espeak.EspeakProvider",
    "tests.engines.ScriptedEspeak",
    "tests.engines.CrashingEspeak",
]

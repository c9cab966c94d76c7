"""The interface every speech provider implements.

Plain Python: no Django, no database. A provider takes text and a voice id and
returns PCM samples; the worker (``synthesis.pipeline``) handles retries, progress
and storage, so a provider only has to say whether a failure is worth retrying.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from synthesis.audio import Audio
from synthesis.language import same_language


@dataclass(frozen=True)
class Voice:
    id: str  # stable: stored in jobs, so never derived from list order
    name: str
    language: str
    gender: str | None = None

    def as_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "language": self.language, "gender": self.gender}


@dataclass(frozen=True)
class Capabilities:
    native_multi_speaker: bool = False
    max_speakers: int = 50
    max_chars_per_request: int = 5000
    sample_rates: tuple[int, ...] = (22050,)
    output_formats: tuple[str, ...] = ("pcm",)

    def as_dict(self) -> dict:
        return {
            "native_multi_speaker": self.native_multi_speaker,
            "max_speakers": self.max_speakers,
            "max_chars_per_request": self.max_chars_per_request,
            "sample_rates": list(self.sample_rates),
        }


@dataclass
class DialogueAudio:
    """What a native multi-speaker provider returns for a batch of turns:
    one Audio per turn, in order (split from the provider's single response
    using its boundary data)."""

    turns: list[Audio] = field(default_factory=list)


class ProviderError(Exception):
    """A synthesis failure. ``message`` is shown to the user: it must never
    contain a secret."""

    transient = False

    def __init__(self, message: str, *, code: str = "PROVIDER_ERROR", retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.retry_after = retry_after


class TransientProviderError(ProviderError):
    """Worth retrying: timeouts, connection errors, rate limits, 5xx."""

    transient = True


class PermanentProviderError(ProviderError):
    """Retrying cannot help: bad voice, unsupported text, auth failure."""

    transient = False


class Provider:
    """Base class. Subclasses set ``name``, ``label`` and ``capabilities`` and
    implement ``voices`` and ``synthesize``; native multi-speaker providers also
    implement ``synthesize_dialogue``."""

    name: str = ""
    label: str = ""
    capabilities: Capabilities = Capabilities()
    # Native code in this process (ctypes, onnxruntime): the worker runs the
    # engine in a child process, so a crash fails one job, not the worker.
    isolated: bool = False

    def is_available(self) -> bool:
        return True

    def voices(self) -> list[Voice]:
        raise NotImplementedError

    def voice_ids(self) -> set[str]:
        return {v.id for v in self.voices()}

    def default_voices(self, count: int, language: str | None = None) -> list[str]:
        """``count`` voice ids, different from each other where possible,
        preferring ``language``: the defaults for a new dialogue's speakers."""
        voices = self.voices()
        if language:
            # The exact tag first (Azure's zh-TW voices for zh-TW), then any
            # voice speaking the language (zh-CN ones: Mandarin too).
            exact = [v for v in voices if v.language.lower() == language.lower()]
            speaking = [v for v in voices if v not in exact and same_language(v.language, language)]
            preferred = exact + speaking
            voices = preferred + [v for v in voices if v not in preferred]
        ids = [v.id for v in voices]
        return [ids[i % len(ids)] for i in range(count)] if ids else []

    def engine_version(self, voice_id: str) -> str:
        """Whatever, besides the text, voice and language, decides how
        ``voice_id`` sounds here (engine release, model, settings): part of a
        kept segment's content key, so an upgrade is never mixed with old turns."""
        return ""

    def synthesize(self, text: str, voice_id: str, language: str | None = None) -> Audio:
        raise NotImplementedError

    def synthesize_dialogue(self, turns: list[tuple[str, str]], language: str | None = None) -> DialogueAudio:
        """``turns`` is [(text, voice_id), ...]. Only for native providers."""
        raise NotImplementedError

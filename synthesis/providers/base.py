"""The interface every speech provider implements.

Plain Python: no Django, no database. A provider takes text and a voice id and
returns PCM samples; the worker (``synthesis.pipeline``) handles retries, progress
and storage, so a provider only has to say whether a failure is worth retrying.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    # Phoneme alphabets of pronunciation dictionary entries (synthesis.lexicon)
    # the engine takes: their spans reach synthesize() in the text. Elsewhere
    # such an entry is not applied and the written form is spoken.
    phoneme_alphabets: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {
            "native_multi_speaker": self.native_multi_speaker,
            "max_speakers": self.max_speakers,
            "max_chars_per_request": self.max_chars_per_request,
            "sample_rates": list(self.sample_rates),
            "phoneme_alphabets": list(self.phoneme_alphabets),
        }


@dataclass
class DialogueAudio:
    """What a native multi-speaker provider returns for a batch of turns:
    one Audio per turn, in order (split from the provider's single response
    using its boundary data)."""

    turns: list[Audio] = field(default_factory=list)


# What a speaker's voice settings may be (the API's ranges). A provider may
# accept a narrower range (ElevenLabs' speed) or not a setting at all.
SPEED_RANGE = (0.5, 2.0)
PITCH_RANGE = (-12.0, 12.0)  # semitones
VOLUME_RANGE = (0.0, 2.0)


@dataclass(frozen=True)
class VoiceSettings:
    """How a speaker's voice is changed: ``speed`` (a factor: 2.0 speaks in
    half the time), ``pitch`` (semitones up or down) and ``volume`` (a gain
    factor, applied when the dialogue is assembled, never by a provider). The
    defaults change nothing."""

    speed: float = 1.0
    pitch: float = 0.0
    volume: float = 1.0

    @classmethod
    def of(cls, assignment: dict) -> VoiceSettings:
        """The settings of a voice assignment in ``input_params`` (older jobs
        have none: the defaults)."""
        return cls(
            speed=float(assignment.get("speed", 1.0)),
            pitch=float(assignment.get("pitch", 0.0)),
            volume=float(assignment.get("volume", 1.0)),
        )

    def changed(self) -> dict[str, float]:
        """The settings that differ from the defaults, by name."""
        default = VoiceSettings()
        return {name: getattr(self, name) for name in SETTING_NAMES if getattr(self, name) != getattr(default, name)}

    def sound(self) -> dict[str, float]:
        """The changed settings that a provider turns into sound (not volume,
        which assembly applies): part of a kept segment's content key."""
        return {name: value for name, value in self.changed().items() if name != "volume"}


SETTING_NAMES = ("speed", "pitch", "volume")
DEFAULT_SETTINGS = VoiceSettings()


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
    # The voice settings this provider honours, with the range it accepts
    # (within the API's). Volume is applied in assembly, so every provider
    # has it; an unlisted setting changed from its default is refused (400).
    supported_settings: dict[str, tuple[float, float]] = {"volume": VOLUME_RANGE}
    # Native code in this process (ctypes, onnxruntime): the worker runs the
    # engine in a child process, so a crash fails one job, not the worker.
    isolated: bool = False
    # Every take of a line sounds the same (a rule-based engine): asking it
    # again for one line ("regenerate this line") cannot give a better take,
    # so the job page does not offer it. Neural and cloud voices vary.
    deterministic: bool = False

    def is_available(self) -> bool:
        return True

    def settings_as_dict(self) -> dict:
        """The voice settings this provider honours, with the range it accepts
        and the default (as /api/v1/voices lists them)."""
        return {
            name: {"minimum": low, "maximum": high, "default": getattr(DEFAULT_SETTINGS, name)}
            for name, (low, high) in sorted(self.supported_settings.items(), key=lambda kv: SETTING_NAMES.index(kv[0]))
        }

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

    def synthesize(
        self, text: str, voice_id: str, language: str | None = None, *, voice_settings: VoiceSettings = DEFAULT_SETTINGS
    ) -> Audio:
        """``voice_settings``: speed and pitch as far as ``supported_settings`` lists
        them (validation refused the others); volume is not the provider's."""
        raise NotImplementedError

    def synthesize_dialogue(
        self,
        turns: list[tuple[str, str]],
        language: str | None = None,
        *,
        voice_settings: Sequence[VoiceSettings] | None = None,
    ) -> DialogueAudio:
        """``turns`` is [(text, voice_id), ...]; ``voice_settings`` one per turn
        (None: the defaults for all). Only for native providers."""
        raise NotImplementedError

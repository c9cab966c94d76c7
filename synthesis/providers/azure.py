"""Azure Speech through its text-to-speech REST API (no SDK).

- Voices: ``GET {endpoint}/cognitiveservices/voices/list``.
- Synthesis: ``POST {endpoint}/cognitiveservices/v1`` with an SSML body,
  ``Ocp-Apim-Subscription-Key`` and ``X-Microsoft-OutputFormat`` headers; the
  answer is the audio file.

Native multi-speaker: a batch of turns is one SSML document with one
``<voice>`` element per turn. The REST API returns no word or sentence
boundaries (those are Speech SDK events or batch-synthesis files), so each
turn ends with an SSML break longer than any natural pause, and the response
is cut at its longest pauses into one piece per turn.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

from django.conf import settings

from synthesis import lexicon
from synthesis.audio import Audio

from . import http
from .base import (
    DEFAULT_SETTINGS,
    SPEED_RANGE,
    VOLUME_RANGE,
    Capabilities,
    DialogueAudio,
    Provider,
    Voice,
    VoiceSettings,
)

SERVICE = "Azure Speech"
OUTPUT_FORMAT = "riff-24khz-16bit-mono-pcm"
# Azure accepts at most 50 <voice> elements in one SSML document.
MAX_VOICE_ELEMENTS = 50
# Between turns: longer than Azure's sentence and paragraph pauses (well
# under a second), so the splitter can tell turn ends from sentence ends.
TURN_BREAK_MS = 1500
MIN_TURN_PAUSE_MS = 1000
# Characters XML 1.0 cannot carry at all: sending them is a 400.
_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _endpoint() -> str:
    if settings.TTS_AZURE_ENDPOINT:
        return settings.TTS_AZURE_ENDPOINT.strip().rstrip("/")
    return f"https://{settings.TTS_AZURE_SPEECH_REGION.strip()}.tts.speech.microsoft.com"


def voice_locale(voice_id: str) -> str:
    # ShortNames are "<lang>-<REGION>-<Name>Neural" ("en-US-JennyNeural").
    return "-".join(voice_id.split("-")[:2])


def ssml_text(text: str) -> str:
    """A turn's text as SSML content: escaped, with the pronunciation
    dictionary's IPA entries as ``<phoneme alphabet="ipa" ph="…">``."""
    parts = []
    for piece in lexicon.pieces(_XML_INVALID.sub(" ", text)):
        if isinstance(piece, str):
            parts.append(escape(piece))
        elif piece.alphabet == lexicon.IPA:
            parts.append(f'<phoneme alphabet="ipa" ph={quoteattr(piece.phonemes)}>{escape(piece.written)}</phoneme>')
        else:
            parts.append(escape(piece.written))
    return "".join(parts)


def prosody(voice_settings: VoiceSettings) -> dict[str, str]:
    """The ``<prosody>`` attributes for a speaker's settings (none for the
    defaults): ``rate`` as a multiplier ("1.5"), ``pitch`` in semitones
    ("+3st"), the relative forms Azure's SSML documents."""
    attributes = {}
    if voice_settings.speed != 1.0:
        attributes["rate"] = f"{voice_settings.speed:g}"
    if voice_settings.pitch:
        attributes["pitch"] = f"{voice_settings.pitch:+g}st"
    return attributes


def build_ssml(
    turns: list[tuple[str, str]],
    language: str | None = None,
    voice_settings: Sequence[VoiceSettings] | None = None,
) -> str:
    """One SSML document, one <voice> per turn, a long break after each but
    the last; a turn with settings has its text in a <prosody> element (the
    break stays outside, so a slower rate doesn't stretch it)."""
    lang = voice_locale(turns[0][1]) if turns else (language or "en-US")
    parts = [f'<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" xml:lang={quoteattr(lang)}>']
    for position, (text, voice_id) in enumerate(turns):
        body = ssml_text(text)
        attributes = prosody(voice_settings[position]) if voice_settings else {}
        if attributes:
            body = (
                "<prosody "
                + " ".join(f"{name}={quoteattr(value)}" for name, value in attributes.items())
                + f">{body}</prosody>"
            )
        pause = f'<break time="{TURN_BREAK_MS}ms"/>' if position < len(turns) - 1 else ""
        parts.append(f"<voice name={quoteattr(voice_id)}>{body}{pause}</voice>")
    parts.append("</speak>")
    return "".join(parts)


class AzureProvider(Provider):
    name = "azure"
    label = "Azure Speech"
    # SSML <prosody>: Azure documents rate changes within 0.5–2 times and
    # pitch changes within 0.5–1.5 times the voice's own (−12 to +7 semitones).
    supported_settings = {"speed": SPEED_RANGE, "pitch": (-12.0, 7.0), "volume": VOLUME_RANGE}

    def engine_version(self, voice_id: str) -> str:
        return _endpoint()

    def __init__(self):
        self._voices = http.VoiceListCache(self._fetch_voices, ttl=settings.TTS_VOICES_CACHE_SECONDS)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            native_multi_speaker=True,
            max_speakers=10,
            max_chars_per_request=settings.TTS_AZURE_MAX_CHARS,
            sample_rates=(24000,),
            phoneme_alphabets=(lexicon.IPA,),
        )

    def is_available(self) -> bool:
        return bool(settings.TTS_AZURE_SPEECH_KEY and (settings.TTS_AZURE_SPEECH_REGION or settings.TTS_AZURE_ENDPOINT))

    def voices(self) -> list[Voice]:
        return self._voices.get()

    def _call(self, method: str, path: str, **kwargs) -> http.Response:
        key = settings.TTS_AZURE_SPEECH_KEY
        headers = {"Ocp-Apim-Subscription-Key": key, **kwargs.pop("headers", {})}
        return http.request(
            method,
            f"{_endpoint()}{path}",
            service=SERVICE,
            timeout=settings.TTS_HTTP_TIMEOUT,
            headers=headers,
            secrets=(key,),
            **kwargs,
        )

    def _fetch_voices(self) -> list[Voice]:
        listed = self._call("GET", "/cognitiveservices/voices/list").json()
        voices = []
        for item in listed:
            short_name = item.get("ShortName")
            if not short_name:
                continue
            display = item.get("DisplayName") or short_name
            where = item.get("LocaleName")
            gender = (item.get("Gender") or "").lower() or None
            voices.append(
                Voice(
                    short_name,
                    f"{display} ({where})" if where else display,
                    item.get("Locale") or voice_locale(short_name),
                    gender if gender in ("male", "female") else None,
                )
            )
        return voices

    def synthesize(
        self, text: str, voice_id: str, language: str | None = None, *, voice_settings: VoiceSettings = DEFAULT_SETTINGS
    ) -> Audio:
        return self.synthesize_dialogue([(text, voice_id)], language, voice_settings=[voice_settings]).turns[0]

    def synthesize_dialogue(
        self,
        turns: list[tuple[str, str]],
        language: str | None = None,
        *,
        voice_settings: Sequence[VoiceSettings] | None = None,
    ) -> DialogueAudio:
        pieces = []
        for request in http.plan_requests(turns, settings.TTS_AZURE_MAX_CHARS, MAX_VOICE_ELEMENTS):
            ssml = build_ssml(
                [(text, voice) for _, text, voice in request],
                language,
                [voice_settings[index] for index, _, _ in request] if voice_settings else None,
            )
            response = self._call(
                "POST",
                "/cognitiveservices/v1",
                body=ssml.encode("utf-8"),
                headers={
                    "Content-Type": "application/ssml+xml",
                    "X-Microsoft-OutputFormat": OUTPUT_FORMAT,
                },
            )
            audio = http.decode_audio(response.body, SERVICE)
            split = http.split_at_pauses(audio, [len(text) for _, text, _ in request], MIN_TURN_PAUSE_MS)
            pieces.extend((index, piece) for (index, _, _), piece in zip(request, split))
        return DialogueAudio(turns=http.join_pieces(len(turns), pieces))

"""Any server that speaks OpenAI's text-to-speech API.

``POST {base}/v1/audio/speech`` with JSON ``{model, voice, input,
response_format}`` and ``Authorization: Bearer KEY``; the answer is the audio
file itself. That shape is served by OpenAI and by self-hosted servers
(Kokoro-FastAPI, openedai-speech...), so the base URL is a setting.

Segmented: one request per turn (a turn longer than the service's input limit,
4096 characters at OpenAI, is sent as several requests split at sentences).
"""

from __future__ import annotations

import json
import urllib.parse

import numpy as np
from django.conf import settings

from synthesis import lexicon
from synthesis.audio import Audio

from . import http
from .base import (
    DEFAULT_SETTINGS,
    SPEED_RANGE,
    VOLUME_RANGE,
    Capabilities,
    PermanentProviderError,
    Provider,
    Voice,
    VoiceSettings,
)

# OpenAI's documented built-in voices (API reference, "Create speech"), used
# when neither the settings nor the server list any.
OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse")
# FLAC: lossless and self-describing (its header carries the sample rate),
# and offered by OpenAI, Kokoro-FastAPI and openedai-speech alike. WAV from a
# streaming server may carry a bogus length in its header.
RESPONSE_FORMAT = "flac"
SERVICE = "The OpenAI-compatible speech server"


def _base_url() -> str:
    # Accept both "https://host" and the SDK-style "https://host/v1".
    base = settings.TTS_OPENAI_BASE_URL.strip().rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


class OpenAIProvider(Provider):
    name = "openai"
    label = "OpenAI-compatible speech"
    # `speed` (0.25–4.0 at OpenAI; Kokoro-FastAPI and openedai-speech take it too).
    supported_settings = {"speed": SPEED_RANGE, "volume": VOLUME_RANGE}

    @property
    def capabilities(self) -> Capabilities:
        # The input limit is a setting: self-hosted servers differ from OpenAI's 4096.
        return Capabilities(
            native_multi_speaker=False, max_chars_per_request=settings.TTS_OPENAI_MAX_CHARS, sample_rates=(24000,)
        )

    def engine_version(self, voice_id: str) -> str:
        return f"{_base_url()} {settings.TTS_OPENAI_MODEL}"

    def __init__(self):
        self._voices = http.VoiceListCache(self._fetch_voices, ttl=settings.TTS_VOICES_CACHE_SECONDS)

    def is_available(self) -> bool:
        base = _base_url()
        if not base:
            return False
        # OpenAI itself needs a key; a self-hosted server often needs none.
        return not (urllib.parse.urlsplit(base).hostname == "api.openai.com" and not settings.TTS_OPENAI_API_KEY)

    def voices(self) -> list[Voice]:
        return self._voices.get()

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if settings.TTS_OPENAI_API_KEY:
            headers["Authorization"] = f"Bearer {settings.TTS_OPENAI_API_KEY}"
        return headers

    def _fetch_voices(self) -> list[Voice]:
        language = settings.TTS_OPENAI_VOICE_LANGUAGE
        names = list(settings.TTS_OPENAI_VOICES)
        if not names:
            names = self._server_voices() or list(OPENAI_VOICES)
        return [Voice(name, name.replace("_", " ").title(), language) for name in dict.fromkeys(names)]

    def _server_voices(self) -> list[str]:
        """OpenAI has no voice-list endpoint; Kokoro-FastAPI and others answer
        ``GET /v1/audio/voices`` with ``{"voices": [...]}``. Anything else
        (404, another shape) means: use the documented list."""
        try:
            response = http.request(
                "GET",
                f"{_base_url()}/v1/audio/voices",
                service=SERVICE,
                timeout=settings.TTS_HTTP_TIMEOUT,
                headers=self._headers(),
                secrets=(settings.TTS_OPENAI_API_KEY,),
            )
            listed = response.json().get("voices")
        except (http.PermanentProviderError, ValueError, AttributeError):
            return []
        if not isinstance(listed, list):
            return []
        names = [v if isinstance(v, str) else (v.get("id") or v.get("name")) for v in listed if v]
        return [n for n in names if isinstance(n, str) and n]

    def synthesize(
        self, text: str, voice_id: str, language: str | None = None, *, voice_settings: VoiceSettings = DEFAULT_SETTINGS
    ) -> Audio:
        """``language`` is not part of this API: the voices read any language."""
        # No phoneme input here: a dictionary's phonemes are spoken as written.
        text = lexicon.plain(text)
        pieces = [
            self._request(part, voice_id, voice_settings)
            for part in http.request_texts(text, settings.TTS_OPENAI_MAX_CHARS)
        ]
        if len(pieces) == 1:
            return pieces[0]
        rate = pieces[0].sample_rate
        if any(p.sample_rate != rate for p in pieces):
            raise PermanentProviderError(f"{SERVICE} answered with changing sample rates.", code="PROVIDER_BAD_AUDIO")
        return Audio(np.concatenate([p.samples for p in pieces]), rate)

    def _request(self, text: str, voice_id: str, voice_settings: VoiceSettings) -> Audio:
        body = {
            "model": settings.TTS_OPENAI_MODEL,
            "voice": voice_id,
            "input": text,
            "response_format": RESPONSE_FORMAT,
        }
        if voice_settings.speed != 1.0:
            # Only when asked: a request without settings stays as it was.
            body["speed"] = voice_settings.speed
        response = http.request(
            "POST",
            f"{_base_url()}/v1/audio/speech",
            service=SERVICE,
            timeout=settings.TTS_HTTP_TIMEOUT,
            headers=self._headers(),
            body=json.dumps(body).encode(),
            secrets=(settings.TTS_OPENAI_API_KEY,),
        )
        return http.decode_audio(response.body, SERVICE)

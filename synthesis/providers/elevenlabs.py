"""ElevenLabs through its REST API (``xi-api-key`` header).

- Voices: ``GET /v1/voices``.
- Native multi-speaker (default): ``POST /v1/text-to-dialogue/with-timestamps``
  with ``{"inputs": [{"text", "voice_id"}, ...], "model_id"}``; the JSON
  answer carries the audio (base64) and ``voice_segments`` that say where
  each input (``dialogue_input_index``) starts and ends, which is how one
  response becomes one piece per turn, and an ``alignment`` (each character's
  start time), which becomes each piece's ``marks``: where its sentences start.
- Segmented (``TTS_ELEVENLABS_DIALOGUE=0``, for accounts or models without
  text-to-dialogue): ``POST /v1/text-to-speech/{voice_id}`` per turn.

Audio is requested as ``pcm_24000`` (raw 16-bit mono): no decoder needed,
and available on every plan (44.1 kHz PCM needs a Pro plan).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import urllib.parse
from collections.abc import Sequence

from django.conf import settings

from synthesis import lexicon
from synthesis.audio import Audio
from synthesis.language import ISO_639_1, spoken

from . import http
from .base import (
    DEFAULT_SETTINGS,
    VOLUME_RANGE,
    Capabilities,
    DialogueAudio,
    PermanentProviderError,
    Provider,
    Voice,
    VoiceSettings,
)

SERVICE = "ElevenLabs"
SAMPLE_RATE = 24000
OUTPUT_FORMAT = f"pcm_{SAMPLE_RATE}"
# text-to-dialogue accepts at most 10 distinct voices per request.
MAX_DIALOGUE_VOICES = 10
# Inputs per dialogue request: not documented as a limit; kept modest so a
# batch of many tiny turns stays one reasonable request.
MAX_DIALOGUE_INPUTS = 100
# Single-voice text-to-speech accepts 10,000 characters (multilingual v2).
MAX_TTS_CHARS = 10_000
_ISO_639_1 = re.compile(r"^[a-z]{2}$")


def _language_code(language: str | None) -> str | None:
    # ElevenLabs takes ISO 639-1 only ("en"); our jobs may say "en-us",
    # "zh-TW" or "cmn" (both Chinese: "zh").
    code = spoken(language)
    code = ISO_639_1.get(code, code)
    return code if _ISO_639_1.match(code) else None


class ElevenLabsProvider(Provider):
    name = "elevenlabs"
    label = "ElevenLabs"
    # voice_settings.speed: ElevenLabs documents 0.7–1.2 for it.
    supported_settings = {"speed": (0.7, 1.2), "volume": VOLUME_RANGE}

    def engine_version(self, voice_id: str) -> str:
        model = (
            settings.TTS_ELEVENLABS_DIALOGUE_MODEL
            if settings.TTS_ELEVENLABS_DIALOGUE
            else settings.TTS_ELEVENLABS_TTS_MODEL
        )
        return f"{settings.TTS_ELEVENLABS_BASE_URL} {model}"

    def __init__(self):
        self._voices = http.VoiceListCache(self._fetch_voices, ttl=settings.TTS_VOICES_CACHE_SECONDS)

    @property
    def capabilities(self) -> Capabilities:
        if settings.TTS_ELEVENLABS_DIALOGUE:
            return Capabilities(
                native_multi_speaker=True,
                max_speakers=MAX_DIALOGUE_VOICES,
                max_chars_per_request=settings.TTS_ELEVENLABS_MAX_CHARS,
                sample_rates=(SAMPLE_RATE,),
            )
        return Capabilities(
            native_multi_speaker=False, max_chars_per_request=MAX_TTS_CHARS, sample_rates=(SAMPLE_RATE,)
        )

    def is_available(self) -> bool:
        return bool(settings.TTS_ELEVENLABS_API_KEY and settings.TTS_ELEVENLABS_BASE_URL)

    def voices(self) -> list[Voice]:
        return self._voices.get()

    def _call(self, method: str, path: str, *, payload: dict | None = None, params=None) -> http.Response:
        key = settings.TTS_ELEVENLABS_API_KEY
        headers = {"xi-api-key": key}
        body = None
        if payload is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(payload).encode()
        base = settings.TTS_ELEVENLABS_BASE_URL.strip().rstrip("/")
        return http.request(
            method,
            f"{base}{path}",
            service=SERVICE,
            timeout=settings.TTS_HTTP_TIMEOUT,
            headers=headers,
            body=body,
            params=params,
            secrets=(key,),
        )

    def _fetch_voices(self) -> list[Voice]:
        voices = []
        for item in self._call("GET", "/v1/voices").json().get("voices", []):
            voice_id = item.get("voice_id")
            if not voice_id:
                continue
            labels = item.get("labels") or {}
            verified = item.get("verified_languages") or []
            language = labels.get("language") or (verified[0].get("language") if verified else None) or "en"
            gender = (labels.get("gender") or "").lower()
            voices.append(
                Voice(
                    voice_id, item.get("name") or voice_id, language, gender if gender in ("male", "female") else None
                )
            )
        return voices

    def _payload(self, model: str, language: str | None, **fields) -> dict:
        payload = {**fields, "model_id": model}
        if code := _language_code(language):
            payload["language_code"] = code
        return payload

    def synthesize(
        self, text: str, voice_id: str, language: str | None = None, *, voice_settings: VoiceSettings = DEFAULT_SETTINGS
    ) -> Audio:
        pieces = []
        fields = {}
        if voice_settings.speed != 1.0:
            # Only the setting asked for: the voice keeps its own stability etc.
            fields["voice_settings"] = {"speed": voice_settings.speed}
        # No phoneme input here: a dictionary's phonemes are spoken as written.
        for part in http.request_texts(lexicon.plain(text), MAX_TTS_CHARS):
            response = self._call(
                "POST",
                f"/v1/text-to-speech/{urllib.parse.quote(voice_id, safe='')}",
                params={"output_format": OUTPUT_FORMAT},
                payload=self._payload(settings.TTS_ELEVENLABS_TTS_MODEL, language, text=part, **fields),
            )
            pieces.append((0, http.pcm16_audio(response.body, SAMPLE_RATE)))
        return http.join_pieces(1, pieces)[0]

    def synthesize_dialogue(
        self,
        turns: list[tuple[str, str]],
        language: str | None = None,
        *,
        voice_settings: Sequence[VoiceSettings] | None = None,
    ) -> DialogueAudio:
        # Marks count characters of the text sent; with dictionary phonemes
        # that is not the turn's text (see synthesis.lexicon): none then.
        spans = [lexicon.has_spans(text) for text, _ in turns]
        turns = [(lexicon.plain(text), voice_id) for text, voice_id in turns]
        placed: dict[int, int] = {}
        # text-to-dialogue takes no per-voice settings (only stability and
        # speaker boost for the whole request): a turn whose speaker has a
        # speed is spoken alone through text-to-speech, which takes it.
        own = [i for i, s in enumerate(voice_settings or ()) if s.speed != 1.0]
        pieces = [
            (i, self.synthesize(turns[i][0], turns[i][1], language, voice_settings=voice_settings[i])) for i in own
        ]
        together = [i for i in range(len(turns)) if i not in set(own)]
        planned = http.plan_requests(
            [turns[i] for i in together], settings.TTS_ELEVENLABS_MAX_CHARS, MAX_DIALOGUE_INPUTS
        )
        for request in ([(together[j], text, voice) for j, text, voice in r] for r in planned):
            inputs = [{"text": text, "voice_id": voice_id} for _, text, voice_id in request]
            response = self._call(
                "POST",
                "/v1/text-to-dialogue/with-timestamps",
                params={"output_format": OUTPUT_FORMAT},
                payload=self._payload(settings.TTS_ELEVENLABS_DIALOGUE_MODEL, language, inputs=inputs),
            )
            split = self._split(response, [item["text"] for item in inputs])
            for (index, part, _), piece in zip(request, split):
                # A part's marks count its own characters: place it in its turn.
                found = turns[index][0].find(part, placed.get(index, 0))
                offset = max(found, 0)
                placed[index] = offset + len(part)
                piece.marks = [] if spans[index] else [(position + offset, ms) for position, ms in piece.marks]
                pieces.append((index, piece))
        pieces.sort(key=lambda piece: piece[0])  # join_pieces keeps each turn's parts in order
        return DialogueAudio(turns=http.join_pieces(len(turns), pieces))

    def _split(self, response: http.Response, texts: list[str]) -> list[Audio]:
        """One Audio per input, cut at its voice segment, with marks from the
        character alignment (synthesis.sentences times its sentences with them)."""
        weights = [len(text) for text in texts]
        try:
            data = response.json()
            audio = http.pcm16_audio(base64.b64decode(data["audio_base64"], validate=True), SAMPLE_RATE)
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise PermanentProviderError(
                f"{SERVICE} returned an answer this server cannot read.", code="PROVIDER_BAD_AUDIO"
            ) from None
        # A turn may be spoken in several segments; its span runs from its
        # first segment's start to its last segment's end.
        spans: dict[int, list[float]] = {}
        for segment in data.get("voice_segments") or []:
            try:
                index = int(segment["dialogue_input_index"])
                start, end = float(segment["start_time_seconds"]), float(segment["end_time_seconds"])
            except (KeyError, TypeError, ValueError):
                continue
            span = spans.setdefault(index, [start, end])
            span[0], span[1] = min(span[0], start), max(span[1], end)
        if sorted(spans) != list(range(len(weights))):
            # No usable timing data: fall back to the pauses between turns.
            return http.split_at_pauses(audio, weights, min_pause_ms=250)
        characters = self._character_starts(data, len(weights))
        pieces = []
        for index in range(len(weights)):
            start = round(spans[index][0] * SAMPLE_RATE)
            end = round(spans[index][1] * SAMPLE_RATE)
            marks = []
            spoken = characters.get(index)
            # Only an alignment of exactly the text sent can be read by position.
            if spoken and "".join(char for char, _ in spoken) == texts[index]:
                marks = [
                    (position, max(0.0, (seconds - spans[index][0]) * 1000))
                    for position, (char, seconds) in enumerate(spoken)
                    if not char.isspace()
                ]
            pieces.append(Audio(audio.samples[start:end], SAMPLE_RATE, marks))
        return pieces

    @staticmethod
    def _character_starts(data: dict, count: int) -> dict[int, list[tuple[str, float]]]:
        """Each input's characters with their start times (seconds in the whole
        answer), from ``alignment`` and the voice segments' character ranges.
        Empty when the answer has no usable alignment: the sentences are then
        timed from the pauses."""
        alignment = data.get("alignment") or {}
        try:
            characters = list(alignment["characters"])
            starts = [float(t) for t in alignment["character_start_times_seconds"]]
        except (KeyError, TypeError, ValueError):
            return {}
        if len(characters) != len(starts):
            return {}
        result: dict[int, list[tuple[str, float]]] = {}
        for segment in data.get("voice_segments") or []:
            try:
                index = int(segment["dialogue_input_index"])
                first, last = int(segment["character_start_index"]), int(segment["character_end_index"])
            except (KeyError, TypeError, ValueError):
                continue
            if 0 <= index < count and 0 <= first <= last <= len(characters):
                result.setdefault(index, []).extend(zip(characters[first:last], starts[first:last]))
        return result

"""ElevenLabs' REST API (v1, as in its API reference and the official SDK's
generated client), the parts ttsjobs uses; auth is the ``xi-api-key`` header:

- ``GET /v1/voices`` → ``{"voices": [{voice_id, name, category, labels}]}``.
- ``POST /v1/text-to-dialogue/with-timestamps?output_format=pcm_24000``,
  JSON ``{"inputs": [{"text", "voice_id"}], "model_id", "language_code"?}``
  (at most 10 distinct voices) → ``{"audio_base64", "alignment",
  "normalized_alignment", "voice_segments": [{voice_id, start_time_seconds,
  end_time_seconds, character_start_index, character_end_index,
  dialogue_input_index}]}``.
- ``POST /v1/text-to-speech/{voice_id}?output_format=pcm_24000``, JSON
  ``{"text", "model_id", "voice_settings"?: {"speed"}}`` → the audio bytes
  (speed 0.7–1.2, else 422).

Errors: ``{"detail": {"status", "message"}}`` (401 invalid_api_key, 404
voice_not_found — 400 in answers before mid-2025 —, 429
too_many_concurrent_requests), 422 ``{"detail": [...]}``
for a body that fails validation. ``pcm_24000`` is raw 16-bit LE mono PCM.
"""

from __future__ import annotations

import base64
import json
import re

import numpy as np

from . import FakeService, Recorded, json_response, pcm16, speak, speak_with_times

# voice_id → (name, gender, accent, eSpeak voice that reads it)
VOICES = {
    "21m00Tcm4TlvDq8ikWAM": ("Rachel", "female", "american", "en-us+f3"),
    "29vD33N1CtxCmqQRPOHJ": ("Drew", "male", "american", "en-us+m3"),
    "EXAVITQu4vr4xnSDxMaL": ("Sarah", "female", "american", "en-us+f4"),
    "JBFqnCBsd6RMkjVDRZzb": ("George", "male", "british", "en-gb"),
}
MODELS = ("eleven_v3", "eleven_multilingual_v2", "eleven_flash_v2_5", "eleven_turbo_v2_5")
# Silence the fake puts between dialogue lines, as a speaker change has.
LINE_PAUSE_S = 0.2


def detail(status: int, reason: str, message: str):
    return json_response(status, {"detail": {"status": reason, "message": message}})


class ElevenLabsFake(FakeService):
    synthesis_paths = ("/v1/text-to-dialogue", "/v1/text-to-speech/")

    def __init__(self, api_key: str = "xi-test-5c1f0e9ab7d34e28", timestamps: bool = True):
        super().__init__()
        self.api_key = api_key
        self.timestamps = timestamps  # False: answer without voice_segments
        # Each dialogue input's speech as sent, in order: what the client's
        # cuts should give back (eSpeak's output for a text varies by a few
        # ms with what it spoke before, so a second synthesis can't serve).
        self.spoken: list[np.ndarray] = []

    def provider_settings(self) -> dict:
        return {"TTS_ELEVENLABS_API_KEY": self.api_key, "TTS_ELEVENLABS_BASE_URL": self.url}

    def handle(self, request: Recorded):
        if request.headers.get("xi-api-key") != self.api_key:
            return detail(401, "invalid_api_key", "Invalid API key")
        if request.method == "GET" and request.path == "/v1/voices":
            return json_response(
                200,
                {
                    "voices": [
                        {
                            "voice_id": vid,
                            "name": name,
                            "category": "premade",
                            "labels": {"gender": gender, "accent": accent, "age": "young"},
                        }
                        for vid, (name, gender, accent, _) in VOICES.items()
                    ]
                },
            )
        if request.method != "POST":
            return json_response(405, {"detail": "Method Not Allowed"})
        output_format = request.query.get("output_format", ["mp3_44100_128"])[0]
        if output_format != "pcm_24000":
            # The fake only speaks what ttsjobs asks for.
            return json_response(
                422, {"detail": [{"loc": ["query", "output_format"], "msg": "unsupported here", "type": "value_error"}]}
            )
        try:
            body = json.loads(request.body)
        except ValueError:
            return json_response(422, {"detail": [{"loc": ["body"], "msg": "Invalid JSON", "type": "value_error"}]})
        if body.get("model_id", "eleven_multilingual_v2") not in MODELS:
            return detail(400, "model_not_found", "The selected model does not exist.")
        if request.path == "/v1/text-to-dialogue/with-timestamps":
            return self._dialogue(body)
        match = re.fullmatch(r"/v1/text-to-speech/([^/]+)", request.path)
        if match:
            return self._speech(match.group(1), body)
        return json_response(404, {"detail": "Not Found"})

    def _voice_error(self, voice_id):
        return detail(404, "voice_not_found", f"A voice with the voice_id {voice_id} was not found.")

    def _speech(self, voice_id, body):
        if not isinstance(body.get("text"), str) or not body["text"]:
            return json_response(
                422, {"detail": [{"loc": ["body", "text"], "msg": "Field required", "type": "missing"}]}
            )
        if voice_id not in VOICES:
            return self._voice_error(voice_id)
        # voice_settings.speed: "1.0 is the default, values below 1.0 slow
        # the speech down, values above speed it up"; the API takes 0.7–1.2.
        speed = (body.get("voice_settings") or {}).get("speed", 1.0)
        if isinstance(speed, bool) or not isinstance(speed, int | float) or not 0.7 <= speed <= 1.2:
            return json_response(
                422,
                {
                    "detail": [
                        {
                            "loc": ["body", "voice_settings", "speed"],
                            "msg": "Input should be between 0.7 and 1.2",
                            "type": "value_error",
                        }
                    ]
                },
            )
        speech = speak(body["text"], VOICES[voice_id][3], 24000, speed=float(speed))
        return 200, {"Content-Type": "audio/pcm"}, pcm16(speech)

    def _dialogue(self, body):
        inputs = body.get("inputs")
        if (
            not isinstance(inputs, list)
            or not inputs
            or not all(
                isinstance(i, dict) and isinstance(i.get("text"), str) and isinstance(i.get("voice_id"), str)
                for i in inputs
            )
        ):
            return json_response(
                422, {"detail": [{"loc": ["body", "inputs"], "msg": "Field required", "type": "missing"}]}
            )
        if len({i["voice_id"] for i in inputs}) > 10:
            return detail(400, "too_many_voices", "A maximum of 10 unique voice IDs is allowed.")
        for item in inputs:
            if item["voice_id"] not in VOICES:
                return self._voice_error(item["voice_id"])
        rate, samples, segments, chars, starts, ends = 24000, [], [], [], [], []
        position = 0
        for index, item in enumerate(inputs):
            if index:
                samples.append(np.zeros(int(LINE_PAUSE_S * rate), dtype=np.float32))
                position += int(LINE_PAUSE_S * rate)
            speech, char_starts = speak_with_times(item["text"], VOICES[item["voice_id"]][3], rate)
            start, end = position / rate, (position + len(speech)) / rate
            first_char = len(chars)
            # Each character from where eSpeak said its word starts, as the
            # service's alignment says where it spoke each one.
            for k, char in enumerate(item["text"]):
                chars.append(char)
                starts.append(round(start + char_starts[k], 3))
                ends.append(round(start + (char_starts[k + 1] if k + 1 < len(char_starts) else end - start), 3))
            segments.append(
                {
                    "voice_id": item["voice_id"],
                    "start_time_seconds": round(start, 3),
                    "end_time_seconds": round(end, 3),
                    "character_start_index": first_char,
                    "character_end_index": len(chars),
                    "dialogue_input_index": index,
                }
            )
            samples.append(speech)
            self.spoken.append(speech)
            position += len(speech)
        alignment = {"characters": chars, "character_start_times_seconds": starts, "character_end_times_seconds": ends}
        return json_response(
            200,
            {
                "audio_base64": base64.b64encode(pcm16(np.concatenate(samples))).decode(),
                "alignment": alignment,
                "normalized_alignment": alignment,
                "voice_segments": segments if self.timestamps else [],
            },
        )

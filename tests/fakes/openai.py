"""OpenAI's text-to-speech API, as its API reference ("Create speech",
``POST /v1/audio/speech``) describes it: bearer-key auth, a JSON body with
``model``, ``input`` (at most 4096 characters), ``voice`` and optional
``response_format`` (mp3, opus, aac, flac, wav, pcm; default mp3) and
``speed``; the answer is the audio file; errors are
``{"error": {"message", "type", "param", "code"}}``. OpenAI itself has no
voice-list endpoint; ``list_voices=True`` adds Kokoro-FastAPI's
``GET /v1/audio/voices`` → ``{"voices": [...]}``.
"""

from __future__ import annotations

import json

from . import FakeService, Recorded, audio_file, json_response, pcm16, speak

RATE = 24000
# Each OpenAI voice spoken by an audibly different eSpeak voice.
VOICES = {
    "alloy": "en-us+f3",
    "echo": "en-us+m3",
    "fable": "en-gb",
    "nova": "en-us+f4",
    "onyx": "en-us",
    "shimmer": "en-us+f2",
}
MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")


def openai_error(status: int, message: str, code: str | None = None, param: str | None = None):
    return json_response(
        status, {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}
    )


class OpenAIFake(FakeService):
    synthesis_paths = ("/v1/audio/speech",)

    def __init__(self, api_key: str = "sk-test-openai-7f3a9c21d4", list_voices: bool = False):
        super().__init__()
        self.api_key = api_key
        self.list_voices = list_voices

    def provider_settings(self) -> dict:
        return {"TTS_OPENAI_BASE_URL": self.url, "TTS_OPENAI_API_KEY": self.api_key}

    def handle(self, request: Recorded):
        auth = request.headers.get("authorization", "")
        if auth != f"Bearer {self.api_key}":
            # As OpenAI does: the message quotes a masked form of the key sent.
            sent = auth.removeprefix("Bearer ")
            masked = f"{sent[:3]}***{sent[-4:]}" if len(sent) > 8 else "***"
            return openai_error(
                401,
                f"Incorrect API key provided: {masked}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )
        if request.path == "/v1/audio/voices" and request.method == "GET" and self.list_voices:
            return json_response(200, {"voices": sorted(VOICES)})
        if request.path != "/v1/audio/speech" or request.method != "POST":
            return openai_error(404, f"Invalid URL ({request.method} {request.path})")
        if not request.headers.get("content-type", "").startswith("application/json"):
            return openai_error(400, "Unsupported content type; expected application/json.")
        try:
            body = json.loads(request.body)
        except ValueError:
            return openai_error(400, "We could not parse the JSON body of your request.")
        for name in ("model", "input", "voice"):
            if not isinstance(body.get(name), str) or not body[name]:
                return openai_error(400, f"Missing required parameter: '{name}'.", param=name)
        if body["model"] not in MODELS:
            return openai_error(404, f"The model `{body['model']}` does not exist.", code="model_not_found")
        if len(body["input"]) > 4096:
            return openai_error(
                400, "String should have at most 4096 characters", code="string_too_long", param="input"
            )
        if body["voice"] not in VOICES:
            return openai_error(
                400,
                f"Invalid value: '{body['voice']}'. Supported values are: {', '.join(map(repr, sorted(VOICES)))}.",
                param="voice",
            )
        # "The speed of the generated audio. Select a value from 0.25 to 4.0. 1.0 is the default."
        speed = body.get("speed", 1.0)
        if isinstance(speed, bool) or not isinstance(speed, int | float) or not 0.25 <= speed <= 4.0:
            return openai_error(400, f"Invalid 'speed': {speed!r}. Expected a number from 0.25 to 4.0.", param="speed")
        fmt = body.get("response_format", "mp3")
        samples = speak(body["input"], VOICES[body["voice"]], RATE, speed=float(speed))
        if fmt == "flac":
            return 200, {"Content-Type": "audio/flac"}, audio_file(samples, RATE, "FLAC")
        if fmt == "wav":
            return 200, {"Content-Type": "audio/wav"}, audio_file(samples, RATE, "WAV")
        if fmt == "mp3":
            return 200, {"Content-Type": "audio/mpeg"}, audio_file(samples, RATE, "MP3", "MPEG_LAYER_III")
        if fmt == "pcm":
            return 200, {"Content-Type": "audio/pcm"}, pcm16(samples)
        return openai_error(
            400,
            f"Invalid value: '{fmt}'. Supported values are: 'mp3', 'opus', 'aac', 'flac', 'wav', and 'pcm'.",
            param="response_format",
        )

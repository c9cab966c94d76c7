"""Azure Speech's text-to-speech REST API, as "Text to speech REST API"
(learn.microsoft.com, speech-service/rest-text-to-speech) describes it:

- ``GET /cognitiveservices/voices/list`` with ``Ocp-Apim-Subscription-Key``
  → a JSON array of voices (Name, DisplayName, LocalName, ShortName, Gender,
  Locale, LocaleName, SampleRateHertz, VoiceType, Status, WordsPerMinute).
- ``POST /cognitiveservices/v1`` with the key, ``Content-Type:
  application/ssml+xml``, ``X-Microsoft-OutputFormat`` and ``User-Agent``;
  SSML body; 200 with the audio file. 400 for a bad parameter or SSML, 401
  bad key, 415 wrong content type, 429 over quota, 502/503 server trouble.

SSML handled: ``<speak version="1.0" xml:lang>`` with ``<voice name>``
children holding text, ``<break time="Nms"/>``, ``<phoneme alphabet ph>``
(checked, read as its text) and ``<prosody rate pitch>`` (rate a multiplier
or ±N%, pitch ±Nst, within the documented 0.5–2× and 0.5–1.5×; anything else
is a 400); voices are read one after the other into one file. Like the real
REST API, no boundary data is returned.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np

from . import FakeService, Recorded, audio_file, json_response, speak

SSML_NS = "{http://www.w3.org/2001/10/synthesis}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
OUTPUT_FORMATS = {
    "riff-24khz-16bit-mono-pcm": 24000,
    "riff-16khz-16bit-mono-pcm": 16000,
    "riff-48khz-16bit-mono-pcm": 48000,
    "riff-22050hz-16bit-mono-pcm": 22050,
}
# (ShortName, DisplayName, Gender, Locale, LocaleName) → eSpeak voice that reads it.
VOICES = {
    "en-US-JennyNeural": ("Jenny", "Female", "en-US", "English (United States)", "en-us+f3"),
    "en-US-GuyNeural": ("Guy", "Male", "en-US", "English (United States)", "en-us+m3"),
    "en-GB-SoniaNeural": ("Sonia", "Female", "en-GB", "English (United Kingdom)", "en-gb+f4"),
    "de-DE-KatjaNeural": ("Katja", "Female", "de-DE", "German (Germany)", "de+f2"),
}


def voice_list() -> list[dict]:
    return [
        {
            "Name": f"Microsoft Server Speech Text to Speech Voice ({locale}, {short.split('-')[-1]})",
            "DisplayName": display,
            "LocalName": display,
            "ShortName": short,
            "Gender": gender,
            "Locale": locale,
            "LocaleName": locale_name,
            "SampleRateHertz": "24000",
            "VoiceType": "Neural",
            "Status": "GA",
            "WordsPerMinute": "150",
        }
        for short, (display, gender, locale, locale_name, _) in VOICES.items()
    ]


class AzureFake(FakeService):
    synthesis_paths = ("/cognitiveservices/v1",)

    def __init__(self, key: str = "azkey-0b5e8d2c94f64a1e"):
        super().__init__()
        self.key = key

    def provider_settings(self) -> dict:
        return {"TTS_AZURE_SPEECH_KEY": self.key, "TTS_AZURE_ENDPOINT": self.url}

    def handle(self, request: Recorded):
        if request.headers.get("ocp-apim-subscription-key") != self.key:
            # Azure answers 401 with a JSON error that names no key.
            return json_response(
                401,
                {
                    "error": {
                        "code": "401",
                        "message": "Access denied due to invalid "
                        "subscription key or wrong API endpoint. Make sure to provide a valid key "
                        "for an active subscription and use a correct regional API endpoint for "
                        "your resource.",
                    }
                },
            )
        if request.method == "GET" and request.path == "/cognitiveservices/voices/list":
            return json_response(200, voice_list())
        if request.method != "POST" or request.path != "/cognitiveservices/v1":
            return 404, {}, b""
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/ssml+xml":
            return 415, {}, b""
        rate = OUTPUT_FORMATS.get(request.headers.get("x-microsoft-outputformat", ""))
        if rate is None or not request.headers.get("user-agent"):
            return 400, {}, b""
        try:
            root = ET.fromstring(request.body)
        except ET.ParseError:
            return 400, {}, b""
        if root.tag != f"{SSML_NS}speak" or root.get("version") != "1.0" or not root.get(XML_LANG):
            return 400, {}, b""
        pieces = []
        for voice in root:
            if voice.tag != f"{SSML_NS}voice" or voice.get("name") not in VOICES:
                return 400, {}, b""
            espeak_voice = VOICES[voice.get("name")][4]
            for phoneme in voice.iter(f"{SSML_NS}phoneme"):
                # Azure's alphabets; a phoneme element without ph is invalid SSML.
                if phoneme.get("alphabet") not in ("ipa", "sapi", "ups", "x-sampa") or not phoneme.get("ph"):
                    return 400, {}, b""
            try:
                content = list(self._content(voice))
            except ValueError:
                return 400, {}, b""
            for text, pause_ms, speed, pitch in content:
                if text.strip():
                    pieces.append(speak(text, espeak_voice, rate, speed=speed, pitch=pitch))
                if pause_ms:
                    pieces.append(np.zeros(rate * pause_ms // 1000, dtype=np.float32))
        if not pieces:
            return 400, {}, b""
        return 200, {"Content-Type": "audio/x-wav"}, audio_file(np.concatenate(pieces), rate, "WAV")

    @staticmethod
    def _content(voice):
        """(text, pause after it in ms, rate factor, pitch in semitones) in
        document order. Inline elements (``<phoneme>``, ``<say-as>``…) are read
        as their text: this fake speaks with eSpeak, which cannot read their
        IPA. A ``<prosody>`` is spoken with its rate and pitch; raises
        ValueError for a prosody value Azure refuses."""
        text = voice.text or ""
        for child in voice:
            if child.tag == f"{SSML_NS}break":
                match = re.fullmatch(r"(\d+)ms", child.get("time", ""))
                yield text, int(match.group(1)) if match else 750, 1.0, 0.0
                text = child.tail or ""
            elif child.tag == f"{SSML_NS}prosody":
                speed, pitch = prosody_rate(child.get("rate")), prosody_pitch(child.get("pitch"))
                yield text, 0, 1.0, 0.0
                yield "".join(child.itertext()), 0, speed, pitch
                text = child.tail or ""
            else:
                text += "".join(child.itertext()) + (child.tail or "")
        yield text, 0, 1.0, 0.0


def prosody_rate(value: str | None) -> float:
    """SSML ``rate``: a multiplier ("1.5") or a relative change ("+50%");
    Azure: "within 0.5 to 2 times the original audio"."""
    if value is None:
        return 1.0
    match = re.fullmatch(r"([+-]?\d+(?:\.\d+)?)(%?)", value)
    if not match:
        raise ValueError(value)
    factor = 1 + float(match.group(1)) / 100 if match.group(2) else float(match.group(1))
    if not 0.5 <= factor <= 2.0:
        raise ValueError(value)
    return factor


def prosody_pitch(value: str | None) -> float:
    """SSML ``pitch`` as a relative change in semitones ("+3st", "-2st");
    Azure: "within 0.5 to 1.5 times the original audio"."""
    if value is None:
        return 0.0
    match = re.fullmatch(r"([+-]\d+(?:\.\d+)?)st", value)
    if not match:
        raise ValueError(value)
    semitones = float(match.group(1))
    if not 0.5 <= 2 ** (semitones / 12) <= 1.5:
        raise ValueError(value)
    return semitones

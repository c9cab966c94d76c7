"""What the voice settings do to real eSpeak speech (and Piper's); prints JSON.

    .venv/bin/python bench/voice_settings.py

Length ratios against speed 1.0, median fundamental frequency ratios against
pitch 0 (the estimator of tests/test_voice_settings.py), and the RMS change of
a turn mixed at volume 0.5 and 2.0 against 1.0 (render_dialogue, after the
loudness matching). Also eSpeak's own pitch parameter at its maximum, which is
why pitch is shifted after synthesis instead.
"""

import ctypes
import io
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django

django.setup()

from synthesis.audio import Audio, render_dialogue  # noqa: E402
from synthesis.providers import espeak as espeak_module  # noqa: E402
from synthesis.providers.base import VoiceSettings  # noqa: E402
from tests.test_voice_settings import TEXT, median_f0, rms_db  # noqa: E402

CHINESE = "今天天氣很好，我們一起去公園散步吧。你覺得怎麼樣？"


def espeak_figures():
    provider = espeak_module.EspeakProvider()
    figures = {}
    for voice in ("en-us", "en-us+f3", "cmn"):
        text = CHINESE if voice == "cmn" else TEXT
        normal = provider.synthesize(text, voice)
        f0 = median_f0(normal.samples, normal.sample_rate)
        row = {}
        for speed in (0.5, 2.0):
            turn = provider.synthesize(text, voice, voice_settings=VoiceSettings(speed=speed))
            row[f"length at speed {speed:g}"] = round(turn.duration_ms / normal.duration_ms, 3)
        for pitch in (-12, 12):
            turn = provider.synthesize(text, voice, voice_settings=VoiceSettings(pitch=pitch))
            row[f"F0 at pitch {pitch:+d}"] = round(median_f0(turn.samples, turn.sample_rate) / f0, 3)
        figures[voice] = row
    return figures


def native_pitch_parameter():
    """eSpeak's espeakPITCH at 100 (its maximum) against 50 (its default)."""
    provider = espeak_module.EspeakProvider()
    provider.voices()
    ratios = {}
    with espeak_module._lock:
        engine = espeak_module._get_engine()
        engine.lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        for voice in ("en-us", "en-us+f3", "cmn"):
            text = (CHINESE if voice == "cmn" else TEXT).encode()
            library_voice = espeak_module._get_catalog()[voice][1]
            normal = engine.synthesize(text, library_voice) / 32768.0
            engine.lib.espeak_SetParameter(3, 100, 0)
            high = engine.synthesize(text, library_voice) / 32768.0
            engine.lib.espeak_SetParameter(3, 50, 0)
            rate = engine.sample_rate
            ratios[voice] = round(median_f0(high, rate) / median_f0(normal, rate), 3)
    return ratios


def volume_figures():
    turn = espeak_module.EspeakProvider().synthesize(TEXT, "en-us")
    volumes = [1.0, 0.5, 2.0]
    out = io.BytesIO()
    timings = render_dialogue(
        [lambda: Audio(turn.samples.copy(), turn.sample_rate) for _ in volumes],
        out,
        fmt="f32",
        gap_ms=300,
        crossfade_ms=0,
        sample_rate=turn.sample_rate,
        volumes=volumes,
    )
    samples = np.frombuffer(out.getvalue(), dtype=np.float32)
    rate = turn.sample_rate
    levels = [rms_db(samples[round(a * rate / 1000) : round(b * rate / 1000)]) for a, b in timings]
    return {f"dB at volume {v:g}": round(level - levels[0], 2) for v, level in zip(volumes[1:], levels[1:])}


def piper_figures():
    from synthesis.providers.piper import PiperProvider

    piper = PiperProvider()
    if not piper.is_available():
        return "not installed"
    normal = piper.synthesize(TEXT, "en_US-joe-medium")
    fast = piper.synthesize(TEXT, "en_US-joe-medium", voice_settings=VoiceSettings(speed=2.0))
    slow = piper.synthesize(TEXT, "en_US-joe-medium", voice_settings=VoiceSettings(speed=0.5))
    return {
        "length at speed 2": round(fast.duration_ms / normal.duration_ms, 3),
        "length at speed 0.5": round(slow.duration_ms / normal.duration_ms, 3),
    }


if __name__ == "__main__":
    print(
        json.dumps(
            {
                "espeak": espeak_figures(),
                "espeak pitch parameter 100 vs 50 (F0 ratio)": native_pitch_parameter(),
                "volume (RMS change against 1.0)": volume_figures(),
                "piper": piper_figures(),
            },
            indent=2,
            ensure_ascii=False,
        )
    )

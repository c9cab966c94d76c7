"""eSpeak NG through ctypes, using the library and data shipped by the
``espeakng-loader`` wheel (no system package needed).

libespeak-ng keeps all of its state in globals: one current voice, one synth
callback, one set of buffers per process. So the engine is initialised lazily
once per process and every call into it holds ``_lock``: one synthesis at a
time per process. Processes forked after the parent initialised the library
keep working (measured), so the worker pool may fork freely.
"""

from __future__ import annotations

import ctypes
import os
import re
import threading
from importlib.metadata import PackageNotFoundError, version

import numpy as np

from synthesis import lexicon
from synthesis.audio import Audio, shift_pitch
from synthesis.language import engine_tag
from synthesis.speakable import speakable

from .base import (
    DEFAULT_SETTINGS,
    PITCH_RANGE,
    SPEED_RANGE,
    VOLUME_RANGE,
    Capabilities,
    PermanentProviderError,
    Provider,
    Voice,
    VoiceSettings,
)

# Constants from espeak-ng's speak_lib.h.
AUDIO_OUTPUT_SYNCHRONOUS = 2
# Without this flag a failed initialisation calls exit(1) inside the library,
# which would kill the whole worker process instead of failing one job.
espeakINITIALIZE_DONT_EXIT = 0x8000
POS_CHARACTER = 1
# UTF-8 text; espeakSSML (0x10) stays off so user text such as "<speak>" is
# read as text, not as markup. espeakPHONEMES (0x100) is on only for a text
# with pronunciation dictionary phonemes, whose own "[[" are then broken up.
espeakCHARS_UTF8 = 1
espeakPHONEMES = 0x100
# espeak_SetPhonemeTrace: phoneme mnemonics, as espeak-ng -x prints them.
PHONEME_TRACE_MNEMONICS = 1
EE_OK = 0
# espeak_PARAMETER: espeakRATE is words a minute; 175 is the library's default
# for every voice (voices with a "speed" line scale it further, themselves).
espeakRATE = 1
DEFAULT_RATE = 175

GENDERS = {1: "male", 2: "female"}

# The variants offered for every language, from espeak-ng-data/voices/!v.
# The plain voice (no variant) is the language's default male voice.
VARIANTS = ("m3", "f2", "f3", "f4")

# Order in which default_voices() hands out timbres so that neighbouring
# speakers differ in pitch and gender.
DEFAULT_TIMBRES = (None, "f3", "m3", "f4", "f2")

# Where a language has several regional voices, which one leads the defaults
# (otherwise the library's own choice for the bare code, e.g. "en" → en-gb).
PREFERRED_DIALECT = {"en": "en-us"}

# Anything quieter than this (int16 units, about -66 dBFS) is the library's
# end-of-utterance padding, not speech.
SILENCE_THRESHOLD = 16

# C0 control characters other than tab/newline/CR: espeak reads \x01 as the start
# of an embedded command (speed, pitch, voice...), so user text must not carry them.
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
OWN_DOUBLE_BRACKET = re.compile(r"\[(?=\[)")


class _VoiceStruct(ctypes.Structure):
    # espeak_VOICE. ``languages`` is really a list of (priority byte, NUL-terminated
    # code) pairs; read as a char* it yields the first pair, the primary language.
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_char_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


class _Event(ctypes.Structure):
    # espeak_EVENT (speak_lib.h). The id union is as wide as two ints/a pointer.
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based, in characters of the text given
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # ms from the start of the synthesis
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_void_p),
    ]


espeakEVENT_LIST_TERMINATED = 0
espeakEVENT_WORD = 1

_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


class _Engine:
    """The initialised library. Only ever used while holding ``_lock``."""

    def __init__(self):
        try:
            import espeakng_loader

            lib = ctypes.CDLL(espeakng_loader.get_library_path())
            data_path = espeakng_loader.get_data_path()
        except (ImportError, OSError) as exc:
            raise PermanentProviderError(
                "The eSpeak NG speech engine is not installed on this server.", code="ENGINE_UNAVAILABLE"
            ) from exc

        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_ListVoices.argtypes = [ctypes.POINTER(_VoiceStruct)]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_VoiceStruct))
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        lib.espeak_SetPhonemeTrace.argtypes = [ctypes.c_int, ctypes.c_void_p]
        lib.espeak_SetPhonemeTrace.restype = None
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int

        # The wheel's data path must be given explicitly: the library's compiled-in
        # default points at the wheel's build folder. It returns the sample rate.
        sample_rate = lib.espeak_Initialize(
            AUDIO_OUTPUT_SYNCHRONOUS, 0, os.fsencode(data_path), espeakINITIALIZE_DONT_EXIT
        )
        if sample_rate <= 0:
            raise PermanentProviderError("The eSpeak NG speech engine could not start.", code="ENGINE_UNAVAILABLE")

        self.lib = lib
        self.sample_rate = sample_rate
        self.rate = DEFAULT_RATE
        self._chunks: list[bytes] = []
        self._words: list[tuple[int, float]] = []
        self.words: list[tuple[int, float]] = []
        # Kept on the instance: ctypes would free the trampoline if it were
        # garbage collected while the library still holds the pointer.
        self._callback = _SynthCallback(self._collect)
        lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, count, events):
        if wav and count > 0:
            self._chunks.append(ctypes.string_at(wav, count * 2))
        # The word events of this buffer: where each word starts in the text
        # and in the audio (measured: within about 40 ms before its speech).
        if events:
            i = 0
            while events[i].type != espeakEVENT_LIST_TERMINATED:
                if events[i].type == espeakEVENT_WORD and events[i].text_position > 0:
                    self._words.append((events[i].text_position - 1, float(events[i].audio_position)))
                i += 1
        return 0  # 0 = carry on synthesizing

    def list_voices(self, languages: bytes | None = None) -> list[_VoiceStruct]:
        spec = None
        if languages is not None:
            spec = _VoiceStruct()
            spec.languages = languages
            spec = ctypes.byref(spec)
        result = self.lib.espeak_ListVoices(spec)
        voices = []
        while result[len(voices)]:
            voices.append(result[len(voices)].contents)
        return voices

    def phonemes(self, text: bytes, library_voice: bytes) -> str:
        """What the engine would say, as its phoneme mnemonics, clause by clause."""
        if self.lib.espeak_SetVoiceByName(library_voice) != EE_OK:
            raise PermanentProviderError("This voice is not available.", code="VOICE_NOT_FOUND")
        buffer = ctypes.create_string_buffer(text)
        # The library advances the pointer clause by clause and sets it to NULL at the end.
        position = ctypes.c_void_p(ctypes.addressof(buffer))
        clauses = []
        while position.value:
            clause = self.lib.espeak_TextToPhonemes(ctypes.byref(position), espeakCHARS_UTF8, 0)
            if clause:
                clauses.append(clause.decode("utf-8", errors="replace").strip())
        return " ".join(c for c in clauses if c)

    def spoken_phonemes(self, text: bytes, library_voice: bytes, flags: int) -> str:
        """The phonemes the engine really speaks while synthesizing ``text``
        (its phoneme trace, written to an in-memory C stream), line per clause."""
        libc = ctypes.CDLL(None)
        libc.open_memstream.restype = ctypes.c_void_p
        libc.open_memstream.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t)]
        libc.fclose.argtypes = [ctypes.c_void_p]
        libc.free.argtypes = [ctypes.c_void_p]
        data, size = ctypes.c_void_p(), ctypes.c_size_t()
        stream = libc.open_memstream(ctypes.byref(data), ctypes.byref(size))
        self.lib.espeak_SetPhonemeTrace(PHONEME_TRACE_MNEMONICS, stream)
        try:
            self.synthesize(text, library_voice, flags)
        finally:
            self.lib.espeak_SetPhonemeTrace(0, None)
            libc.fclose(stream)  # flushes into data/size
        try:
            return ctypes.string_at(data, size.value).decode("utf-8", errors="replace").strip()
        finally:
            libc.free(data)

    def synthesize(self, text: bytes, library_voice: bytes, flags: int = 0, rate: int = DEFAULT_RATE) -> np.ndarray:
        """The samples; the word marks of this call are left in ``words``."""
        if self.lib.espeak_SetVoiceByName(library_voice) != EE_OK:
            raise PermanentProviderError("This voice is not available.", code="VOICE_NOT_FOUND")
        if rate != self.rate:
            # The rate is the library's global state: it stays until changed,
            # so a turn without a speed setting puts the default back.
            if self.lib.espeak_SetParameter(espeakRATE, rate, 0) != EE_OK:
                raise PermanentProviderError("The speech engine refused this speed.", code="SYNTHESIS_FAILED")
            self.rate = rate
        self._chunks = []
        self._words = []
        buffer = ctypes.create_string_buffer(text)  # NUL-terminated copy
        status = self.lib.espeak_Synth(buffer, len(buffer), 0, POS_CHARACTER, 0, espeakCHARS_UTF8 | flags, None, None)
        self.lib.espeak_Synchronize()
        if status != EE_OK:
            raise PermanentProviderError("The speech engine could not read this text.", code="SYNTHESIS_FAILED")
        samples = np.frombuffer(b"".join(self._chunks), dtype=np.int16)
        self._chunks = []
        self.words, self._words = self._words, []
        return samples


_lock = threading.Lock()
_engine: _Engine | None = None
_catalog: dict[str, tuple[Voice, bytes]] | None = None


def _reset_lock_in_child():
    # A fork taken while another thread was synthesizing would copy a held lock
    # into the child, which would then wait for a thread that doesn't exist there.
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_lock_in_child)


def _get_engine() -> _Engine:
    """Call with ``_lock`` held."""
    global _engine
    if _engine is None:
        _engine = _Engine()
    return _engine


def _humanize_variant(name: str) -> str:
    # The library names variants "female3", "male3": read better as "female 3".
    return re.sub(r"(?<=[a-z])(?=\d)", " ", name)


def _build_catalog(engine: _Engine) -> dict[str, tuple[Voice, bytes]]:
    """Map voice id → (Voice, name to pass to espeak_SetVoiceByName).

    A plain voice's id is its primary language code as the library reports it
    ("en-us", "cmn", "ja", "fr-fr"). Where two voices share a code (both
    Cantonese voices say "yue"), the voice whose file is named after the code
    keeps it and the other takes its lowercased file name ("yue-latn-jyutping").
    Variant ids append "+" and the variant's file name ("en-us+f3"), as the
    espeak-ng command line does. Every id therefore comes from the library's
    data, never from list order. The engine is addressed by file identifier
    ("gmw/en-US+f3"), which is unambiguous.
    """
    plain = []
    for v in engine.list_voices():
        identifier = v.identifier.decode()
        # Skip the leading priority byte of the first (priority, code) pair.
        language = (v.languages or b"")[1:].decode(errors="replace").lower()
        if not language:
            continue
        basename = identifier.rsplit("/", 1)[-1].lower()
        plain.append((identifier, basename, language, v.name.decode(errors="replace").strip(), GENDERS.get(v.gender)))

    code_owners: dict[str, list[str]] = {}
    for _identifier, basename, language, _name, _gender in plain:
        code_owners.setdefault(language, []).append(basename)

    variants = {}
    for v in engine.list_voices(b"variant"):
        key = v.identifier.decode().rsplit("/", 1)[-1]
        variants[key] = (_humanize_variant(v.name.decode(errors="replace").strip()), GENDERS.get(v.gender))

    catalog: dict[str, tuple[Voice, bytes]] = {}
    for identifier, basename, language, name, gender in plain:
        owners = code_owners[language]
        voice_id = language if len(owners) == 1 or basename == language else basename
        if voice_id in catalog:  # a clash the rule above can't settle: fall back to the file path
            voice_id = identifier.lower().replace("/", "-")
        catalog[voice_id] = (Voice(voice_id, name, language, gender), identifier.encode())
        for key in VARIANTS:
            if key not in variants:
                continue
            variant_name, variant_gender = variants[key]
            variant_id = f"{voice_id}+{key}"
            catalog[variant_id] = (
                Voice(variant_id, f"{name} — {variant_name}", language, variant_gender),
                f"{identifier}+{key}".encode(),
            )
    return catalog


def _get_catalog() -> dict[str, tuple[Voice, bytes]]:
    global _catalog
    if _catalog is None:
        with _lock:
            if _catalog is None:
                _catalog = _build_catalog(_get_engine())
    return _catalog


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def _prepare_text(text: str) -> tuple[bytes, int]:
    """The bytes to give the library, and the flags to add to UTF-8."""
    if not lexicon.has_spans(text):
        # The pipeline already did this for jobs; previews and direct callers too.
        text = CONTROL_CHARS.sub(" ", speakable(text))
        # Lone surrogates (e.g. from a JSON "\ud800") can't be encoded; they carry no speech.
        return text.encode("utf-8", errors="ignore"), 0
    # Pronunciation dictionary phonemes (the pipeline cleaned the text before
    # applying them): eSpeak's "[[…]]" input, and the text's own "[[" broken
    # up so that only ours are read as phonemes.
    parts = []
    for piece in lexicon.pieces(text):
        if isinstance(piece, str):
            parts.append(OWN_DOUBLE_BRACKET.sub("[ ", CONTROL_CHARS.sub(" ", piece)))
        elif piece.alphabet == lexicon.ESPEAK:
            parts.append(f"[[{piece.phonemes}]]")
        else:
            parts.append(piece.written)
    return "".join(parts).encode("utf-8", errors="ignore"), espeakPHONEMES


class EspeakProvider(Provider):
    """eSpeak NG, offline and bundled.

    Catalog: every language voice the library lists (mbrola voices excluded),
    plain, plus the variants +m3, +f2, +f3, +f4 of each (about 700 voices).
    See ``_build_catalog`` for how ids are formed.
    """

    name = "espeak"
    label = "eSpeak NG (built-in)"
    capabilities = Capabilities(sample_rates=(22050,), phoneme_alphabets=(lexicon.ESPEAK,))
    supported_settings = {"speed": SPEED_RANGE, "pitch": PITCH_RANGE, "volume": VOLUME_RANGE}
    # Some texts make libespeak-ng 1.52 segfault (e.g. "---लच्छेद" with "hi").
    isolated = True
    # Rule-based: the same text and voice give the same words, timing (within
    # about a millisecond) and pitch every time; only the noise of breathy
    # sounds differs, so the samples are not byte-identical (bench/takes.py).
    deterministic = True

    def engine_version(self, voice_id: str) -> str:
        return f"espeakng-loader {_package_version('espeakng-loader')}"

    def is_available(self) -> bool:
        try:
            _get_catalog()
        except PermanentProviderError:
            return False
        return True

    def voices(self) -> list[Voice]:
        return [voice for voice, _ in _get_catalog().values()]

    def voice_ids(self) -> set[str]:
        return set(_get_catalog())

    def default_voices(self, count: int, language: str | None = None) -> list[str]:
        """Distinct, audibly different voices for ``language`` (English when
        none is given or nothing matches): the leading dialect and one other
        alternate, and the timbre changes at every step (plain, f3, m3, f4, f2),
        so neighbouring speakers never sound alike. Repeats only after every
        dialect × timbre pair has been used."""
        catalog = _get_catalog()
        plain = [voice for voice_id, (voice, _) in catalog.items() if "+" not in voice_id]
        # zh-TW, zh-Hant, zh-CN… are read by the cmn voices, zh-HK by yue.
        wanted = (engine_tag(language) or "en").lower().replace("_", "-")
        dialects = self._dialects(plain, catalog, wanted) or self._dialects(plain, catalog, "en")
        if not dialects:
            return super().default_voices(count, language)

        pairs = []
        # Enumerate every (timbre, dialect) pair once, stepping both at each
        # speaker: speaker k = timbre k % T with dialect (k % T + k // T) % D.
        for k in range(len(DEFAULT_TIMBRES) * len(dialects)):
            timbre = DEFAULT_TIMBRES[k % len(DEFAULT_TIMBRES)]
            dialect = dialects[(k % len(DEFAULT_TIMBRES) + k // len(DEFAULT_TIMBRES)) % len(dialects)]
            voice_id = dialect if timbre is None else f"{dialect}+{timbre}"
            if voice_id in catalog:
                pairs.append(voice_id)
        return [pairs[i % len(pairs)] for i in range(count)]

    @staticmethod
    def _dialects(plain: list[Voice], catalog, wanted: str) -> list[str]:
        def library_basename(voice: Voice) -> str:
            return catalog[voice.id][1].decode().rsplit("/", 1)[-1].lower()

        matches = [
            v for v in plain
            if v.id == wanted or v.language == wanted or v.language.startswith(wanted + "-")
            or library_basename(v) == wanted
        ]  # fmt: skip
        preferred = PREFERRED_DIALECT.get(wanted)

        def rank(v: Voice):
            # The explicit preference, then exact code, then the voice the
            # library itself picks for the bare code ("fr" → fr-fr).
            return (v.id != preferred, v.id != wanted, library_basename(v) != wanted, v.id)

        return [v.id for v in sorted(matches, key=rank)][:2]

    def phonemes(self, text: str, voice_id: str) -> str:
        """The phonemes eSpeak would speak for ``text`` (after the same
        preparation as synthesis): what tests compare to prove emoji and
        symbols are not read aloud."""
        catalog = _get_catalog()
        if voice_id not in catalog:
            raise PermanentProviderError(f"The voice “{voice_id}” does not exist in eSpeak NG.", code="VOICE_NOT_FOUND")
        with _lock:
            return _get_engine().phonemes(_prepare_text(text)[0], catalog[voice_id][1])

    def spoken_phonemes(self, text: str, voice_id: str) -> str:
        """The phonemes eSpeak speaks while synthesizing ``text`` exactly as
        ``synthesize`` does (pronunciation dictionary phonemes included): the
        engine's own phoneme trace, one line per clause."""
        catalog = _get_catalog()
        if voice_id not in catalog:
            raise PermanentProviderError(f"The voice “{voice_id}” does not exist in eSpeak NG.", code="VOICE_NOT_FOUND")
        with _lock:
            prepared, flags = _prepare_text(text)
            return _get_engine().spoken_phonemes(prepared, catalog[voice_id][1], flags)

    def synthesize(
        self, text: str, voice_id: str, language: str | None = None, *, voice_settings: VoiceSettings = DEFAULT_SETTINGS
    ) -> Audio:
        """``language`` is ignored: an eSpeak voice is a language.

        Speed is the engine's own rate (175 words a minute times ``speed``;
        it reaches 900 through its built-in time-stretcher). Pitch is moved
        afterwards (``audio.shift_pitch``): the engine's pitch parameter only
        moves the base of its intonation, and at its maximum raised the median
        pitch 1.6–1.8× (measured on en-us, en-us+f3 and cmn), short of the
        octave that +12 semitones promises."""
        catalog = _get_catalog()
        if voice_id not in catalog:
            raise PermanentProviderError(f"The voice “{voice_id}” does not exist in eSpeak NG.", code="VOICE_NOT_FOUND")
        _, library_voice = catalog[voice_id]
        rate = round(DEFAULT_RATE * voice_settings.speed)
        with _lock:
            engine = _get_engine()
            prepared, flags = _prepare_text(text)
            pcm = engine.synthesize(prepared, library_voice, flags, rate)
            # Word positions count characters of the prepared text: that is
            # ``text`` itself (the pipeline cleaned it) unless dictionary
            # phonemes were spelled out for the engine; then they mean nothing
            # in ``text`` and the sentences are timed from the pauses.
            words = [] if flags else engine.words
        if not pcm.size or np.abs(pcm.astype(np.int32)).max() < SILENCE_THRESHOLD:
            raise PermanentProviderError("This text has nothing that can be spoken.", code="NO_AUDIO")
        samples = (pcm / 32768.0).astype(np.float32)
        if voice_settings.pitch:
            samples = shift_pitch(samples, engine.sample_rate, voice_settings.pitch)
        return Audio(samples, engine.sample_rate, words)

import json
import multiprocessing
import subprocess
import sys

import numpy as np
import pytest

from synthesis.providers.base import PermanentProviderError
from synthesis.providers.espeak import EspeakProvider


@pytest.fixture
def espeak():
    return EspeakProvider()


def test_catalog_has_the_main_languages_and_variants(espeak):
    voices = {v.id: v for v in espeak.voices()}
    for voice_id in ["en-us", "en-us+f3", "en-us+m3", "en-gb", "cmn", "yue", "ja", "ar", "he"]:
        assert voice_id in voices
    assert voices["en-us"].language == "en-us"
    assert voices["cmn+f3"].language == "cmn"
    assert voices["en-us+f3"].name == "English (America) — female 3"
    assert voices["en-us+f3"].gender == "female"
    assert voices["en-us+m3"].gender == "male"
    assert len(voices) < 1000


def test_voice_ids_are_unique_and_stable(espeak):
    ids = [v.id for v in espeak.voices()]
    assert len(ids) == len(set(ids))
    assert ids == [v.id for v in EspeakProvider().voices()]
    # A fresh process builds the same ids: nothing depends on process state.
    other = subprocess.run(
        [sys.executable, "-c", "import json; from synthesis.providers.espeak import EspeakProvider; "
         "print(json.dumps([v.id for v in EspeakProvider().voices()]))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert json.loads(other.stdout) == ids


def test_both_cantonese_voices_get_their_own_id(espeak):
    voices = {v.id: v for v in espeak.voices()}
    assert voices["yue"].language == voices["yue-latn-jyutping"].language == "yue"


def test_hello_world(espeak):
    audio = espeak.synthesize("Hello world", "en-us")
    assert audio.sample_rate == 22050
    assert audio.duration_ms > 300
    assert audio.samples.dtype == np.float32
    assert 0 < np.abs(audio.samples).max() <= 1.0


def test_voices_sound_different(espeak):
    plain = espeak.synthesize("Hello world", "en-us").samples
    female = espeak.synthesize("Hello world", "en-us+f3").samples
    assert len(plain) != len(female) or not np.array_equal(plain, female)


def test_unknown_voice_is_permanent(espeak):
    with pytest.raises(PermanentProviderError) as err:
        espeak.synthesize("Hello", "klingon-xx")
    assert err.value.code == "VOICE_NOT_FOUND"
    assert "klingon-xx" in err.value.message


@pytest.mark.parametrize("text", ["", "   ", "...", "\u200f\u202e"])
def test_text_without_speech_is_permanent(espeak, text):
    with pytest.raises(PermanentProviderError) as err:
        espeak.synthesize(text, "en-us")
    assert err.value.code == "NO_AUDIO"


@pytest.mark.parametrize(
    "text, voice_id",
    [
        ("你好，世界", "cmn"),
        ("你好", "yue"),
        ("こんにちは", "ja"),
        ("مرحبا بالعالم", "ar"),
        ("שלום עולם", "he"),
        ("你好 and hello", "en-us"),
        ("😀🎉 party", "en-us"),
        ("😀", "cmn"),
        ("\ud800 lone surrogate", "en-us"),
        ("\x01" + "500S fast?", "en-us"),
        ("<speak>not markup</speak>", "en-us"),
        ("[[h@l'oU]] not phonemes", "en-us"),
        ("-- leading dashes", "en-us"),
        ("nul\x00inside", "en-us"),
    ],
)
def test_any_unicode_synthesizes_or_fails_cleanly(espeak, text, voice_id):
    try:
        audio = espeak.synthesize(text, voice_id)
    except PermanentProviderError as err:
        assert err.code == "NO_AUDIO"
    else:
        assert audio.duration_ms > 0


def test_control_characters_are_not_engine_commands(espeak):
    # "\x01" + "500S" would otherwise set the speaking rate to 500 words a minute.
    normal = espeak.synthesize("one two three four five six", "en-us")
    injected = espeak.synthesize("\x01" + "500S one two three four five six", "en-us")
    assert injected.duration_ms > 0.7 * normal.duration_ms


def test_default_voices_for_english_are_distinct(espeak):
    defaults = espeak.default_voices(4, "en")
    assert len(set(defaults)) == 4
    assert defaults[0] == "en-us"
    assert all(v.startswith("en-") for v in defaults)
    assert set(defaults) <= espeak.voice_ids()


def test_default_voices_for_a_single_dialect_language(espeak):
    defaults = espeak.default_voices(5, "ja")
    assert len(set(defaults)) == 5
    assert all(v.split("+")[0] == "ja" for v in defaults)


def test_default_voices_fall_back_to_english(espeak):
    assert espeak.default_voices(2, "zz") == espeak.default_voices(2, None) == espeak.default_voices(2, "en")


def _synthesize_in_child(queue):
    try:
        audio = EspeakProvider().synthesize("Hello from the child", "en-us+m3")
        queue.put(audio.duration_ms)
    except Exception as exc:  # the parent's assertion shows what went wrong
        queue.put(repr(exc))


def test_works_in_a_process_forked_after_initialisation(espeak):
    espeak.synthesize("Initialise in the parent", "en-us")
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_synthesize_in_child, args=(queue,))
    child.start()
    result = queue.get(timeout=30)
    child.join(timeout=30)
    assert child.exitcode == 0
    assert isinstance(result, float) and result > 300
    # And the parent still works afterwards.
    assert espeak.synthesize("Still here", "en-us").duration_ms > 300

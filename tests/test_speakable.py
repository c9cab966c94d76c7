"""Emoji, pictographs, kaomoji and punctuation runs are not read aloud, by
any engine; a turn with nothing speakable left fails NO_AUDIO."""

import pytest

from synthesis.models import Job
from synthesis.providers.espeak import EspeakProvider
from synthesis.speakable import has_speech, speakable
from tests.fakes import job_body, run_job, serving
from tests.fakes.azure import AzureFake
from tests.fakes.elevenlabs import VOICES as ELEVENLABS_VOICES
from tests.fakes.elevenlabs import ElevenLabsFake
from tests.fakes.openai import OpenAIFake


@pytest.mark.parametrize(
    "text, spoken",
    [
        ("😀🎉 party time! 🍕🍕", "party time!"),
        ("👍🏽 🇹🇼 family 👨\u200d👩\u200d👧 1️⃣", "family 1"),
        ("(╯°□°)╯︵ ┻━┻ why", "why"),
        ("¯\\_(ツ)_/¯ whatever", "whatever"),
        ("nice ^_^ yes (T_T) (・ω・) ok", "nice yes ok"),
        ("ok :-) see you :D <3", "ok see you"),
        ("wow!!!!!", "wow!"),
        ("what??? really?!?!", "what? really?"),
        ("你好！！！今天天氣很好。。。真的？！", "你好！今天天氣很好。真的？"),
        ("hmm...... la~~~ la～～ ----- end", "hmm… la la end"),
        ("☆★ star ♪♫", "star"),
        # What must stay: asides in brackets, numbers, units, names.
        ("I (really) mean it, step 8) at 10:30", "I (really) mean it, step 8) at 10:30"),
        ("25°C, № 5, Acme™, my_var (a_b)", "25°C, № 5, Acme™, my_var (a_b)"),
        ("ノート、カード", "ノート、カード"),
        ("مرحبا بالعالم 🌍", "مرحبا بالعالم"),
    ],
)
def test_speakable(text, spoken):
    assert speakable(text) == spoken


@pytest.mark.parametrize("text", ["😀🎉🍕", "(╯°□°)╯︵ ┻━┻", "!!! ??? ~~~", "👍🏽 ^_^ :-)"])
def test_nothing_speakable(text):
    assert not has_speech(speakable(text))


@pytest.mark.parametrize(
    "with_symbols, without, voice",
    [
        ("😀🎉 Party time! 🍕🍕 Pizza!", "Party time! Pizza!", "en-us"),
        ("Bob 😀 says hi (^_^) !!!!", "Bob says hi !", "en-us"),
        ("你好🎉，今天天氣很好😀。(╯°□°)╯︵ ┻━┻", "你好，今天天氣很好。", "cmn"),
        ("こんにちは🙂！！！", "こんにちは！", "ja"),
    ],
)
def test_espeak_phonemes_are_the_same_without_the_emoji(with_symbols, without, voice):
    espeak = EspeakProvider()
    assert espeak.phonemes(with_symbols, voice) == espeak.phonemes(without, voice)
    assert espeak.phonemes(without, voice)  # something is said


def test_espeak_would_read_emoji_aloud_without_this():
    # The reason for it all: the engine itself names pictographs and symbols.
    import synthesis.providers.espeak as espeak_module

    catalog = espeak_module._get_catalog()
    with espeak_module._lock:
        raw = espeak_module._get_engine().phonemes("🎉 party".encode(), catalog["en-us"][1])
    assert raw != EspeakProvider().phonemes("party", "en-us")


RACHEL, DREW, *_ = ELEVENLABS_VOICES
EMOJI_LINES = [("Alice", "🎉 Party time! 🍕🍕"), ("Bob", "Me too 😀 (^_^)")]


@pytest.mark.django_db
def test_espeak_job_with_emoji_completes(alice):
    job = run_job(alice, job_body("espeak", EMOJI_LINES, {"Alice": "en-us", "Bob": "en-us+m3"}))
    assert job.status == Job.Status.COMPLETED, job.error_message


@pytest.mark.django_db
@pytest.mark.parametrize(
    "provider, fake, voices",
    [
        ("openai", OpenAIFake, {"Alice": "alloy", "Bob": "echo"}),
        ("azure", AzureFake, {"Alice": "en-US-JennyNeural", "Bob": "en-US-GuyNeural"}),
        ("elevenlabs", ElevenLabsFake, {"Alice": RACHEL, "Bob": DREW}),
    ],
)
def test_cloud_providers_never_receive_emoji(alice, settings, provider, fake, voices):
    with serving(settings, fake()) as service:
        job = run_job(alice, job_body(provider, EMOJI_LINES, voices))
        sent = b"".join(r.body for r in service.synthesis_requests).decode()
    assert job.status == Job.Status.COMPLETED, job.error_message
    assert "Party time!" in sent and "Me too" in sent
    for symbol in ("🎉", "🍕", "😀", "^_^", "\\ud83c"):
        assert symbol not in sent


@pytest.mark.django_db
def test_a_turn_of_only_emoji_fails_no_audio_before_any_engine_is_called(alice, settings):
    with serving(settings, OpenAIFake()) as service:
        job = run_job(
            alice, job_body("openai", [("Alice", "Hi."), ("Bob", "🎉🍕😀 (^_^)")], {"Alice": "alloy", "Bob": "echo"})
        )
        assert service.synthesis_requests == []
    assert job.status == Job.Status.FAILED
    assert job.error_code == "NO_AUDIO"
    assert "Turn 2 (Bob)" in job.error_message

"""Voice settings per speaker: speed, pitch and volume (issue 14, item 1).

Measured on the real eSpeak engine; the cloud providers through their fakes
(real HTTP), asserting what reaches each service's request body.
"""

import hashlib
import io
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import soundfile as sf

from synthesis.audio import PEAK_CEILING, Audio, render_dialogue
from synthesis.models import Job
from synthesis.pipeline import SynthesisRun
from synthesis.providers import get_provider
from synthesis.providers.base import VoiceSettings
from synthesis.segments import content_key
from synthesis.validation import JobRequestInvalid, clean_job_request
from tests.fakes import job_body, run_job, serving
from tests.fakes.azure import SSML_NS, AzureFake
from tests.fakes.elevenlabs import VOICES as ELEVEN_VOICES
from tests.fakes.elevenlabs import ElevenLabsFake
from tests.fakes.openai import OpenAIFake

TEXT = "The quick brown fox jumps over the lazy dog, and then it runs back home again."


def median_f0(samples: np.ndarray, rate: int) -> float:
    """Median fundamental frequency of the voiced frames: 80 ms frames every
    10 ms; a frame is voiced when loud enough and its normalised
    autocorrelation has a peak above 0.5 between 30 and 800 Hz."""
    samples = np.asarray(samples, dtype=np.float64)
    frame, hop = int(0.08 * rate), int(0.01 * rate)
    shortest, longest = int(rate / 800), int(rate / 30)
    estimates = []
    for start in range(0, len(samples) - frame, hop):
        window = samples[start : start + frame] - samples[start : start + frame].mean()
        if np.sqrt(np.mean(window**2)) < 0.01:
            continue
        correlation = np.correlate(window, window, "full")[frame - 1 :]
        correlation /= np.arange(frame, 0, -1)  # unbiased: long lags are not penalised
        lag = shortest + int(np.argmax(correlation[shortest:longest]))
        if correlation[lag] > 0.5 * correlation[0]:
            estimates.append(rate / lag)
    assert len(estimates) > 50, "too few voiced frames to measure"
    return float(np.median(estimates))


def rms_db(samples: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


# --- the real eSpeak engine -------------------------------------------------


@pytest.fixture(scope="module")
def espeak():
    from synthesis.providers.espeak import EspeakProvider

    return EspeakProvider()


def test_espeak_speed_two_takes_about_half_the_time(espeak):
    normal = espeak.synthesize(TEXT, "en-us")
    fast = espeak.synthesize(TEXT, "en-us", voice_settings=VoiceSettings(speed=2.0))
    slow = espeak.synthesize(TEXT, "en-us", voice_settings=VoiceSettings(speed=0.5))
    assert 0.40 <= fast.duration_ms / normal.duration_ms <= 0.60
    assert 1.6 <= slow.duration_ms / normal.duration_ms <= 2.4
    # The engine's rate is global state: a turn without settings is back to normal.
    again = espeak.synthesize(TEXT, "en-us")
    assert abs(again.duration_ms - normal.duration_ms) < 0.02 * normal.duration_ms


@pytest.mark.parametrize("voice", ["en-us", "en-us+f3", "cmn"])
def test_espeak_pitch_twelve_semitones_is_an_octave(espeak, voice):
    text = TEXT if voice != "cmn" else "今天天氣很好，我們一起去公園散步吧。你覺得怎麼樣？"
    normal = espeak.synthesize(text, voice)
    up = espeak.synthesize(text, voice, voice_settings=VoiceSettings(pitch=12))
    down = espeak.synthesize(text, voice, voice_settings=VoiceSettings(pitch=-12))
    base = median_f0(normal.samples, normal.sample_rate)
    assert 1.8 <= median_f0(up.samples, up.sample_rate) / base <= 2.2
    assert 0.45 <= median_f0(down.samples, down.sample_rate) / base <= 0.55
    # A pitch change keeps the duration.
    assert abs(up.duration_ms - normal.duration_ms) < 0.05 * normal.duration_ms


def test_espeak_speed_and_pitch_together(espeak):
    normal = espeak.synthesize(TEXT, "en-us")
    both = espeak.synthesize(TEXT, "en-us", voice_settings=VoiceSettings(speed=2.0, pitch=5))
    assert 0.40 <= both.duration_ms / normal.duration_ms <= 0.60
    ratio = median_f0(both.samples, both.sample_rate) / median_f0(normal.samples, normal.sample_rate)
    assert abs(ratio - 2 ** (5 / 12)) < 0.1


def test_volume_is_applied_after_loudness_matching_and_limited(espeak):
    turn = espeak.synthesize(TEXT, "en-us")

    def rendered(volumes):
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
        return [samples[round(a * rate / 1000) : round(b * rate / 1000)] for a, b in timings]

    normal, half, double, silent = rendered([1.0, 0.5, 2.0, 0.0])
    assert abs((rms_db(half) - rms_db(normal)) - (-6.02)) <= 0.5
    # Twice as loud is +6 dB where the limiter lets it; peaks never pass the ceiling.
    assert 4.0 <= rms_db(double) - rms_db(normal) <= 6.5
    assert np.abs(double).max() <= PEAK_CEILING
    assert not silent.any()


# --- validation -------------------------------------------------------------


def espeak_request(**settings):
    return job_body(
        "espeak",
        [("Alice", "Hello."), ("Bob", "Hi.")],
        {"Alice": "en-us", "Bob": "en-us+f3"},
    ) | {
        "voice_assignments": [
            {"speaker": "Alice", "voice_id": "en-us", **settings},
            {"speaker": "Bob", "voice_id": "en-us+f3"},
        ]
    }


def errors_of(body) -> dict:
    with pytest.raises(JobRequestInvalid) as caught:
        clean_job_request(body)
    return caught.value.errors


@pytest.mark.django_db
def test_settings_are_kept_only_when_they_change_something():
    _, params = clean_job_request(espeak_request(speed=1.5, pitch=-3, volume=0.5))
    assert params["voice_assignments"][0] == {
        "speaker": "Alice",
        "voice_id": "en-us",
        "voice_name": "",
        "speed": 1.5,
        "pitch": -3.0,
        "volume": 0.5,
    }
    _, params = clean_job_request(espeak_request(speed=1, pitch=0, volume=1.0))
    assert params["voice_assignments"][0] == {"speaker": "Alice", "voice_id": "en-us", "voice_name": ""}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name, value, says",
    [
        ("speed", 2.5, "from 0.5 to 2; got 2.5"),
        ("speed", 0.25, "from 0.5 to 2; got 0.25"),
        ("speed", "fast", "Must be a number from 0.5 to 2."),
        ("speed", True, "Must be a number"),
        ("speed", float("nan"), "Must be a number"),
        ("pitch", 13, "from -12 to 12; got 13"),
        ("pitch", [1], "Must be a number"),
        ("volume", -0.1, "from 0 to 2; got -0.1"),
        ("volume", float("inf"), "Must be a number"),
    ],
)
def test_a_bad_setting_is_a_400_naming_it(name, value, says):
    errors = errors_of(espeak_request(**{name: value}))
    assert list(errors) == [f"voice_assignments[0].{name}"]
    assert says in errors[f"voice_assignments[0].{name}"]


@pytest.mark.django_db
def test_a_bad_setting_through_the_api_is_a_400(alice_client):
    response = alice_client.post("/api/v1/jobs", json.dumps(espeak_request(pitch=20)), content_type="application/json")
    assert response.status_code == 400
    assert "voice_assignments[0].pitch" in response.json()["details"]


@pytest.fixture
def openai(settings):
    settings.TTS_OPENAI_VOICES = ["alloy", "echo", "nova"]
    with serving(settings, OpenAIFake()) as fake:
        yield fake


@pytest.fixture
def elevenlabs(settings):
    with serving(settings, ElevenLabsFake()) as fake:
        yield fake


@pytest.fixture
def azure(settings):
    with serving(settings, AzureFake()) as fake:
        yield fake


@pytest.mark.django_db
def test_a_setting_the_provider_cannot_honour_is_refused_not_ignored(openai):
    body = job_body("openai", [("Alice", "Hello.")], {"Alice": "alloy"})
    body["voice_assignments"][0]["pitch"] = 3
    errors = errors_of(body)
    assert errors == {
        "voice_assignments[0].pitch": "The openai provider cannot change pitch (it honours: speed, volume)."
    }
    # Its default changes nothing, so it is accepted.
    body["voice_assignments"][0]["pitch"] = 0
    clean_job_request(body)


@pytest.mark.django_db
def test_elevenlabs_speed_outside_what_the_service_accepts_is_refused(elevenlabs):
    body = job_body("elevenlabs", [("Alice", "Hello.")], {"Alice": next(iter(ELEVEN_VOICES))})
    body["voice_assignments"][0]["speed"] = 1.5
    assert errors_of(body) == {
        "voice_assignments[0].speed": "The elevenlabs provider accepts speed from 0.7 to 1.2; got 1.5."
    }


@pytest.mark.django_db
def test_voices_say_which_settings_each_provider_honours(alice_client, openai, elevenlabs, azure):
    providers = {p["name"]: p for p in alice_client.get("/api/v1/voices").json()["providers"]}
    assert providers["espeak"]["voice_settings"] == {
        "speed": {"minimum": 0.5, "maximum": 2.0, "default": 1.0},
        "pitch": {"minimum": -12.0, "maximum": 12.0, "default": 0.0},
        "volume": {"minimum": 0.0, "maximum": 2.0, "default": 1.0},
    }
    assert set(providers["openai"]["voice_settings"]) == {"speed", "volume"}
    assert providers["elevenlabs"]["voice_settings"]["speed"] == {"minimum": 0.7, "maximum": 1.2, "default": 1.0}
    assert providers["azure"]["voice_settings"]["pitch"] == {"minimum": -12.0, "maximum": 7.0, "default": 0.0}


# --- content keys and kept segments ------------------------------------------


def test_a_turn_without_settings_keeps_the_key_it_had_before_settings():
    parts = {
        "provider": "espeak",
        "engine_version": "espeakng-loader 1.0",
        "voice_id": "en-us",
        "language": "en",
        "text": "Hello.",
        "mode": "segmented",
    }
    # The key as computed before voice settings existed.
    before = hashlib.sha256(
        json.dumps(
            {
                "pipeline": 1,
                "provider": "espeak",
                "engine": "espeakng-loader 1.0",
                "voice": "en-us",
                "language": "en",
                "text": "Hello.",
                "mode": "segmented",
            },
            sort_keys=True,
            ensure_ascii=False,
        ).encode()
    ).hexdigest()
    assert content_key(**parts) == before
    assert content_key(**parts, voice_settings=VoiceSettings(volume=0.5).sound()) == before
    assert content_key(**parts, voice_settings=VoiceSettings(speed=1.5).sound()) != before
    assert content_key(**parts, voice_settings=VoiceSettings(pitch=1).sound()) != content_key(
        **parts, voice_settings=VoiceSettings(speed=1.5).sound()
    )


@pytest.mark.django_db
def test_speed_and_pitch_change_the_turns_key_volume_does_not(alice):
    lines = [("Alice", "Hello there."), ("Bob", "Hi Alice.")]
    voices = {"Alice": "en-us", "Bob": "en-us+f3"}
    keys = {}
    for label, settings in [("plain", {}), ("volume", {"volume": 0.5}), ("speed", {"speed": 1.5})]:
        body = job_body("espeak", lines, voices)
        body["voice_assignments"][0].update(settings)
        _, params = clean_job_request(body)
        job = Job.objects.submit(alice, params, provider="espeak")
        run = SynthesisRun(job)
        keys[label] = run.turn_keys(get_provider("espeak"), run.spoken_turns())
    assert keys["volume"] == keys["plain"]
    assert keys["speed"][0] != keys["plain"][0]
    assert keys["speed"][1] == keys["plain"][1]  # Bob's turn is untouched


@pytest.mark.django_db
def test_volume_in_a_real_job(alice):
    """Two speakers with the same voice and line; one at volume 0.5 comes out
    6 dB quieter in the finished file."""
    body = job_body("espeak", [("Alice", TEXT), ("Bob", TEXT)], {"Alice": "en-us", "Bob": "en-us"})
    body["voice_assignments"][1]["volume"] = 0.5
    job = run_job(alice, body)
    assert job.status == "completed", job.error_message
    samples, rate = sf.read(io.BytesIO(job.audio.read()), dtype="float32")
    loud, quiet = (
        samples[round(t["start_ms"] * rate / 1000) : round(t["end_ms"] * rate / 1000)]
        for t in job.result_metadata["turn_timings"]
    )
    assert abs((rms_db(quiet) - rms_db(loud)) - (-6.02)) <= 0.5


@pytest.mark.django_db
def test_a_job_with_speed_takes_less_time(alice):
    body = job_body("espeak", [("Alice", TEXT), ("Bob", TEXT)], {"Alice": "en-us", "Bob": "en-us"})
    body["voice_assignments"][1]["speed"] = 2.0
    job = run_job(alice, body)
    assert job.status == "completed", job.error_message
    first, second = ((t["end_ms"] - t["start_ms"]) for t in job.result_metadata["turn_timings"])
    assert 0.40 <= second / first <= 0.60


# --- cloud providers: the settings reach the request each service documents ---


@pytest.mark.django_db
def test_openai_speed_goes_in_the_create_speech_body(openai, alice):
    body = job_body("openai", [("Alice", "Hello there."), ("Bob", "Hi.")], {"Alice": "alloy", "Bob": "echo"})
    body["voice_assignments"][0]["speed"] = 1.5
    job = run_job(alice, body)
    assert job.status == "completed", job.error_message
    first, second = (r.json() for r in openai.synthesis_requests)
    assert first["speed"] == 1.5
    assert "speed" not in second  # a speaker without settings: the request as before


@pytest.mark.django_db
def test_azure_settings_become_ssml_prosody(azure, alice):
    body = job_body(
        "azure",
        [("Alice", "Hello there."), ("Bob", "Hi, how are you?")],
        {"Alice": "en-US-JennyNeural", "Bob": "en-US-GuyNeural"},
    )
    body["voice_assignments"][0].update(speed=1.5, pitch=-3)
    body["voice_assignments"][1].update(pitch=2.5)
    job = run_job(alice, body)
    assert job.status == "completed", job.error_message
    [request] = azure.synthesis_requests
    voices = list(ET.fromstring(request.body).iter(f"{SSML_NS}voice"))
    prosodies = [voice.find(f"{SSML_NS}prosody") for voice in voices]
    assert [(p.get("rate"), p.get("pitch"), p.text) for p in prosodies] == [
        ("1.5", "-3st", "Hello there."),
        (None, "+2.5st", "Hi, how are you?"),
    ]


@pytest.mark.django_db
def test_azure_pitch_beyond_what_azure_documents_is_refused(azure):
    body = job_body("azure", [("Alice", "Hello.")], {"Alice": "en-US-JennyNeural"})
    body["voice_assignments"][0]["pitch"] = 12
    assert errors_of(body) == {"voice_assignments[0].pitch": "The azure provider accepts pitch from -12 to 7; got 12."}


@pytest.mark.django_db
def test_elevenlabs_speed_goes_in_voice_settings(elevenlabs, alice):
    rachel, drew = list(ELEVEN_VOICES)[:2]
    body = job_body(
        "elevenlabs",
        [("Alice", "Hello there, Bob."), ("Bob", "Hi Alice."), ("Alice", "Fine, thanks.")],
        {"Alice": rachel, "Bob": drew},
    )
    body["voice_assignments"][1]["speed"] = 1.2
    job = run_job(alice, body)
    assert job.status == "completed", job.error_message
    dialogue = [r for r in elevenlabs.synthesis_requests if r.path.startswith("/v1/text-to-dialogue")]
    alone = [r for r in elevenlabs.synthesis_requests if r.path.startswith("/v1/text-to-speech/")]
    # text-to-dialogue has no per-voice settings: Bob's turn is spoken alone,
    # through text-to-speech with voice_settings.speed; Alice's go together.
    assert [i["text"] for r in dialogue for i in r.json()["inputs"]] == ["Hello there, Bob.", "Fine, thanks."]
    [bob] = alone
    assert bob.path == f"/v1/text-to-speech/{drew}"
    assert bob.json()["voice_settings"] == {"speed": 1.2}
    assert bob.json()["text"] == "Hi Alice."
    timings = job.result_metadata["turn_timings"]
    assert [t["speaker"] for t in timings] == ["Alice", "Bob", "Alice"]


@pytest.mark.django_db
def test_elevenlabs_segmented_mode_sends_speed_too(elevenlabs, alice, settings):
    settings.TTS_ELEVENLABS_DIALOGUE = False
    rachel = next(iter(ELEVEN_VOICES))
    body = job_body("elevenlabs", [("Alice", "Hello there.")], {"Alice": rachel})
    body["voice_assignments"][0]["speed"] = 0.8
    job = run_job(alice, body)
    assert job.status == "completed", job.error_message
    [request] = elevenlabs.synthesis_requests
    assert request.json()["voice_settings"] == {"speed": 0.8}


def test_piper_speed_is_its_length_scale(settings):
    from synthesis.providers import reset_providers

    settings.TTS_PIPER_VOICES_DIR = ""
    reset_providers()
    try:
        piper = get_provider("piper")
        normal = piper.synthesize(TEXT, "en_US-joe-medium")
        fast = piper.synthesize(TEXT, "en_US-joe-medium", voice_settings=VoiceSettings(speed=2.0))
    finally:
        reset_providers()
    # Measured 0.62: the length scale shortens phonemes, less so the model's
    # own silences (at the comma, before and after).
    assert 0.50 <= fast.duration_ms / normal.duration_ms <= 0.70
    assert "pitch" not in piper.supported_settings


# --- the new-dialogue page ----------------------------------------------------

PAGE = {
    "script": "Alice: Hello there, Bob.\nBob: Hi Alice.",
    "provider": "espeak",
    "language": "en-us",
    "output_format": "wav",
    "gap_ms": "300",
    "crossfade_ms": "0",
    "voice:Alice": "en-us+f3",
    "voice:Bob": "en-us+m3",
}


@pytest.mark.django_db
@pytest.mark.parametrize("hx", [{}, {"HTTP_HX_REQUEST": "true"}])
def test_each_picker_has_the_settings_the_engine_honours(alice_client, hx):
    from django.urls import reverse

    html = alice_client.post(reverse("job_new"), {**PAGE, "action": "refresh"}, **hx).content.decode()
    for number, speaker in enumerate(["Alice", "Bob"]):
        for setting, low, high in [("speed", "0.5", "2"), ("pitch", "-12", "12"), ("volume", "0", "2")]:
            control = html.split(f'name="{setting}:{speaker}"')[1].split(">")[0]
            assert f'id="id_{setting}_{number}"' in control
            assert f'min="{low}"' in control and f'max="{high}"' in control
    assert 'for="id_pitch_0">Pitch (semitones)</label>' in html


@pytest.mark.django_db
def test_an_engine_without_pitch_shows_no_pitch_control(alice_client, openai):
    from django.urls import reverse

    data = {**PAGE, "provider": "openai", "voice:Alice": "alloy", "voice:Bob": "echo", "action": "refresh"}
    html = alice_client.post(reverse("job_new"), data).content.decode()
    assert 'name="speed:Alice"' in html and 'name="volume:Alice"' in html
    assert 'name="pitch:Alice"' not in html


@pytest.mark.django_db
def test_the_page_submits_settings_with_the_voices(alice_client):
    from django.urls import reverse

    response = alice_client.post(
        reverse("job_new"), {**PAGE, "speed:Alice": "1.5", "pitch:Bob": "-2", "volume:Bob": ""}
    )
    assert response.status_code == 302
    job = Job.objects.get()
    assert job.input_params["voice_assignments"] == [
        {"speaker": "Alice", "voice_id": "en-us+f3", "voice_name": "", "speed": 1.5},
        {"speaker": "Bob", "voice_id": "en-us+m3", "voice_name": "", "pitch": -2.0},
    ]


@pytest.mark.django_db
def test_a_bad_setting_on_the_page_is_shown_beside_it(alice_client):
    from django.urls import reverse

    response = alice_client.post(reverse("job_new"), {**PAGE, "speed:Bob": "3"})
    assert response.status_code == 200
    html = response.content.decode()
    bob = html.split('name="speed:Bob"')[1].split('class="voice-row"')[0]
    assert "Must be from 0.5 to 2; got 3." in bob
    response = alice_client.post(reverse("job_new"), {**PAGE, "pitch:Alice": "high"})
    alice = response.content.decode().split('name="pitch:Alice"')[1].split('class="voice-row"')[0]
    assert "Enter a number." in alice
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_the_preview_plays_the_settings(alice_client):
    from django.urls import reverse

    def preview(**settings):
        response = alice_client.get(reverse("voice_preview"), {"provider": "espeak", "voice": "en-us", **settings})
        assert response.status_code == 200, response.content
        samples, rate = sf.read(io.BytesIO(response.content), dtype="float32")
        return samples, rate

    plain, rate = preview()
    fast, _ = preview(speed="2")
    assert 0.40 <= len(fast) / len(plain) <= 0.65
    high, _ = preview(pitch="12")
    assert 1.8 <= median_f0(high, rate) / median_f0(plain, rate) <= 2.2
    loud, _ = preview(volume="1")
    quiet, _ = preview(volume="0.5")
    # volume=1 is the plain sample (the same cache entry); 0.5 is level-matched, then halved.
    assert np.array_equal(loud, plain)
    assert rms_db(quiet) < rms_db(plain) - 3


@pytest.mark.django_db
@pytest.mark.parametrize("query", [{"speed": "5"}, {"pitch": "nan"}, {"volume": "loud"}])
def test_a_preview_with_bad_settings_is_a_400(alice_client, query):
    from django.urls import reverse

    response = alice_client.get(reverse("voice_preview"), {"provider": "espeak", "voice": "en-us", **query})
    assert response.status_code == 400


@pytest.mark.django_db
def test_a_preview_with_a_setting_the_engine_lacks_is_a_400(alice_client, openai):
    from django.urls import reverse

    query = {"provider": "openai", "voice": "alloy", "pitch": "3"}
    assert alice_client.get(reverse("voice_preview"), query).status_code == 400


@pytest.mark.django_db
def test_a_new_version_with_another_volume_speaks_nothing_again_and_another_speed_respeaks(alice, scripted_provider):
    """Volume is the mix's: a re-render with a new volume reuses every kept
    turn (and the mix from kept turns applies it); a new speed respeaks that
    speaker's lines only."""
    from synthesis.tasks import run_synthesis

    def version(settings_of_bob, based_on=None):
        body = job_body("scripted", [("Alice", TEXT), ("Bob", TEXT)], {"Alice": "en-us", "Bob": "en-us"})
        body["voice_assignments"][1].update(settings_of_bob)
        provider, params = clean_job_request(body)
        job = Job.objects.submit(alice, params, provider=provider, based_on=based_on)
        scripted_provider.calls = 0
        assert run_synthesis(str(job.pk)) == "completed"
        job.refresh_from_db()
        return job

    def levels(job):
        samples, rate = sf.read(io.BytesIO(job.audio.read()), dtype="float32")
        return [
            rms_db(samples[round(t["start_ms"] * rate / 1000) : round(t["end_ms"] * rate / 1000)])
            for t in job.result_metadata["turn_timings"]
        ]

    first = version({})
    assert scripted_provider.calls == 2
    quieter = version({"volume": 0.5}, based_on=first)
    assert scripted_provider.calls == 0
    alice_level, bob_level = levels(quieter)
    assert abs((bob_level - alice_level) - (-6.02)) <= 0.5
    version({"volume": 0.5, "speed": 2.0}, based_on=quieter)
    assert scripted_provider.calls == 1  # Bob's line, at the new speed

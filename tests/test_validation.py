"""Bad input gets a 400 naming the field; nothing is stored or enqueued."""

import json

import pytest
from django_q.models import OrmQ

from synthesis.models import Job
from tests.conftest import dialogue

pytestmark = pytest.mark.django_db


def turns(n, text="Hello.", speakers=("A",)):
    return [{"speaker": speakers[i % len(speakers)], "text": text, "index": i} for i in range(n)]


def assign(*speakers, voice="en-us"):
    return [{"speaker": s, "voice_id": voice} for s in speakers]


BAD_BODIES = {
    "empty turns": (dialogue(turns=[]), "turns"),
    "turns not a list": (dialogue(turns="Alice: hi"), "turns"),
    "turn not an object": (dialogue(turns=["hi"]), "turns[0]"),
    "empty text": (dialogue(turns=[{"speaker": "Alice", "text": "", "index": 0}]), "turns[0].text"),
    "whitespace text": (dialogue(turns=[{"speaker": "Alice", "text": " \n\t", "index": 0}]), "turns[0].text"),
    "text not a string": (dialogue(turns=[{"speaker": "Alice", "text": 5, "index": 0}]), "turns[0].text"),
    "missing speaker": (dialogue(turns=[{"text": "hi", "index": 0}]), "turns[0].speaker"),
    "speaker too long": (dialogue(turns=[{"speaker": "A" * 51, "text": "hi", "index": 0}]), "turns[0].speaker"),
    "speaker without voice": (dialogue(voice_assignments=assign("Alice", "Bob")), "voice_assignments"),
    "voice not in provider": (
        dialogue(voice_assignments=[{"speaker": "Alice", "voice_id": "klingon"}, *assign("Bob", "Carol")]),
        "voice_assignments[0].voice_id",
    ),
    "assignments not a list": (dialogue(voice_assignments={"Alice": "en-us"}), "voice_assignments"),
    "unknown provider": (dialogue(provider="nope"), "provider"),
    "unknown format": (dialogue(output_format="aac"), "output_format"),
    "format a list": (dialogue(output_format=["mp3"]), "output_format"),
    "format an object": (dialogue(output_format={"mp3": 1}), "output_format"),
    "duplicate index": (
        dialogue(
            turns=[{"speaker": "A", "text": "x", "index": 1}, {"speaker": "A", "text": "y", "index": 1}],
            voice_assignments=assign("A"),
        ),
        "turns[1].index",
    ),
    "negative index": (
        dialogue(turns=[{"speaker": "A", "text": "x", "index": -1}], voice_assignments=assign("A")),
        "turns[0].index",
    ),
    "index not a number": (
        dialogue(turns=[{"speaker": "A", "text": "x", "index": "0"}], voice_assignments=assign("A")),
        "turns[0].index",
    ),
    "gap too big": (dialogue(gap_ms=2001), "gap_ms"),
    "gap negative": (dialogue(gap_ms=-1), "gap_ms"),
    "gap a string": (dialogue(gap_ms="300"), "gap_ms"),
    "gap a bool": (dialogue(gap_ms=True), "gap_ms"),
    "crossfade too big": (dialogue(crossfade_ms=501), "crossfade_ms"),
    "too many speakers": (
        dialogue(
            turns=turns(51, speakers=[f"S{i}" for i in range(51)]),
            voice_assignments=assign(*[f"S{i}" for i in range(51)]),
        ),
        "turns",
    ),
    "too many turns": (dialogue(turns=turns(1001), voice_assignments=assign("A")), "turns"),
    "turn too long": (dialogue(turns=turns(1, text="x" * 5001), voice_assignments=assign("A")), "turns[0].text"),
    "job too long": (dialogue(turns=turns(21, text="x" * 4999), voice_assignments=assign("A")), "turns"),
    "body not an object": ([1, 2], "body"),
    "audio too long": (
        dialogue(turns=turns(20, text="中" * 5000), voice_assignments=assign("A", voice="cmn"), gap_ms=2000),
        "turns",
    ),
}


@pytest.mark.parametrize("body, field", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bad_input_names_the_field_and_stores_nothing(alice_client, body, field):
    response = alice_client.post("/api/v1/jobs", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 400, response.content
    error = response.json()
    assert error["error"] == "VALIDATION_ERROR"
    assert field in error["details"], error["details"]
    assert Job.objects.count() == 0
    assert OrmQ.objects.count() == 0


@pytest.mark.parametrize("raw", [b"{not json", b"", "\u00e9".encode("latin-1"), b"[" * 100_000 + b"]" * 100_000])
def test_malformed_json_is_a_400(alice_client, raw):
    response = alice_client.post("/api/v1/jobs", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "VALIDATION_ERROR"
    assert Job.objects.count() == 0


def test_every_bad_field_is_reported_at_once(alice_client):
    body = dialogue(gap_ms=-5, crossfade_ms=9999, output_format="aac")
    details = alice_client.post("/api/v1/jobs", data=json.dumps(body), content_type="application/json").json()[
        "details"
    ]
    assert {"gap_ms", "crossfade_ms", "output_format"} <= details.keys()


def test_limits_are_settings(alice_client, settings):
    settings.TTS_MAX_TURNS = 2
    body = dialogue()
    response = alice_client.post("/api/v1/jobs", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert "At most 2 turns" in response.json()["details"]["turns"]


def test_defaults_fill_in_optional_fields(alice_client):
    body = dialogue()
    for key in ("gap_ms", "crossfade_ms", "output_format", "language"):
        body.pop(key)
    for turn in body["turns"]:
        turn.pop("index")
    response = alice_client.post("/api/v1/jobs", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    params = response.json()["input_params"]
    assert (params["gap_ms"], params["crossfade_ms"], params["output_format"]) == (300, 50, "mp3")
    assert [t["index"] for t in params["turns"]] == [0, 1, 2]


def test_provider_is_required_as_in_the_original_contract(alice_client):
    body = dialogue()
    body.pop("provider")
    response = alice_client.post("/api/v1/jobs", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "VALIDATION_ERROR"
    assert list(response.json()["details"]) == ["provider"]
    assert "Required" in response.json()["details"]["provider"]
    assert Job.objects.count() == 0


def test_turns_are_ordered_by_index(alice_client):
    body = dialogue()
    body["turns"][0]["index"] = 9
    params = alice_client.post("/api/v1/jobs", data=json.dumps(body), content_type="application/json").json()[
        "input_params"
    ]
    assert [t["speaker"] for t in params["turns"]] == ["Bob", "Carol", "Alice"]


@pytest.mark.parametrize(
    "text, voice",
    [
        ("你好，世界。今天天气很好。", "cmn"),
        ("Hello 👋🎉 there", "en-us"),
        ("שלום, מה שלומך?", "he"),
        ("مرحبا بالعالم", "ar"),
    ],
)
def test_unicode_text_is_accepted_and_ends_in_a_final_state(alice_client, text, voice):
    from synthesis.tasks import run_synthesis

    body = dialogue(
        turns=[{"speaker": "名字", "text": text, "index": 0}],
        voice_assignments=[{"speaker": "名字", "voice_id": voice}],
    )
    response = alice_client.post("/api/v1/jobs", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    run_synthesis(response.json()["id"])
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == Job.Status.COMPLETED, (job.error_code, job.error_message)
    assert job.result_metadata["duration_ms"] > 300


def test_estimated_audio_length_is_limited(alice_client, settings):
    # 100,000 Chinese characters (about 7 hours) are refused; the same number
    # of Latin ones (about 2) fits the default 3 hours.
    chinese = dialogue(turns=turns(20, text="中" * 5000), voice_assignments=assign("A", voice="cmn"))
    response = alice_client.post("/api/v1/jobs", data=json.dumps(chinese), content_type="application/json")
    assert response.status_code == 400
    assert response.json()["details"]["turns"] == (
        "This dialogue would make about 6.9 hours of audio; at most 3 hours. Split it into shorter jobs."
    )
    latin = dialogue(turns=turns(20, text="x" * 5000), voice_assignments=assign("A"))
    response = alice_client.post("/api/v1/jobs", data=json.dumps(latin), content_type="application/json")
    assert response.status_code == 201, response.content

    settings.TTS_MAX_AUDIO_SECONDS = 3
    response = alice_client.post("/api/v1/jobs", data=json.dumps(dialogue()), content_type="application/json")
    assert response.status_code == 400
    assert "about 5 seconds of audio; at most 3 seconds" in response.json()["details"]["turns"]

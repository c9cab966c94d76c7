"""The OpenAPI 3.1 description of API v1, served at /api/v1/openapi.json.

Built from the same settings and constants the API validates with, so limits
stay in step. tests/test_openapi.py validates real responses against it and
runs schemathesis against a live server.
"""

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from synthesis import lexicon
from synthesis.audio import OUTPUT_FORMATS
from synthesis.models import Job
from synthesis.providers.base import PITCH_RANGE, SPEED_RANGE, VOLUME_RANGE
from synthesis.validation import CROSSFADE_RANGE, DEFAULT_CROSSFADE_MS, DEFAULT_GAP_MS, GAP_RANGE

JSON = "application/json"
NULLABLE_STRING = {"type": ["string", "null"]}
TIMESTAMP = {"type": "string", "format": "date-time"}
NULLABLE_TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def error_schema(*codes: str, details: dict | None = None) -> dict:
    return {
        "type": "object",
        "required": ["error", "message", "details"],
        "additionalProperties": False,
        "properties": {
            "error": {"type": "string", "enum": list(codes)},
            "message": {"type": "string"},
            "details": details or {"type": "object"},
        },
    }


def error(description: str, schema: str) -> dict:
    return {"description": description, "content": {JSON: {"schema": ref(schema)}}}


UNAUTHORIZED = {
    "description": "No session and no token, or an unknown or revoked token.",
    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
    "content": {JSON: {"schema": ref("Unauthorized")}},
}
FORBIDDEN = error("A session request (cookie) without a valid CSRF token. Token requests never get this.", "CsrfFailed")
NOT_FOUND = error("No such job, or it belongs to someone else (the two are not told apart).", "JobNotFound")
LEXICON_NOT_FOUND = error(
    "No such dictionary entry, or it belongs to someone else (the two are not told apart).", "LexiconEntryNotFound"
)
ENTRY_ID = {
    "name": "entry_id",
    "in": "path",
    "required": True,
    "description": "The entry's id, as returned when it was created.",
    "schema": {"type": "integer", "minimum": 1},
}
JOB_ID = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "description": "The job's id, as returned when it was submitted.",
    "schema": {"type": "string", "format": "uuid"},
}


def schemas() -> dict:
    max_turns = settings.TTS_MAX_TURNS
    job_summary_props = {
        "id": {"type": "string", "format": "uuid"},
        "job_type": {"type": "string", "enum": ["multi_role_tts"]},
        "status": {"type": "string", "enum": list(Job.Status.values)},
        "provider": {"type": "string"},
        "title": {"type": "string"},
        "progress": {
            "type": "object",
            "required": ["done", "total"],
            "additionalProperties": False,
            "properties": {"done": {"type": "integer", "minimum": 0}, "total": {"type": "integer", "minimum": 0}},
        },
        "created_at": TIMESTAMP,
        "started_at": NULLABLE_TIMESTAMP,
        "completed_at": NULLABLE_TIMESTAMP,
        "error_code": {**NULLABLE_STRING, "description": "Why a failed or cancelled job ended, e.g. TIMEOUT."},
        "error_message": NULLABLE_STRING,
        "duration_ms": {"type": ["integer", "null"], "minimum": 0},
        "download_url": {**NULLABLE_STRING, "description": "Set once the job is completed."},
    }
    turn = {
        "type": "object",
        "required": ["speaker", "text"],
        "properties": {
            "speaker": {"type": "string", "minLength": 1, "maxLength": settings.TTS_MAX_SPEAKER_NAME},
            "text": {
                "type": "string",
                "minLength": 1,
                "maxLength": settings.TTS_MAX_TURN_CHARS,
                "description": "What the speaker says. [pause 800ms], [pause 1.5s] or [停頓 1秒] (also in ［］ or "
                "【】) inserts that much silence there (0-10 s, never read aloud); a mistaken marker "
                "([pause 800], [pause 12s]) is a 400 on this field. Only a pause is a silent turn.",
            },
            "index": {
                "type": "integer",
                "minimum": 0,
                "description": "Order in the dialogue; defaults to the turn's position. Unique.",
            },
        },
    }
    assignment = {
        "type": "object",
        "required": ["speaker", "voice_id"],
        "properties": {
            "speaker": {"type": "string", "minLength": 1},
            "voice_id": {"type": "string", "minLength": 1, "description": "An id from GET /api/v1/voices."},
            "voice_name": {"type": ["string", "null"], "maxLength": 100},
            "speed": {
                "type": ["number", "null"],
                "minimum": SPEED_RANGE[0],
                "maximum": SPEED_RANGE[1],
                "default": 1.0,
                "description": "Speaking rate factor (2.0: twice as fast). Only for providers whose "
                "voice_settings in GET /api/v1/voices list it, within their range; otherwise 400.",
            },
            "pitch": {
                "type": ["number", "null"],
                "minimum": PITCH_RANGE[0],
                "maximum": PITCH_RANGE[1],
                "default": 0,
                "description": "Semitones up or down. Only for providers that list it (see speed).",
            },
            "volume": {
                "type": ["number", "null"],
                "minimum": VOLUME_RANGE[0],
                "maximum": VOLUME_RANGE[1],
                "default": 1.0,
                "description": "Gain factor applied to this speaker's turns when the dialogue is mixed, "
                "after loudness matching (0.5: 6 dB quieter). Every provider.",
            },
        },
    }
    input_params = {
        "type": "object",
        "required": ["turns", "voice_assignments", "language", "output_format", "gap_ms", "crossfade_ms"],
        "properties": {
            "turns": {"type": "array", "items": turn},
            "voice_assignments": {"type": "array", "items": assignment},
            "language": {"type": "string"},
            "output_format": {"type": "string", "enum": list(OUTPUT_FORMATS)},
            "gap_ms": {"type": "integer"},
            "crossfade_ms": {"type": "integer"},
        },
    }
    entry_input = {
        "written": {
            "type": "string",
            "minLength": 1,
            "maxLength": lexicon.MAX_WRITTEN,
            "description": "The word or term as written (at least one letter or digit). Unique per user.",
        },
        "spoken": {
            "type": "string",
            "minLength": 1,
            "maxLength": lexicon.MAX_SPOKEN,
            "description": "How to say it: a respelling, or phonemes in the alphabet `kind` names.",
        },
        "kind": {
            "type": "string",
            "enum": list(lexicon.KINDS),
            "default": lexicon.RESPELLING,
            "description": "respelling: any provider. espeak: eSpeak NG phoneme mnemonics (eSpeak only). "
            "ipa: IPA (Azure's SSML phoneme). Elsewhere a phoneme entry is spoken as written.",
        },
        "case_sensitive": {
            "type": "boolean",
            "default": False,
            "description": "Match only this exact case (e.g. US, not us). By default any case matches.",
        },
    }
    return {
        "JobRequest": {
            "type": "object",
            "required": ["provider", "turns", "voice_assignments"],
            "properties": {
                "provider": {"type": "string", "description": "A provider name from GET /api/v1/voices."},
                "turns": {"type": "array", "minItems": 1, "maxItems": max_turns, "items": turn},
                "voice_assignments": {
                    "type": "array",
                    "items": assignment,
                    "description": "One per speaker named in the turns.",
                },
                "language": {"type": ["string", "null"], "minLength": 1, "maxLength": 20, "default": "en"},
                "output_format": {"type": "string", "enum": list(OUTPUT_FORMATS), "default": "mp3"},
                "gap_ms": {
                    "type": ["integer", "null"],
                    "minimum": GAP_RANGE[0],
                    "maximum": GAP_RANGE[1],
                    "default": DEFAULT_GAP_MS,
                },
                "crossfade_ms": {
                    "type": ["integer", "null"],
                    "minimum": CROSSFADE_RANGE[0],
                    "maximum": CROSSFADE_RANGE[1],
                    "default": DEFAULT_CROSSFADE_MS,
                },
                "based_on": {
                    "type": ["string", "null"],
                    "format": "uuid",
                    "description": (
                        "Extension: edit and re-render. The id of one of your jobs this one is a new version of: "
                        "every turn whose sound would not change (same provider, voice, language and text) is "
                        "copied from that job's kept turns instead of being synthesized again."
                    ),
                },
                "retake_turns": {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 0},
                    "description": (
                        "Extension, with based_on: positions of turns to synthesize anew even though unchanged "
                        "(a new take; identical for deterministic engines such as eSpeak)."
                    ),
                },
            },
        },
        "JobSummary": {
            "type": "object",
            "required": list(job_summary_props),
            "additionalProperties": False,
            "properties": job_summary_props,
        },
        "JobDetail": {
            "type": "object",
            "required": [
                *job_summary_props,
                "input_params",
                "result_metadata",
                "audio_file_id",
                "retry_count",
                "attempts",
                "expires_at",
            ],
            "additionalProperties": False,
            "properties": {
                **job_summary_props,
                "input_params": input_params,
                "lexicon": {
                    "type": "array",
                    "description": (
                        "Extension: the entries of your pronunciation dictionary that occur in this job's text, "
                        "as they were when it was submitted; later edits of the dictionary change neither this "
                        "list nor what the job's runs speak. `applied` is false for phonemes in an alphabet "
                        "the provider cannot take: those words are spoken as written."
                    ),
                    "items": {
                        "type": "object",
                        "required": ["written", "spoken", "kind", "case_sensitive", "applied"],
                        "properties": {
                            "written": {"type": "string"},
                            "spoken": {"type": "string"},
                            "kind": {"type": "string", "enum": list(lexicon.KINDS)},
                            "case_sensitive": {"type": "boolean"},
                            "applied": {"type": "boolean"},
                        },
                    },
                },
                "result_metadata": {
                    "type": ["object", "null"],
                    "description": "Null until the job completes.",
                    "properties": {
                        "duration_ms": {"type": "integer"},
                        "latency_ms": {"type": "integer"},
                        "synthesis_mode": {"type": "string", "enum": ["native", "segmented"]},
                        "sample_rate": {"type": "integer"},
                        "format": {"type": "string"},
                        "size_bytes": {"type": "integer"},
                        "peaks": {
                            "type": "array",
                            "description": "A waveform overview: the peak level (percent of full scale) of each of "
                            "up to 1,000 equal slices of the audio, computed once at completion.",
                            "items": {"type": "integer", "minimum": 0, "maximum": 100},
                        },
                        "attempts": {"type": "integer", "description": "Runs it took (extension)."},
                        "reused_turns": {
                            "type": "integer",
                            "minimum": 0,
                            "description": "Extension, on a job made with based_on: how many turns were copied "
                            "from that job instead of being spoken again.",
                        },
                        "turn_timings": {
                            "type": "array",
                            "description": "Where each turn is in the audio; `speaker` is an extension.",
                            "items": {
                                "type": "object",
                                "required": ["turn_index", "start_ms", "end_ms"],
                                "properties": {
                                    "turn_index": {"type": "integer"},
                                    "speaker": {"type": "string"},
                                    "start_ms": {"type": "integer"},
                                    "end_ms": {"type": "integer"},
                                },
                            },
                        },
                        "sentence_timings": {
                            "type": "array",
                            "description": "Extension: where each sentence of each turn is in the audio, from "
                            "the start of its speech to the end of it (the engine's word events or alignment where "
                            "it reports them, else the pauses in the audio); the subtitles' cues.",
                            "items": {
                                "type": "object",
                                "required": ["turn_index", "sentence_index", "start_ms", "end_ms", "text"],
                                "properties": {
                                    "turn_index": {"type": "integer"},
                                    "sentence_index": {"type": "integer", "minimum": 0},
                                    "start_ms": {"type": "integer"},
                                    "end_ms": {"type": "integer"},
                                    "text": {"type": "string", "description": "The sentence as the user wrote it."},
                                },
                            },
                        },
                    },
                },
                "audio_file_id": {
                    "type": ["string", "null"],
                    "format": "uuid",
                    "description": "The audio file's id; set only on completed jobs.",
                },
                "retry_count": {"type": "integer", "minimum": 0},
                "based_on": {
                    **NULLABLE_STRING,
                    "description": "Extension: the job this one is a new version of (edit and re-render), if any.",
                },
                "attempts": {
                    "type": "integer",
                    "minimum": 0,
                    "description": (
                        "Extension of the original contract: runs started for this job. Above 1, a run was "
                        "interrupted (a worker killed or restarted) and the job resumed from the turns it had "
                        "already synthesized. A job is failed with WORKER_LOST after TTS_MAX_ATTEMPTS (3) runs."
                    ),
                },
                "expires_at": {**NULLABLE_TIMESTAMP, "description": "When the job and its audio are deleted."},
            },
        },
        "JobList": {
            "type": "object",
            "required": ["items", "total", "limit", "offset"],
            "additionalProperties": False,
            "properties": {
                "items": {"type": "array", "items": ref("JobSummary")},
                "total": {"type": "integer", "minimum": 0},
                "limit": {"type": "integer", "minimum": 1, "maximum": 100},
                "offset": {"type": "integer", "minimum": 0},
                "next_cursor": {
                    "type": ["string", "null"],
                    "description": "Pass as `cursor` for the next page (null on the last page): as fast at any "
                    "depth, and no job is skipped or repeated when new ones arrive meanwhile.",
                },
            },
        },
        "Voices": {
            "type": "object",
            "required": ["providers", "output_formats"],
            "additionalProperties": False,
            "properties": {
                "providers": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "label", "capabilities", "voices"],
                        "properties": {
                            "name": {"type": "string"},
                            "label": {"type": "string"},
                            "capabilities": {
                                "type": "object",
                                "properties": {
                                    "native_multi_speaker": {"type": "boolean"},
                                    "max_speakers": {"type": "integer"},
                                    "max_chars_per_request": {"type": "integer"},
                                    "sample_rates": {"type": "array", "items": {"type": "integer"}},
                                    "phoneme_alphabets": {
                                        "type": "array",
                                        "description": "Extension: the phoneme kinds of dictionary entries "
                                        "this provider speaks as phonemes (espeak, ipa).",
                                        "items": {"type": "string", "enum": list(lexicon.PHONEME_KINDS)},
                                    },
                                },
                            },
                            "voice_settings": {
                                "type": "object",
                                "description": "The voice assignment settings this provider honours "
                                "(speed, pitch, volume), each with the range it accepts.",
                                "additionalProperties": {
                                    "type": "object",
                                    "required": ["minimum", "maximum", "default"],
                                    "properties": {
                                        "minimum": {"type": "number"},
                                        "maximum": {"type": "number"},
                                        "default": {"type": "number"},
                                    },
                                },
                            },
                            "voices": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["id", "name", "language"],
                                    "properties": {
                                        "id": {"type": "string"},
                                        "name": {"type": "string"},
                                        "language": {"type": "string"},
                                        "gender": NULLABLE_STRING,
                                    },
                                },
                            },
                        },
                    },
                },
                "output_formats": {"type": "array", "items": {"type": "string", "enum": list(OUTPUT_FORMATS)}},
            },
        },
        "LexiconEntryInput": {
            "type": "object",
            "additionalProperties": False,
            "properties": entry_input,
        },
        "LexiconEntry": {
            "type": "object",
            "required": ["id", "written", "spoken", "kind", "case_sensitive", "created_at", "updated_at"],
            "additionalProperties": False,
            "properties": {
                "id": {"type": "integer", "minimum": 1},
                **entry_input,
                "created_at": TIMESTAMP,
                "updated_at": TIMESTAMP,
            },
        },
        "LexiconPage": {
            "type": "object",
            "required": ["items", "total", "limit", "offset", "max_entries"],
            "additionalProperties": False,
            "properties": {
                "items": {"type": "array", "items": ref("LexiconEntry")},
                "total": {"type": "integer", "minimum": 0},
                "limit": {"type": "integer", "minimum": 1},
                "offset": {"type": "integer", "minimum": 0},
                "max_entries": {"type": "integer", "description": "How many entries one user may have."},
            },
        },
        "LexiconEntryNotFound": error_schema(
            "LEXICON_ENTRY_NOT_FOUND",
            details={"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}},
        ),
        "LexiconFull": error_schema(
            "LEXICON_FULL",
            details={
                "type": "object",
                "required": ["current_entries", "max_entries"],
                "properties": {"current_entries": {"type": "integer"}, "max_entries": {"type": "integer"}},
            },
        ),
        "ValidationError": error_schema(
            "VALIDATION_ERROR",
            details={
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "One message per bad field, named as sent: turns[2].text, voice_assignments, limit.",
            },
        ),
        "Unauthorized": error_schema("NOT_AUTHENTICATED", "INVALID_TOKEN"),
        "CsrfFailed": error_schema("CSRF_FAILED"),
        "JobNotFound": error_schema(
            "JOB_NOT_FOUND",
            details={
                "type": "object",
                "required": ["job_id"],
                "properties": {"job_id": {"type": "string"}},
            },
        ),
        "JobNotCompleted": error_schema(
            "JOB_NOT_COMPLETED",
            details={
                "type": "object",
                "required": ["status"],
                "properties": {"status": {"type": "string"}},
            },
        ),
        "JobLimitExceeded": error_schema(
            "JOB_LIMIT_EXCEEDED",
            details={
                "type": "object",
                "required": ["current_jobs", "max_jobs"],
                "properties": {"current_jobs": {"type": "integer"}, "max_jobs": {"type": "integer"}},
            },
        ),
        "IdempotencyKeyReused": error_schema(
            "IDEMPOTENCY_KEY_REUSED",
            details={
                "type": "object",
                "required": ["job_id"],
                "properties": {"job_id": {"type": "string", "format": "uuid"}},
            },
        ),
        "DatabaseUnavailable": error_schema("DATABASE_UNAVAILABLE"),
        "InternalError": error_schema("INTERNAL_ERROR"),
        "RequestTooLarge": error_schema(
            "REQUEST_TOO_LARGE",
            details={
                "type": "object",
                "required": ["max_bytes"],
                "properties": {"max_bytes": {"type": "integer"}},
            },
        ),
        "JobCannotCancel": error_schema(
            "JOB_CANNOT_CANCEL",
            details={
                "type": "object",
                "required": ["status"],
                "properties": {"status": {"type": "string"}},
            },
        ),
    }


DATABASE_UNAVAILABLE = {
    "description": (
        "The database is unreachable or restarting (an extension of the original contract): try again after "
        "Retry-After seconds."
    ),
    "headers": {"Retry-After": {"schema": {"type": "string"}}},
    "content": {JSON: {"schema": ref("DatabaseUnavailable")}},
}
INTERNAL_ERROR = error("An unexpected error on the server; it has been logged.", "InternalError")


def add_outage_responses(paths: dict):
    """Every operation can meet a database outage (503) or a bug (500)."""
    for path in paths.values():
        for method, operation in path.items():
            if method == "parameters":
                continue
            if operation["operationId"] != "getOpenApi":  # served without the database
                operation["responses"]["503"] = DATABASE_UNAVAILABLE
            operation["responses"]["500"] = INTERNAL_ERROR


def build_openapi() -> dict:
    spec = build_contract()
    add_outage_responses(spec["paths"])
    return spec


def build_contract() -> dict:
    max_jobs = settings.TTS_MAX_ACTIVE_JOBS_PER_USER
    # OpenAPI 3.1: binary content is a media type without a schema.
    audio_content = {media_type: {} for media_type in OUTPUT_FORMATS.values()}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ttsjobs API",
            "version": "1",
            "description": (
                "Turn a multi-speaker dialogue into one audio file, in the background: submit a job, "
                "poll it, download the audio. Authenticate with `Authorization: Bearer <token>` "
                "(create tokens on /account/tokens/) or with a logged-in session plus X-CSRFToken on "
                "writes. Errors are `{error, message, details}`."
            ),
        },
        "paths": {
            "/api/v1/jobs": {
                "get": {
                    "operationId": "listJobs",
                    "summary": "Your jobs, newest first",
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                        },
                        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
                        {
                            "name": "cursor",
                            "in": "query",
                            "description": "next_cursor of the previous page (instead of offset).",
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "status",
                            "in": "query",
                            "schema": {"type": "string", "enum": list(Job.Status.values)},
                        },
                    ],
                    "responses": {
                        "200": {"description": "A page of jobs.", "content": {JSON: {"schema": ref("JobList")}}},
                        "400": error("A query parameter is not valid.", "ValidationError"),
                        "401": UNAUTHORIZED,
                    },
                },
                "post": {
                    "operationId": "submitJob",
                    "summary": "Submit a dialogue for synthesis",
                    "description": (
                        f"At most {max_jobs} of your jobs may be pending or processing at once. "
                        "Send an Idempotency-Key to make retries safe (an extension of the original contract)."
                    ),
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "description": (
                                "Any unique string per intended job, e.g. a UUID (1-255 printable ASCII "
                                f"characters). Within {settings.TTS_IDEMPOTENCY_KEY_HOURS} h, a retry with the "
                                "same key and the same JSON body returns the job the first request created "
                                "(200, Idempotent-Replayed: true) without creating or counting another; the "
                                "same key with a different body is a 422 IDEMPOTENCY_KEY_REUSED."
                            ),
                            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            JSON: {
                                "schema": ref("JobRequest"),
                                "example": {
                                    "provider": "espeak",
                                    "turns": [
                                        {"speaker": "Alice", "text": "Hello, Bob.", "index": 0},
                                        {"speaker": "Bob", "text": "Hi Alice!", "index": 1},
                                    ],
                                    "voice_assignments": [
                                        {"speaker": "Alice", "voice_id": "en-us+f3"},
                                        {"speaker": "Bob", "voice_id": "en-us+m3"},
                                    ],
                                    "output_format": "mp3",
                                },
                            }
                        },
                    },
                    "responses": {
                        "201": {"description": "Accepted and queued.", "content": {JSON: {"schema": ref("JobDetail")}}},
                        "200": {
                            "description": (
                                "A retry with an Idempotency-Key already used for this same body: the job it "
                                "created, as it is now. Nothing new was created or counted."
                            ),
                            "headers": {"Idempotent-Replayed": {"schema": {"type": "string", "enum": ["true"]}}},
                            "content": {JSON: {"schema": ref("JobDetail")}},
                        },
                        "400": error(
                            "The body is not JSON, or fields are not valid (each one named).", "ValidationError"
                        ),
                        "401": UNAUTHORIZED,
                        "403": FORBIDDEN,
                        "422": error(
                            "The Idempotency-Key was already used with a different body.", "IdempotencyKeyReused"
                        ),
                        "413": error(
                            f"The body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes.",
                            "RequestTooLarge",
                        ),
                        "429": error(f"You already have {max_jobs} active jobs.", "JobLimitExceeded"),
                    },
                },
            },
            "/api/v1/jobs/{job_id}": {
                "parameters": [JOB_ID],
                "get": {
                    "operationId": "getJob",
                    "summary": "A job's status, progress, input and result",
                    "description": "Pollers: send the ETag of the last answer back in If-None-Match; while the "
                    "job has not changed the answer is 304 with no body (cheaper on both sides: the input, "
                    "up to 100,000 characters, is not sent again).",
                    "parameters": [{"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}],
                    "responses": {
                        "200": {
                            "description": "The job.",
                            "headers": {"ETag": {"schema": {"type": "string"}}},
                            "content": {JSON: {"schema": ref("JobDetail")}},
                        },
                        "304": {
                            "description": "Not changed since the ETag sent in If-None-Match.",
                            "headers": {"ETag": {"schema": {"type": "string"}}},
                        },
                        "401": UNAUTHORIZED,
                        "404": NOT_FOUND,
                    },
                },
                "delete": {
                    "operationId": "cancelJob",
                    "summary": "Cancel a pending or processing job",
                    "description": (
                        "Extension of the original contract, which cancelled pending jobs only: a processing "
                        "job is cancelled too. The answer is immediate (status cancelled); the worker stops "
                        "within seconds, and the turns it kept and any partial audio are deleted."
                    ),
                    "responses": {
                        "200": {
                            "description": "Cancelled; the job as it is now.",
                            "content": {JSON: {"schema": ref("JobDetail")}},
                        },
                        "401": UNAUTHORIZED,
                        "403": FORBIDDEN,
                        "404": NOT_FOUND,
                        "409": error("The job already ended (completed, failed or cancelled).", "JobCannotCancel"),
                    },
                },
            },
            "/api/v1/jobs/{job_id}/download": {
                "parameters": [JOB_ID],
                "get": {
                    "operationId": "downloadJobAudio",
                    "summary": "The audio of a completed job, as an attachment",
                    "description": (
                        "Answers HTTP range requests (RFC 9110): one range gets a 206 with `Content-Range`; "
                        "several ranges, an invalid `Range` or an `If-Range` that doesn't match get the whole "
                        "file (200). `ETag` and `Last-Modified` allow `If-None-Match` / `If-Modified-Since` (304). "
                        "HEAD gives the size and `Accept-Ranges` without the bytes."
                    ),
                    "parameters": [
                        {
                            "name": "Range",
                            "in": "header",
                            "required": False,
                            "description": "One byte range: `bytes=0-99`, `bytes=600000-`, `bytes=-1000`.",
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "If-Range",
                            "in": "header",
                            "required": False,
                            "description": "The `ETag` or `Last-Modified` of the copy being resumed.",
                            "schema": {"type": "string"},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "The audio file.",
                            "headers": {
                                "Content-Disposition": {"schema": {"type": "string"}},
                                "Accept-Ranges": {"schema": {"type": "string", "enum": ["bytes"]}},
                                "ETag": {"schema": {"type": "string"}},
                            },
                            "content": audio_content,
                        },
                        "206": {
                            "description": "The requested byte range of the audio file.",
                            "headers": {
                                "Content-Range": {"schema": {"type": "string", "example": "bytes 0-99/48213"}},
                                "Accept-Ranges": {"schema": {"type": "string", "enum": ["bytes"]}},
                            },
                            "content": audio_content,
                        },
                        "304": {"description": "Not modified: the client's copy (`If-None-Match`) is current."},
                        "416": {
                            "description": "The range starts past the end of the file.",
                            "headers": {"Content-Range": {"schema": {"type": "string", "example": "bytes */48213"}}},
                        },
                        "302": {
                            "description": "With S3 storage: a redirect to a short-lived presigned URL.",
                            "headers": {"Location": {"schema": {"type": "string"}}},
                        },
                        "401": UNAUTHORIZED,
                        "404": {
                            "description": "No such job (JOB_NOT_FOUND), or it has no audio yet (JOB_NOT_COMPLETED).",
                            "content": {JSON: {"schema": {"oneOf": [ref("JobNotFound"), ref("JobNotCompleted")]}}},
                        },
                    },
                },
            },
            "/api/v1/voices": {
                "get": {
                    "operationId": "listVoices",
                    "summary": "The providers this server can use, their voices, and the output formats",
                    "responses": {
                        "200": {"description": "The catalog.", "content": {JSON: {"schema": ref("Voices")}}},
                        "401": UNAUTHORIZED,
                    },
                },
            },
            "/api/v1/lexicon": {
                "get": {
                    "operationId": "listLexiconEntries",
                    "summary": "Your pronunciation dictionary (extension), in order of written form",
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                        },
                        {
                            "name": "offset",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "minimum": 0,
                                "maximum": settings.TTS_MAX_LEXICON_ENTRIES,
                                "default": 0,
                            },
                        },
                        {
                            "name": "q",
                            "in": "query",
                            "description": "Only entries whose written form contains this (any case).",
                            "schema": {"type": "string", "maxLength": 100},
                        },
                    ],
                    "responses": {
                        "200": {"description": "A page of entries.", "content": {JSON: {"schema": ref("LexiconPage")}}},
                        "400": error("A query parameter is not valid.", "ValidationError"),
                        "401": UNAUTHORIZED,
                    },
                },
                "post": {
                    "operationId": "createLexiconEntry",
                    "summary": "Add a dictionary entry",
                    "description": (
                        "Applied to the jobs you submit from now on, in every provider: whole words, any case "
                        "unless case_sensitive, longest entry first; Chinese, Japanese, Korean and Thai terms "
                        f"match as written. At most {settings.TTS_MAX_LEXICON_ENTRIES:,} entries."
                    ),
                    "requestBody": {
                        "required": True,
                        "content": {
                            JSON: {
                                "schema": {**ref("LexiconEntryInput"), "required": ["written", "spoken"]},
                                "example": {"written": "Nguyen", "spoken": "win"},
                            }
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "Created.",
                            "headers": {"Location": {"schema": {"type": "string"}}},
                            "content": {JSON: {"schema": ref("LexiconEntry")}},
                        },
                        "400": error(
                            "A field is not valid, or the written form is already an entry.", "ValidationError"
                        ),
                        "401": UNAUTHORIZED,
                        "403": FORBIDDEN,
                        "409": error(f"You already have {settings.TTS_MAX_LEXICON_ENTRIES:,} entries.", "LexiconFull"),
                        "413": error(
                            f"The body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes.",
                            "RequestTooLarge",
                        ),
                    },
                },
            },
            "/api/v1/lexicon/{entry_id}": {
                "parameters": [ENTRY_ID],
                "get": {
                    "operationId": "getLexiconEntry",
                    "summary": "One dictionary entry",
                    "responses": {
                        "200": {"description": "The entry.", "content": {JSON: {"schema": ref("LexiconEntry")}}},
                        "401": UNAUTHORIZED,
                        "404": LEXICON_NOT_FOUND,
                    },
                },
                "put": {
                    "operationId": "replaceLexiconEntry",
                    "summary": "Replace a dictionary entry (kind, case_sensitive: their defaults if not sent)",
                    "requestBody": {
                        "required": True,
                        "content": {JSON: {"schema": {**ref("LexiconEntryInput"), "required": ["written", "spoken"]}}},
                    },
                    "responses": {
                        "200": {"description": "The entry now.", "content": {JSON: {"schema": ref("LexiconEntry")}}},
                        "400": error("A field is not valid.", "ValidationError"),
                        "401": UNAUTHORIZED,
                        "403": FORBIDDEN,
                        "404": LEXICON_NOT_FOUND,
                        "413": error("The body is too large.", "RequestTooLarge"),
                    },
                },
                "patch": {
                    "operationId": "updateLexiconEntry",
                    "summary": "Change some fields of a dictionary entry",
                    "description": "Jobs already submitted keep the entry as it was (their own copy).",
                    "requestBody": {
                        "required": True,
                        "content": {JSON: {"schema": ref("LexiconEntryInput")}},
                    },
                    "responses": {
                        "200": {"description": "The entry now.", "content": {JSON: {"schema": ref("LexiconEntry")}}},
                        "400": error("A field is not valid.", "ValidationError"),
                        "401": UNAUTHORIZED,
                        "403": FORBIDDEN,
                        "404": LEXICON_NOT_FOUND,
                        "413": error("The body is too large.", "RequestTooLarge"),
                    },
                },
                "delete": {
                    "operationId": "deleteLexiconEntry",
                    "summary": "Delete a dictionary entry",
                    "responses": {
                        "204": {"description": "Deleted."},
                        "401": UNAUTHORIZED,
                        "403": FORBIDDEN,
                        "404": LEXICON_NOT_FOUND,
                    },
                },
            },
            "/api/v1/openapi.json": {
                "get": {
                    "operationId": "getOpenApi",
                    "summary": "This document",
                    "security": [],
                    "responses": {
                        "200": {"description": "OpenAPI 3.1.", "content": {JSON: {"schema": {"type": "object"}}}},
                    },
                },
            },
        },
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token from /account/tokens/ (tts_…).",
                },
                "sessionCookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": settings.SESSION_COOKIE_NAME,
                    "description": "A logged-in browser session; writes also need X-CSRFToken.",
                },
            },
        },
        "security": [{"bearerAuth": []}, {"sessionCookie": []}],
    }


@require_GET
def openapi_json(request):
    """Public: the description holds nothing that isn't in the docs."""
    return JsonResponse(build_openapi(), json_dumps_params={"indent": 1})

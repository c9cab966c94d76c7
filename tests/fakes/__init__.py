"""Local stand-ins for the cloud speech services, for tests.

Each fake is a real HTTP server on 127.0.0.1 (an ephemeral port) in a
thread, speaking the service's documented request and response format: it
checks the method, path, auth header, content type and body the way the
service's API reference describes them, answers with real speech from the
embedded eSpeak NG engine, and can be told to fail the next requests with
any error class (status + headers + body) or to stall past the client's
timeout. docs/providers.md says which API version each one follows.
"""

from __future__ import annotations

import io
import json
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np
import soundfile as sf

from synthesis.audio import resample
from synthesis.providers.espeak import EspeakProvider


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Scripted:
    """What the next synthesis request gets instead of a normal answer."""

    status: int | None = None  # None: answer normally (after any stall)
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    stall: float = 0.0  # seconds to wait before answering normally


def speak(text: str, espeak_voice: str, rate: int, speed: float = 1.0, pitch: float = 0.0) -> np.ndarray:
    """Real speech for ``text`` at ``rate`` Hz, float32 mono; ``speed`` and
    ``pitch`` (semitones) as a service's own settings would change it."""
    from synthesis.providers.base import DEFAULT_SETTINGS, VoiceSettings

    changed = VoiceSettings(speed=speed, pitch=pitch) if (speed, pitch) != (1.0, 0.0) else DEFAULT_SETTINGS
    audio = EspeakProvider().synthesize(text, espeak_voice, voice_settings=changed)
    return resample(audio.samples, audio.sample_rate, rate)


def speak_with_times(text: str, espeak_voice: str, rate: int) -> tuple[np.ndarray, list[float]]:
    """``speak``, and when each character of ``text`` starts (seconds from
    the first sample): eSpeak's word starts, spread evenly over each word's
    characters up to the next word, as a service's character alignment."""
    audio = EspeakProvider().synthesize(text, espeak_voice)
    samples = resample(audio.samples, audio.sample_rate, rate)
    duration = len(samples) / rate
    marks = sorted(audio.marks) or [(0, 0.0)]
    if marks[0][0] > 0:
        marks.insert(0, (0, 0.0))
    starts = []
    for n, (position, ms) in enumerate(marks):
        next_position, next_ms = marks[n + 1] if n + 1 < len(marks) else (len(text), duration * 1000)
        for k in range(position, next_position):
            starts.append((ms + (next_ms - ms) * (k - position) / max(1, next_position - position)) / 1000)
    return samples, starts[: len(text)]


def pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def audio_file(samples: np.ndarray, rate: int, fmt: str, subtype: str = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


class FakeService:
    """Base: the server, request log and scripted failures. Subclasses
    implement ``handle(request) -> (status, headers, body)`` and say which
    paths are synthesis requests (the ones scripts apply to)."""

    synthesis_paths: tuple[str, ...] = ()

    def __init__(self):
        self.requests: list[Recorded] = []
        self._script: list[Scripted] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def _serve(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                recorded = Recorded(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                with fake._lock:
                    fake.requests.append(recorded)
                    scripted = None
                    if fake._script and fake.is_synthesis(recorded):
                        scripted = fake._script.pop(0)
                if scripted and scripted.stall:
                    time.sleep(scripted.stall)
                if scripted and scripted.status is not None:
                    status, headers, payload = scripted.status, scripted.headers, scripted.body
                else:
                    status, headers, payload = fake.handle(recorded)
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def is_synthesis(self, request: Recorded) -> bool:
        return request.method == "POST" and request.path.startswith(self.synthesis_paths)

    @property
    def synthesis_requests(self) -> list[Recorded]:
        return [r for r in self.requests if self.is_synthesis(r)]

    def fail_next(self, status: int, body: bytes | str | dict = b"", headers: dict | None = None, times: int = 1):
        if isinstance(body, dict):
            body = json.dumps(body)
            headers = {"Content-Type": "application/json", **(headers or {})}
        if isinstance(body, str):
            body = body.encode()
        for _ in range(times):
            self._script.append(Scripted(status, body, headers or {}))

    def stall_next(self, seconds: float, times: int = 1):
        for _ in range(times):
            self._script.append(Scripted(stall=seconds))

    def handle(self, request: Recorded) -> tuple[int, dict, bytes]:
        raise NotImplementedError

    def provider_settings(self) -> dict:
        """The settings that point ttsjobs's provider at this fake."""
        raise NotImplementedError


@contextmanager
def serving(settings, fake: FakeService):
    """Run ``fake`` with its provider configured to use it (``settings`` is
    pytest-django's fixture, which restores the values afterwards)."""
    from synthesis.providers import reset_providers

    with fake:
        for name, value in fake.provider_settings().items():
            setattr(settings, name, value)
        # Provider instances keep their voice-list cache: start afresh.
        reset_providers()
        try:
            yield fake
        finally:
            reset_providers()


def json_response(status: int, data) -> tuple[int, dict, bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(data).encode()


def run_job(user, body: dict):
    """Submit ``body`` as ``user`` the way the API does (validation, then
    Job.objects.submit) and run it through the real worker task, in this
    process. Returns the job, reloaded."""
    from synthesis.models import Job
    from synthesis.tasks import run_synthesis
    from synthesis.validation import clean_job_request

    provider, params = clean_job_request(body)
    job = Job.objects.submit(user, params, provider=provider)
    run_synthesis(str(job.pk))
    job.refresh_from_db()
    return job


def job_body(provider: str, lines: list[tuple[str, str]], voices: dict[str, str], **overrides) -> dict:
    """An API request body: ``lines`` are (speaker, text), ``voices`` speaker → voice id."""
    body = {
        "provider": provider,
        "turns": [{"speaker": s, "text": t, "index": i} for i, (s, t) in enumerate(lines)],
        "voice_assignments": [{"speaker": s, "voice_id": v} for s, v in voices.items()],
        "language": "en",
        "output_format": "wav",
        "gap_ms": 300,
        "crossfade_ms": 0,
    }
    body.update(overrides)
    return body

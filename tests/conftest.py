import pytest
from django.contrib.auth import get_user_model


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    # Each test gets its own audio folder, so file assertions see only its files.
    # (FileSystemStorage forgets its cached location when MEDIA_ROOT changes.)
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def _empty_cache():
    # The local-memory cache lives as long as the process: each test starts
    # without the voice samples and rate counters of the ones before.
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _default_language():
    # A request through LocaleMiddleware activates its language in this thread
    # and nothing deactivates it: each test starts (and ends) in the default
    # language, whatever the test before it asked for.
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _no_heartbeat_thread(settings):
    # A run's heartbeat thread has its own database connection: inside a test's
    # transaction it would wait on the rows the test holds. Tests of the
    # heartbeat turn it on, with transaction=True.
    settings.TTS_HEARTBEAT_INTERVAL_SECONDS = 0


@pytest.fixture
def fast_retries(settings):
    settings.TTS_RETRY_DELAYS = [0.001, 0.002, 0.004]
    return settings.TTS_RETRY_DELAYS


@pytest.fixture
def alice(db):
    return get_user_model().objects.create_user("alice", "alice@example.com", "alice-password")


@pytest.fixture
def bob(db):
    return get_user_model().objects.create_user("bob", "bob@example.com", "bob-password")


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user(
        "staff", "staff@example.com", "staff-password", is_staff=True, is_superuser=True
    )


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(client, bob):
    client.force_login(bob)
    return client


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def dialogue(**overrides) -> dict:
    """A valid 3-speaker API request body."""
    body = {
        "provider": "espeak",
        "turns": [
            {"speaker": "Alice", "text": "Hello there, Bob.", "index": 0},
            {"speaker": "Bob", "text": "Hi Alice. How are you?", "index": 1},
            {"speaker": "Carol", "text": "Good morning, both of you.", "index": 2},
        ],
        "voice_assignments": [
            {"speaker": "Alice", "voice_id": "en-us+f3"},
            {"speaker": "Bob", "voice_id": "en-us+m3"},
            {"speaker": "Carol", "voice_id": "en-gb"},
        ],
        "language": "en",
        "output_format": "mp3",
        "gap_ms": 300,
        "crossfade_ms": 50,
    }
    body.update(overrides)
    return body


from tests.cluster import worker_cluster  # noqa: E402,F401  (fixture)


@pytest.fixture
def scripted_provider(settings, fast_retries):
    """The failure-injecting provider of tests/engines.py, registered."""
    from synthesis.providers import get_provider, reset_providers

    settings.TTS_PROVIDER_CLASSES = [
        "synthesis.providers.espeak.EspeakProvider",
        "tests.engines.ScriptedEspeak",
        "tests.engines.CrashingEspeak",
    ]
    reset_providers()
    yield get_provider("scripted")
    reset_providers()


def pytest_configure(config):
    from django.conf import settings

    # whitenoise warns on every request when STATIC_ROOT is missing.
    settings.STATIC_ROOT.mkdir(parents=True, exist_ok=True)
    # PBKDF2's million rounds are the point in production and a minute or two
    # of pure hashing across the suite's few hundred users; tests only need a
    # password to round-trip. Processes the tests start (make run, gunicorn)
    # keep the real hashers: they never check a password this process set.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def token_header(live_server, django_user_model, settings):
    # A roomy job limit so valid submissions are accepted rather than all 429.
    settings.TTS_MAX_ACTIVE_JOBS_PER_USER = 1000
    user = django_user_model.objects.create_user("fuzzer", "fuzzer@example.com", "fuzzer-password")
    from synthesis.models import ApiToken

    _, secret = ApiToken.objects.create_token(user, "schemathesis")
    return {"Authorization": f"Bearer {secret}"}

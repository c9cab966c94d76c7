"""The provider registry: which speech engines this installation can use.

A provider is listed only when ``is_available()`` says it can really run
(its package is installed, its settings are given), so the catalog, the API
and the pages never offer a voice that would fail for lack of configuration.
"""

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from .base import PermanentProviderError, Provider, ProviderError, TransientProviderError  # noqa: F401

DEFAULT_PROVIDER_CLASSES = [
    "synthesis.providers.espeak.EspeakProvider",
    "synthesis.providers.piper.PiperProvider",
    "synthesis.providers.openai.OpenAIProvider",
    "synthesis.providers.azure.AzureProvider",
    "synthesis.providers.elevenlabs.ElevenLabsProvider",
]


@cache
def _all_providers() -> dict[str, Provider]:
    paths = getattr(settings, "TTS_PROVIDER_CLASSES", DEFAULT_PROVIDER_CLASSES)
    providers = {}
    for path in paths:
        provider = import_string(path)()
        providers[provider.name] = provider
    return providers


def all_providers() -> dict[str, Provider]:
    """Every provider this installation knows, configured or not (old jobs
    may name one that is no longer configured)."""
    return dict(_all_providers())


def available_providers() -> dict[str, Provider]:
    return {name: p for name, p in _all_providers().items() if p.is_available()}


def get_provider(name: str) -> Provider | None:
    return available_providers().get(name)


def reset_providers():
    """Forget the provider instances (tests that change provider settings)."""
    _all_providers.cache_clear()

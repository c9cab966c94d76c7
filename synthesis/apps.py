from django.apps import AppConfig

# Connects the failed-login log (a receiver of Django's user_login_failed).
from synthesis import security  # noqa: F401


class SynthesisConfig(AppConfig):
    name = "synthesis"
    verbose_name = "Synthesis"
    default_auto_field = "django.db.models.BigAutoField"

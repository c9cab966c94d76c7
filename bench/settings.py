"""ttsjobs' settings plus one bare view, the yardstick of bench/api.py --jobs:
what Django itself costs with the same settings and middleware."""

from ttsjobs.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"

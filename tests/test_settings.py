"""The limits the issues promise are the defaults a fresh deployment gets.

Tests elsewhere shrink them (fast_retries, small deadlines), so nothing else
would notice a default drifting from the contract. Read in a subprocess with
none of the TTS_ variables set, so the machine's environment can't mask it.
"""

import json
import os
import subprocess
import sys

from tests.cluster import ROOT

CONTRACT = {
    "TTS_MAX_ACTIVE_JOBS_PER_USER": 3,
    "TTS_MAX_SPEAKERS": 50,
    "TTS_MAX_TURNS": 1000,
    "TTS_MAX_TURN_CHARS": 5000,
    "TTS_MAX_JOB_CHARS": 100_000,
    "TTS_MAX_AUDIO_SECONDS": 3 * 3600,
    "TTS_MAX_SPEAKER_NAME": 50,
    "TTS_JOB_DEADLINE_SECONDS": 600,
    "TTS_RETRY_DELAYS": [5.0, 10.0, 20.0],
    "TTS_PENDING_MAX_AGE_SECONDS": 24 * 3600,
    "TTS_RETENTION_DAYS": 30,
    "TTS_CANCELLED_RETENTION_DAYS": 7,
    "TTS_MAX_ATTEMPTS": 3,
}


def test_defaults_are_the_promised_limits(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TTS_", "PYTEST_"))}
    env.update(DJANGO_SETTINGS_MODULE="ttsjobs.settings", VAR_DIR=str(tmp_path))
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        f"print(json.dumps({{name: getattr(settings, name) for name in {list(CONTRACT)!r}}}))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == CONTRACT

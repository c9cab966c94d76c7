"""Settings of the test run: ttsjobs.settings in local mode, as `make run` has it.

DEBUG is off unless set (production is the default, and wants a SECRET_KEY),
so the suite turns it on before the settings are read. It goes into the
environment, not just this module, so the processes the tests start (worker
clusters, `manage.py` subprocesses) read the same local mode; the tests of the
production configuration (test_production.py, test_settings.py) set their
own. Django's test runner still serves the test requests with DEBUG False.
"""

import os

os.environ.setdefault("DEBUG", "1")

from ttsjobs.settings import *  # noqa: F403

"""schemathesis against the running app: generated requests, valid and
invalid, authenticated with a real API token, must never get a 5xx or a
response that breaks the OpenAPI document.

Driven through schemathesis's strategies and Hypothesis directly: its pytest
plugin (``schemathesis.pytest.from_fixture``) does not run under pytest 9.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from synthesis.openapi import build_openapi
from tests.fuzzing import fuzz_cases

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Bounded: per operation and mode. 6 operations x 2 modes x 20 = at most 240 requests.
MAX_EXAMPLES = 20

OPERATIONS = [op.ok() for op in schemathesis.openapi.from_dict(build_openapi()).get_all_operations()]
CASES = fuzz_cases(OPERATIONS)


@pytest.mark.parametrize("operation, mode", CASES)
def test_api_never_errors_and_keeps_to_its_document(operation, mode, live_server, token_header):
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def call(case):
        case.call_and_validate(base_url=live_server.url, headers=token_header, checks=CHECKS)

    call()

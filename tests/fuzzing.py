"""What both schemathesis suites share: the cases to run (their token is
``token_header`` in conftest.py)."""

import pytest
from schemathesis import GenerationMode


def fuzz_cases(operations) -> list:
    """One case per operation and generation mode. An operation with no
    parameters and no body has no invalid request to make."""
    return [
        pytest.param(op, mode, id=f"{op.label} {mode.value}")
        for op in operations
        for mode in GenerationMode
        if mode == GenerationMode.POSITIVE or op.path_parameters or op.query or op.body
    ]

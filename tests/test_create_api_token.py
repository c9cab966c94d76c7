import io

import pytest
from django.core.management import CommandError, call_command

from synthesis.models import ApiToken

pytestmark = pytest.mark.django_db


def test_prints_a_working_secret(alice):
    out = io.StringIO()
    call_command("create_api_token", "alice", "--name", "laptop", stdout=out)
    secret = out.getvalue().strip()
    token = ApiToken.objects.authenticate(secret)
    assert token.owner == alice and token.name == "laptop"


def test_unknown_user_is_a_clear_error():
    with pytest.raises(CommandError, match="No user 'nobody'"):
        call_command("create_api_token", "nobody")
    assert ApiToken.objects.count() == 0

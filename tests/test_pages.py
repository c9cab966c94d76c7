"""render_page: each page that answers htmx with a fragment answers a plain
request with the whole page, and says so to caches (Vary: HX-Request), so a
fragment is never served from a cache to a browser that asked for the page."""

import pytest
from django.urls import reverse

from tests.factories import make_job

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
SCRIPT = "Alice: Hello.\nBob: Hi."


# Each: (the request, the partial an htmx request gets).
def job_list(client, job, headers):
    return client.get(reverse("job_list"), **headers), "job-list"


def job_detail(client, job, headers):
    return client.get(reverse("job_detail", args=[job.pk]), **headers), "job-status"


def new_dialogue_voices(client, job, headers):
    data = {"action": "refresh", "script": SCRIPT, "language": "en-us", "provider": "espeak"}
    return client.post(reverse("job_new"), data, **headers), "voices"


def new_dialogue_with_errors(client, job, headers):
    return client.post(reverse("job_new"), {"script": "", "provider": "espeak"}, **headers), "dialogue-form"


def api_tokens(client, job, headers):
    return client.get(reverse("account_tokens"), **headers), "token-panel"


@pytest.mark.parametrize("view", [job_list, job_detail, new_dialogue_voices, new_dialogue_with_errors, api_tokens])
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_whole_page_or_its_partial_and_caches_keep_them_apart(view, htmx, alice_client, alice):
    response, partial = view(alice_client, make_job(alice, "pending"), HX if htmx else {})
    assert response.status_code == 200
    html = response.content.decode()
    assert ("<html" in html) is not htmx
    assert response.template_name.endswith(f"#{partial}") is htmx
    assert "HX-Request" in response["Vary"]

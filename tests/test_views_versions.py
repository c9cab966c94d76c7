"""Edit and re-render, regenerate a line, and the versions on the job page:
the website's side of Job.based_on (the API's is in test_versions.py)."""

from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse

from synthesis.models import Job
from synthesis.tasks import run_synthesis
from tests.website import submitted_job

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


class FormReader(HTMLParser):
    """What a browser would submit from the page's #dialogue-form as it is:
    inputs, the textarea's text and each select's selected option."""

    def __init__(self):
        super().__init__()
        self.data, self.in_form, self.select, self.textarea, self.action = {}, False, None, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("id") == "dialogue-form":
            self.in_form, self.action = True, attrs["action"]
        if not self.in_form:
            return
        if tag == "input" and attrs.get("name") and attrs.get("type") not in ("search", "submit"):
            self.data[attrs["name"]] = attrs.get("value", "")
        elif tag == "textarea":
            self.textarea = attrs["name"]
            self.data[self.textarea] = ""
        elif tag == "select":
            self.select = attrs["name"]
        elif tag == "option" and self.select and ("selected" in attrs or self.select not in self.data):
            # The first option unless one is selected, as a browser does.
            self.data[self.select] = attrs.get("value", "")

    def handle_endtag(self, tag):
        if tag == "form":
            self.in_form = False
        elif tag == "textarea":
            self.textarea = None
        elif tag == "select":
            self.select = None

    def handle_data(self, data):
        if self.textarea:
            self.data[self.textarea] += data


def form_on(html: str) -> tuple[str, dict]:
    reader = FormReader()
    reader.feed(html)
    data = reader.data
    # A browser drops the newline that starts a textarea's text.
    data["script"] = data["script"].removeprefix("\n")
    return reader.action, data


def completed_scripted(user) -> Job:
    """A completed job of the test engine that stands in for a cloud voice
    (its takes may differ, so the page offers a retake per line)."""
    return submitted_job(user, Job.Status.COMPLETED, provider="scripted")


# --- edit and re-render -------------------------------------------------------------


def test_a_completed_jobs_page_offers_edit_and_rerender(alice_client, alice):
    job = submitted_job(alice, Job.Status.COMPLETED)
    html = alice_client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert html.count(f'href="{reverse("job_edit", args=[job.pk])}"') == 2  # by the downloads, under the dialogue
    # A fresh, unrelated dialogue from this one is still offered beside it.
    assert f'href="{reverse("job_new")}?from={job.pk}"' in html


def test_the_edit_page_is_the_new_dialogue_form_prefilled(alice_client, alice):
    job = submitted_job(alice, Job.Status.COMPLETED)
    response = alice_client.get(reverse("job_edit", args=[job.pk]))
    html = response.content.decode()
    assert response.status_code == 200 and "<h1>Edit and re-render</h1>" in html
    action, data = form_on(html)
    assert action == reverse("job_edit", args=[job.pk])
    assert data["csrfmiddlewaretoken"]
    assert data["script"] == "Alice: Hello there, Bob.\nBob: Hi Alice. How are you?\nCarol: Good morning, both of you."
    assert {k: v for k, v in data.items() if k.startswith("voice:")} == {
        "voice:Alice": "en-us+f3",
        "voice:Bob": "en-us+m3",
        "voice:Carol": "en-gb",
    }
    # The pickers are the new-dialogue page's: they refresh through it as the script changes.
    assert f'hx-post="{reverse("job_new")}"' in html and 'class="voice-select"' in html
    assert "Create the new version" in html


def test_editing_one_line_makes_a_new_version_that_speaks_only_that_line(alice_client, alice, scripted_provider):
    job = completed_scripted(alice)
    _, data = form_on(alice_client.get(reverse("job_edit", args=[job.pk])).content.decode())
    data["script"] = data["script"].replace("Hi Alice. How are you?", "Hi Alice. Lovely day!")
    response = alice_client.post(reverse("job_edit", args=[job.pk]), data)
    new = Job.objects.exclude(pk=job.pk).get()
    assert response.status_code == 302 and response["Location"] == reverse("job_detail", args=[new.pk])
    assert new.based_on_id == job.pk and new.retake_turns == [] and new.status == Job.Status.PENDING
    assert new.input_params["turns"][1]["text"] == "Hi Alice. Lovely day!"
    assert new.input_params["voice_assignments"] == job.input_params["voice_assignments"]
    scripted_provider.calls = 0
    assert run_synthesis(str(new.pk)) == "completed"
    assert scripted_provider.calls == 1  # the edited line; the other two are the first version's
    html = alice_client.get(response["Location"]).content.decode()
    assert "New version submitted" in html
    assert "Lines reused from the earlier version: 2 of 3." in html.split('id="reuse-note"', 1)[1].split("</span>")[0]
    new.refresh_from_db()
    assert new.result_metadata["reused_turns"] == 2
    # The first version, based on nothing, says nothing of the kind.
    first = alice_client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert "reuse-note" not in first and "reused_turns" not in job.result_metadata


def test_voice_settings_come_along_and_an_unchanged_edit_speaks_nothing(alice_client, alice, scripted_provider):
    voices = [
        {"speaker": "Alice", "voice_id": "en-us+f3", "speed": 1.25},
        {"speaker": "Bob", "voice_id": "en-us+m3", "pitch": -2.0, "volume": 0.8},
        {"speaker": "Carol", "voice_id": "en-gb"},
    ]
    job = submitted_job(alice, Job.Status.COMPLETED, provider="scripted", voice_assignments=voices)
    _, data = form_on(alice_client.get(reverse("job_edit", args=[job.pk])).content.decode())
    assert (data["speed:Alice"], data["pitch:Bob"], data["volume:Bob"]) == ("1.25", "-2.0", "0.8")
    assert data["speed:Carol"] == "1.0"  # the default where none was set
    assert alice_client.post(reverse("job_edit", args=[job.pk]), data).status_code == 302
    new = Job.objects.exclude(pk=job.pk).get()
    assert new.input_params["voice_assignments"] == job.input_params["voice_assignments"]
    assert job.input_params["voice_assignments"][0]["speed"] == 1.25
    scripted_provider.calls = 0
    assert run_synthesis(str(new.pk)) == "completed"
    assert scripted_provider.calls == 0  # every line the same as before: all reused
    new.refresh_from_db()
    assert new.result_metadata["reused_turns"] == 3


@pytest.mark.parametrize("change", ["voice", "speaker"])
def test_a_new_voice_or_a_line_given_to_another_speaker(alice_client, alice, scripted_provider, change):
    job = completed_scripted(alice)
    _, data = form_on(alice_client.get(reverse("job_edit", args=[job.pk])).content.decode())
    if change == "voice":
        data["voice:Bob"] = "en-gb+f4"
    else:
        data["script"] = data["script"].replace("Carol: Good morning", "Bob: Good morning")
        data.pop("voice:Carol")
    assert alice_client.post(reverse("job_edit", args=[job.pk]), data).status_code == 302
    new = Job.objects.exclude(pk=job.pk).get()
    scripted_provider.calls = 0
    assert run_synthesis(str(new.pk)) == "completed"
    assert scripted_provider.calls == 1  # Bob's line, or Carol's line now Bob's


def test_htmx_edit_redirects_the_browser_and_bad_input_comes_back_in_the_form(alice_client, alice):
    job = submitted_job(alice, Job.Status.COMPLETED)
    _, data = form_on(alice_client.get(reverse("job_edit", args=[job.pk])).content.decode())
    edited = data["script"].replace("Hi Alice. How are you?", "Hi Alice, hi Carol.")
    response = alice_client.post(reverse("job_edit", args=[job.pk]), data | {"voice:Bob": "no-such-voice"}, **HX)
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<form id="dialogue-form"')
    assert f'action="{reverse("job_edit", args=[job.pk])}"' in html
    bob = html.split('name="voice:Bob"')[1].split("</div>")[0]
    assert "has no voice &#x27;no-such-voice&#x27;" in bob
    response = alice_client.post(reverse("job_edit", args=[job.pk]), data | {"script": edited}, **HX)
    assert response["HX-Redirect"] == reverse("job_detail", args=[Job.objects.get(based_on=job).pk])


@pytest.mark.parametrize(
    "edit, error",
    [
        (lambda s: s.replace("Hi Alice. How are you?", ""), "Line 2 (Bob): The text is empty."),
        (lambda s: s.replace("Hi Alice. How are you?", "x" * 5001), "Line 2 (Bob): At most 5000 characters"),
    ],
)
def test_bad_input_keeps_the_text_with_the_error_under_the_script(alice_client, alice, edit, error):
    job = submitted_job(alice, Job.Status.COMPLETED)
    _, data = form_on(alice_client.get(reverse("job_edit", args=[job.pk])).content.decode())
    data["script"] = edit(data["script"]).replace("Good morning, both of you.", "Good evening, both of you.")
    html = alice_client.post(reverse("job_edit", args=[job.pk]), data).content.decode()
    box, rest = html.split('id="script-errors"', 1)
    assert "Good evening, both of you." in box.rsplit("<textarea", 1)[1]  # what the user typed, kept
    assert error in rest.split("</ul>")[0]
    assert "<h1>Edit and re-render</h1>" in html  # still the edit page, posting to itself
    assert Job.objects.count() == 1


def test_the_limit_refuses_a_new_version_as_it_refuses_a_new_job(alice_client, alice, settings):
    settings.TTS_MAX_ACTIVE_JOBS_PER_USER = 2
    job = submitted_job(alice, Job.Status.COMPLETED)
    submitted_job(alice, Job.Status.PENDING)
    submitted_job(alice, Job.Status.PENDING)
    _, data = form_on(alice_client.get(reverse("job_edit", args=[job.pk])).content.decode())
    data["script"] = data["script"].replace("How are you?", "How have you been?")
    html = alice_client.post(reverse("job_edit", args=[job.pk]), data).content.decode()
    errors = html.split('class="form-errors" role="alert"', 1)[1].split("</div>")[0]
    assert "You have 2 jobs waiting or running, and the limit is 2." in errors
    assert "How have you been?" in html
    assert Job.objects.count() == 3


def test_only_a_completed_job_can_be_edited_and_rerendered(alice_client, alice):
    for status in (Job.Status.PENDING, Job.Status.FAILED):
        job = submitted_job(alice, status)
        for method in ("get", "post"):
            response = getattr(alice_client, method)(reverse("job_edit", args=[job.pk]), follow=True)
            assert response.redirect_chain == [(reverse("job_detail", args=[job.pk]), 302)]
            assert "Only a completed job can be edited and re-rendered" in response.content.decode()
    assert Job.objects.filter(based_on__isnull=False).count() == 0


def test_another_users_job_cannot_be_edited_nor_regenerated(bob_client, alice, scripted_provider):
    job = completed_scripted(alice)
    assert bob_client.get(reverse("job_edit", args=[job.pk])).status_code == 404
    assert bob_client.post(reverse("job_edit", args=[job.pk]), {"script": "Bob: Mine now."}).status_code == 404
    assert bob_client.post(reverse("job_retake", args=[job.pk]), {"turn": "0"}).status_code == 404
    assert Job.objects.count() == 1


def test_logged_out_visitors_are_sent_to_log_in(client, alice):
    job = submitted_job(alice, Job.Status.COMPLETED)
    for method, url in (("get", "job_edit"), ("post", "job_edit"), ("post", "job_retake")):
        response = getattr(client, method)(reverse(url, args=[job.pk]))
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_regenerate_is_a_post_and_edit_a_get_or_post(alice_client, alice, scripted_provider):
    job = completed_scripted(alice)
    assert alice_client.get(reverse("job_retake", args=[job.pk])).status_code == 405
    assert alice_client.put(reverse("job_edit", args=[job.pk])).status_code == 405
    assert alice_client.delete(reverse("job_edit", args=[job.pk])).status_code == 405


def test_a_post_without_the_pages_csrf_token_is_refused(alice, scripted_provider):
    job = completed_scripted(alice)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    _, data = form_on(strict.get(reverse("job_edit", args=[job.pk])).content.decode())
    data.pop("csrfmiddlewaretoken")
    assert strict.post(reverse("job_edit", args=[job.pk]), data).status_code == 403
    assert strict.post(reverse("job_retake", args=[job.pk]), {"turn": "0"}).status_code == 403
    assert Job.objects.count() == 1
    # With it (as the page sends it), the same requests go through.
    html = strict.get(reverse("job_detail", args=[job.pk])).content.decode()
    token = html.split('<form id="retake-form"', 1)[1].split('name="csrfmiddlewaretoken" value="', 1)[1].split('"')[0]
    assert (
        strict.post(reverse("job_retake", args=[job.pk]), {"turn": "0", "csrfmiddlewaretoken": token}).status_code
        == 302
    )
    assert Job.objects.count() == 2


# --- regenerate a line --------------------------------------------------------------


def test_each_line_of_a_cloud_like_voice_has_a_regenerate_button(alice_client, alice, scripted_provider):
    job = completed_scripted(alice)
    html = alice_client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert f'<form id="retake-form" method="post" action="{reverse("job_retake", args=[job.pk])}">' in html
    for position in range(3):
        button = f'id="retake-{position}" class="retake-line" type="submit" form="retake-form"'
        assert f'{button} name="turn" value="{position}"' in html
        assert f"Regenerate line {position + 1}</span>" in html
    # One form and one CSRF token for all the lines, not one per line.
    form = html.split('<form id="retake-form"', 1)[1].split("</form>", 1)[0]
    assert form.count('name="csrfmiddlewaretoken"') == 1
    lines = html.split('<ol class="turns" id="turns">', 1)[1].split("</ol>", 1)[0]
    assert "<form" not in lines and "csrfmiddlewaretoken" not in lines


def test_regenerate_makes_a_version_that_speaks_that_line_again(alice_client, alice, scripted_provider):
    job = completed_scripted(alice)
    response = alice_client.post(reverse("job_retake", args=[job.pk]), {"turn": "2"})
    new = Job.objects.exclude(pk=job.pk).get()
    assert response.status_code == 302 and response["Location"] == reverse("job_detail", args=[new.pk])
    assert new.based_on_id == job.pk and new.retake_turns == [2]
    assert new.input_params == job.input_params
    scripted_provider.calls = 0
    assert run_synthesis(str(new.pk)) == "completed"
    assert scripted_provider.calls == 1
    html = alice_client.get(response["Location"]).content.decode()
    assert "Line 3 is being spoken again in a new version" in html
    assert "Lines reused from the earlier version: 2 of 3." in html
    assert "line 3 spoken again" in html


def test_espeak_offers_no_retake_and_says_why(alice_client, alice):
    job = submitted_job(alice, Job.Status.COMPLETED)
    html = alice_client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert "retake-form" not in html and "retake-line" not in html
    note = html.split('id="no-retake"', 1)[1].split("</p>", 1)[0]
    assert "eSpeak NG (built-in) speaks a line the same way every time" in note
    # Posted anyway (an old page, a hand-made request): refused, nothing queued.
    response = alice_client.post(reverse("job_retake", args=[job.pk]), {"turn": "0"}, follow=True)
    assert response.redirect_chain == [(reverse("job_detail", args=[job.pk]), 302)]
    assert "a new take would sound the same" in response.content.decode()
    assert Job.objects.count() == 1


@pytest.mark.parametrize("turn", ["", "x", "-1", "3", "1.5"])
def test_regenerate_names_the_bad_field(alice_client, alice, turn, scripted_provider):
    job = completed_scripted(alice)
    response = alice_client.post(reverse("job_retake", args=[job.pk]), {"turn": turn})
    assert response.status_code == 400 and response.content.decode().startswith("turn:")
    assert Job.objects.count() == 1


def test_regenerate_counts_against_the_limit(alice_client, alice, settings, scripted_provider):
    settings.TTS_MAX_ACTIVE_JOBS_PER_USER = 1
    job = completed_scripted(alice)
    submitted_job(alice, Job.Status.PENDING)
    response = alice_client.post(reverse("job_retake", args=[job.pk]), {"turn": "0"}, follow=True)
    assert response.redirect_chain == [(reverse("job_detail", args=[job.pk]), 302)]
    assert "You have 1 jobs waiting or running, and the limit is 1." in response.content.decode()
    assert Job.objects.count() == 2


def test_only_a_completed_job_has_lines_regenerated(alice_client, alice, scripted_provider):
    job = submitted_job(alice, Job.Status.FAILED, provider="scripted")
    html = alice_client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert "retake-line" not in html and "no-retake" not in html
    response = alice_client.post(reverse("job_retake", args=[job.pk]), {"turn": "0"}, follow=True)
    assert "Only a completed job can have a line regenerated." in response.content.decode()
    assert Job.objects.count() == 1


# --- versions ---------------------------------------------------------------------


def family(alice, size: int) -> list[Job]:
    """A first version and ``size - 1`` re-renders, each of the one before."""
    jobs = [completed_scripted(alice)]
    while len(jobs) < size:
        new = jobs[-1].retake([len(jobs) % 3])
        assert run_synthesis(str(new.pk)) == "completed"
        jobs.append(new)
    return jobs


def test_the_page_lists_the_versions_and_marks_the_one_shown(alice_client, alice, scripted_provider):
    first, second, third = family(alice, 3)
    sibling = first.retake([0])  # another version of the first, still waiting
    html = alice_client.get(reverse("job_detail", args=[second.pk])).content.decode()
    listed = html.split('<nav class="versions"', 1)[1].split("</nav>", 1)[0]
    rows = listed.split('<li class="version')[1:]
    assert len(rows) == 4
    assert rows[1].startswith(" current") and '<strong aria-current="page">Version 2</strong>' in rows[1]
    for row, job, number in ((rows[0], first, 1), (rows[2], third, 3), (rows[3], sibling, 4)):
        assert f'href="{reverse("job_detail", args=[job.pk])}">Version {number}</a>' in row
    assert "badge-completed" in rows[2] and "badge-pending" in rows[3]
    assert "from version 2" in rows[2] and "from version 1" in rows[3] and "from version" not in rows[0]
    # Where this one came from, under the title.
    based_on = html.split('<p class="based-on">', 1)[1].split("</p>", 1)[0]
    assert f'made from <a href="{reverse("job_detail", args=[first.pk])}">version 1</a>' in based_on
    assert "Version 2" in based_on and "line 2 spoken again" in based_on


def test_versions_in_chinese_with_dates_as_written_in_taiwan(alice_client, alice, scripted_provider):
    from django.utils import timezone

    first = completed_scripted(alice)
    new = first.retake([1])
    html = alice_client.get(reverse("job_detail", args=[new.pk]), headers={"Accept-Language": "zh-TW"}).content.decode()
    listed = html.split('<nav class="versions"', 1)[1].split("</nav>", 1)[0]
    made = timezone.localtime(new.created_at)
    assert "版本" in listed and "第 2 版" in listed and "（本頁）" in listed and "由第 1 版產生" in listed
    assert f"{made.year}年{made.month}月{made.day}日 {made:%H:%M}" in listed
    assert "由<a href=" in html.split('<p class="based-on">', 1)[1].split("</p>", 1)[0]


def test_a_job_without_versions_lists_none(alice_client, alice):
    job = submitted_job(alice, Job.Status.COMPLETED)
    html = alice_client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert 'class="versions"' not in html and 'class="based-on"' not in html


def test_the_polled_status_carries_the_versions(alice_client, alice, scripted_provider):
    first = completed_scripted(alice)
    new = first.retake([1])
    html = alice_client.get(reverse("job_detail", args=[new.pk]), **HX).content.decode()
    assert html.lstrip().startswith('<section id="job-status"') and 'class="versions"' in html


@pytest.mark.parametrize("size", [2, 6])
def test_versions_cost_one_query_whatever_the_family(
    alice_client, alice, scripted_provider, size, django_assert_num_queries
):
    jobs = family(alice, size)
    with django_assert_num_queries(4):  # session, user, job, its versions
        html = alice_client.get(reverse("job_detail", args=[jobs[1].pk])).content.decode()
    assert html.count('<li class="version') == size


def test_versions_never_list_another_users_jobs(alice_client, alice, bob, scripted_provider):
    first = completed_scripted(alice)
    second = first.retake([0])
    completed_scripted(bob)
    # Even a row pointing across owners (the model refuses to make one) is not followed.
    bobs = submitted_job(bob, Job.Status.PENDING)
    Job.objects.filter(pk=bobs.pk).update(based_on=first)
    html = alice_client.get(reverse("job_detail", args=[second.pk])).content.decode()
    assert html.count('<li class="version') == 2 and str(bobs.pk) not in html

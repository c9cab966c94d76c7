import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.paginator import EmptyPage
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import localize
from django.utils.timezone import now
from django_q.models import OrmQ, Schedule, Task
from django_q.tasks import async_task

from synthesis.admin import EstimatedCountPaginator
from synthesis.models import ApiToken, Job
from synthesis.tasks import ensure_schedules
from tests.factories import make_job

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def some_jobs(alice, bob):
    return {
        "pending": make_job(alice, Job.Status.PENDING, ended_days_ago=None),
        "processing": make_job(alice, Job.Status.PROCESSING),
        "completed": make_job(alice, Job.Status.COMPLETED, audio=True),
        "failed": make_job(bob, Job.Status.FAILED, error_code="PROVIDER_ERROR", error_message="engine down"),
        "cancelled": make_job(bob, Job.Status.CANCELLED),
    }


def admin_pages(jobs, alice):
    token, _ = ApiToken.objects.create_token(alice, "script")
    ensure_schedules()
    schedule = Schedule.objects.first()
    return [
        reverse("admin:index"),
        reverse("admin:synthesis_job_changelist"),
        *[reverse("admin:synthesis_job_change", args=[job.pk]) for job in jobs.values()],
        reverse("admin:synthesis_job_audio", args=[jobs["completed"].pk]),
        reverse("admin:auth_user_changelist"),
        reverse("admin:auth_user_change", args=[alice.pk]),
        reverse("admin:auth_user_add"),
        reverse("admin:synthesis_apitoken_changelist"),
        reverse("admin:synthesis_apitoken_change", args=[token.pk]),
        reverse("admin:synthesis_clusterheartbeat_changelist"),
        reverse("admin:django_q_ormq_changelist"),
        reverse("admin:django_q_success_changelist"),
        reverse("admin:django_q_failure_changelist"),
        reverse("admin:django_q_schedule_changelist"),
        reverse("admin:django_q_schedule_change", args=[schedule.pk]),
    ]


def test_every_admin_page_loads_for_staff(staff_client, some_jobs, alice):
    for url in admin_pages(some_jobs, alice):
        response = staff_client.get(url)
        assert response.status_code == 200, url


def test_admin_pages_are_refused_to_non_staff(client, some_jobs, alice):
    pages = admin_pages(some_jobs, alice)
    client.force_login(alice)
    for url in pages:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url


def test_job_list_costs_the_same_queries_for_5_and_500_jobs(staff_client, alice, bob):
    url = reverse("admin:synthesis_job_changelist")

    def queries_for_list():
        with CaptureQueriesContext(connection) as captured:
            response = staff_client.get(url)
        assert response.status_code == 200
        return len(captured)

    for i in range(5):
        make_job(alice if i % 2 else bob, Job.Status.COMPLETED)
    few = queries_for_list()
    Job.objects.bulk_create(
        Job(
            owner=alice if i % 2 else bob,
            status=Job.Status.PENDING,
            provider="espeak",
            input_params={"turns": []},
            title=f"job {i}",
        )
        for i in range(495)
    )
    assert Job.objects.count() == 500
    assert queries_for_list() == few


def test_job_list_shows_owner_status_and_figures(staff_client, some_jobs):
    response = staff_client.get(reverse("admin:synthesis_job_changelist"))
    content = response.content.decode()
    assert "alice" in content and "bob" in content
    assert ">0:02<" in content  # the completed job's duration, as the pages and players show it
    assert str(some_jobs["completed"].pk)[:8] in content


def test_job_search_by_owner_username_and_title(staff_client, some_jobs, alice):
    dave = User.objects.create_user("dave")
    davina = User.objects.create_user("davina")
    daves = make_job(dave, Job.Status.COMPLETED, title="Quarterly figures")
    davinas = make_job(davina, Job.Status.COMPLETED, title="Dave's notes")
    alices = {j.pk for j in some_jobs.values() if j.owner_id == alice.pk}
    url = reverse("admin:synthesis_job_changelist")
    for term, expected in (
        ("DAVE", {daves.pk}),  # a whole username: that user's jobs only, not titles
        ("dav", {daves.pk, davinas.pk}),  # usernames and titles starting with it
        ("quarterly FIG", {daves.pk}),  # the beginning of a title, any case
        ("figures", set()),  # not a title's middle
        ("Hello", {j.pk for j in some_jobs.values()}),
        ("alice", alices),
    ):
        response = staff_client.get(url, {"q": term})
        assert {job.pk for job in response.context["cl"].result_list} == expected, term


def test_a_common_title_prefix_searches_a_bounded_number_of_titles(staff_client, alice, monkeypatch):
    from synthesis.admin import JobAdmin

    monkeypatch.setattr(JobAdmin, "TITLE_MATCHES", 3)
    for i in range(5):
        make_job(alice, Job.Status.COMPLETED, title=f"Lesson {i}")
    response = staff_client.get(reverse("admin:synthesis_job_changelist"), {"q": "lesson"})
    assert sorted(job.title for job in response.context["cl"].result_list) == ["Lesson 0", "Lesson 1", "Lesson 2"]
    assert "More than 3 titles start with “lesson”" in response.content.decode()
    response = staff_client.get(reverse("admin:synthesis_job_changelist"), {"q": "lesson 4"})
    assert [job.title for job in response.context["cl"].result_list] == ["Lesson 4"]
    assert "More than" not in response.content.decode()


def test_job_search_does_not_read_emails_or_dialogues(staff_client, some_jobs):
    # Both would mean reading every job (a million dialogues of up to 100,000 characters).
    for term in ("alice@example.com", "Good morning, both of you"):  # the third turn, past the title's 8 words
        response = staff_client.get(reverse("admin:synthesis_job_changelist"), {"q": term})
        assert list(response.context["cl"].result_list) == [], term


def test_job_search_by_id_and_id_prefix(staff_client, some_jobs):
    job = some_jobs["failed"]
    for term in (str(job.pk), str(job.pk)[:8]):
        response = staff_client.get(reverse("admin:synthesis_job_changelist"), {"q": term})
        assert [j.pk for j in response.context["cl"].result_list] == [job.pk]


def test_job_filters_by_status_and_owner(staff_client, some_jobs, bob):
    url = reverse("admin:synthesis_job_changelist")
    response = staff_client.get(url, {"status__exact": "failed"})
    assert [j.pk for j in response.context["cl"].result_list] == [some_jobs["failed"].pk]
    response = staff_client.get(url, {"owner__id__exact": bob.pk})
    assert {j.pk for j in response.context["cl"].result_list} == {some_jobs["failed"].pk, some_jobs["cancelled"].pk}


def test_job_detail_is_readable_and_read_only(staff_client, some_jobs):
    job = some_jobs["completed"]
    response = staff_client.get(reverse("admin:synthesis_job_change", args=[job.pk]))
    content = response.content.decode()
    assert "Hi Alice. How are you?" in content  # the script, as a table
    assert "<code>en-us+m3</code>" in content  # the voices
    assert "<audio controls" in content and reverse("admin:synthesis_job_audio", args=[job.pk]) in content
    assert "900 ms" in content  # the turn timeline
    # Dates read like the admin's other dates, not as raw ISO text.
    assert localize(timezone.localtime(job.expires_at)) in content
    assert str(job.expires_at) not in content
    # State fields are not form fields: staff change state only through actions.
    assert 'name="status"' not in content
    assert 'name="owner"' not in content
    assert "readonly" in content


def test_failed_job_shows_its_error(staff_client, some_jobs):
    response = staff_client.get(reverse("admin:synthesis_job_change", args=[some_jobs["failed"].pk]))
    assert "PROVIDER_ERROR" in response.content.decode()
    assert "engine down" in response.content.decode()


def test_job_detail_links_its_queued_task(staff_client, alice):
    job = make_job(alice, Job.Status.PENDING, ended_days_ago=None)
    task_id = async_task("synthesis.tasks.run_synthesis", str(job.pk))
    Job.objects.filter(pk=job.pk).update(task_id=task_id)
    response = staff_client.get(reverse("admin:synthesis_job_change", args=[job.pk]))
    queued = OrmQ.objects.get()
    assert reverse("admin:django_q_ormq_change", args=[queued.pk]) in response.content.decode()


def test_staff_can_play_the_audio(staff_client, some_jobs):
    response = staff_client.get(reverse("admin:synthesis_job_audio", args=[some_jobs["completed"].pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/mpeg"
    assert b"".join(response.streaming_content)[:2] == b"\xff\xfb"


def run_action(staff_client, action, jobs):
    return staff_client.post(
        reverse("admin:synthesis_job_changelist"),
        {"action": action, "_selected_action": [str(job.pk) for job in jobs]},
        follow=True,
    )


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


def test_cancel_action_cancels_pending_only_and_reports_the_rest(staff_client, some_jobs):
    response = run_action(staff_client, "cancel_jobs", some_jobs.values())
    assert Job.objects.get(pk=some_jobs["pending"].pk).status == "cancelled"
    assert Job.objects.get(pk=some_jobs["processing"].pk).status == "cancelled"
    assert Job.objects.filter(status="cancelled").count() == 3  # both plus the one already cancelled
    [message] = messages_of(response)
    assert message.startswith("Cancelled 2 jobs. Skipped 3:")
    assert "1 completed (only pending or processing jobs can be cancelled)" in message


def test_resubmit_action_creates_new_jobs_for_the_same_owner(staff_client, some_jobs, bob):
    before = set(Job.objects.values_list("pk", flat=True))
    response = run_action(staff_client, "resubmit_jobs", some_jobs.values())
    new = Job.objects.exclude(pk__in=before)
    assert new.count() == 2
    assert {job.owner for job in new} == {bob}
    assert all(job.status == "pending" and job.task_id for job in new)
    assert messages_of(response) == [
        "Resubmitted 2 jobs. Skipped 3: 1 completed (only failed or cancelled jobs can be resubmitted); "
        "1 pending (only failed or cancelled jobs can be resubmitted); "
        "1 processing (only failed or cancelled jobs can be resubmitted)."
    ]


def test_resubmit_respects_the_owners_job_limit(staff_client, bob, settings):
    settings.TTS_MAX_ACTIVE_JOBS_PER_USER = 1
    failed = [make_job(bob, Job.Status.FAILED) for _ in range(2)]
    response = run_action(staff_client, "resubmit_jobs", failed)
    assert Job.objects.filter(status="pending").count() == 1
    assert "Skipped 1: 1 owner already at the active-job limit" in messages_of(response)[0]


def test_resubmit_action_checks_the_input_again(staff_client, bob, settings):
    failed = make_job(bob, Job.Status.FAILED)
    settings.TTS_MAX_TURNS = 1
    response = run_action(staff_client, "resubmit_jobs", [failed])
    assert Job.objects.count() == 1
    assert messages_of(response) == [
        "Resubmitted 0 jobs. Skipped 1: 1 input no longer valid (At most 1 turns; got 3.)."
    ]


def test_mark_failed_action_only_touches_processing(staff_client, some_jobs):
    response = run_action(staff_client, "mark_failed", some_jobs.values())
    job = Job.objects.get(pk=some_jobs["processing"].pk)
    assert (job.status, job.error_code) == ("failed", "MARKED_FAILED")
    assert "staff" in job.error_message
    assert Job.objects.get(pk=some_jobs["pending"].pk).status == "pending"
    assert messages_of(response)[0].startswith("Marked failed 1 job. Skipped 4:")


def test_delete_action_removes_rows_and_files_but_not_running_jobs(staff_client, some_jobs):
    from django.core.files.storage import default_storage

    audio_name = some_jobs["completed"].audio.name
    assert default_storage.exists(audio_name)
    response = run_action(staff_client, "delete_with_audio", some_jobs.values())
    assert list(Job.objects.values_list("pk", flat=True)) == [some_jobs["processing"].pk]
    assert not default_storage.exists(audio_name)
    assert messages_of(response) == ["Deleted 4 jobs. Skipped 1: 1 processing (mark them failed first)."]


def test_django_bulk_delete_is_replaced(staff_client, some_jobs):
    response = staff_client.get(reverse("admin:synthesis_job_changelist"))
    assert "delete_selected" not in response.content.decode()


def test_jobs_cannot_be_added_or_edited_in_the_admin(staff_client, some_jobs):
    assert staff_client.get(reverse("admin:synthesis_job_add")).status_code == 403
    job = some_jobs["pending"]
    staff_client.post(reverse("admin:synthesis_job_change", args=[job.pk]), {"status": "completed"})
    assert Job.objects.get(pk=job.pk).status == "pending"


def test_user_admin_shows_job_counts_and_links_to_jobs(staff_client, some_jobs, alice):
    response = staff_client.get(reverse("admin:auth_user_changelist"))
    users = {user.username: user for user in response.context["cl"].result_list}
    assert (users["alice"].active_job_count, users["alice"].total_job_count) == (2, 3)
    assert (users["bob"].active_job_count, users["bob"].total_job_count) == (0, 2)
    jobs_url = reverse("admin:synthesis_job_changelist") + f"?owner__id__exact={alice.pk}"
    assert jobs_url in response.content.decode()


def test_user_list_query_count_does_not_grow_with_users(staff_client):
    def count():
        with CaptureQueriesContext(connection) as captured:
            staff_client.get(reverse("admin:auth_user_changelist"))
        return len(captured)

    few = count()
    User.objects.bulk_create(User(username=f"user{i}") for i in range(60))
    assert count() == few


def test_staff_can_create_a_user_with_a_password(staff_client):
    response = staff_client.post(
        reverse("admin:auth_user_add"),
        {
            "username": "carol",
            "password1": "a-long-Secret-phrase-91",
            "password2": "a-long-Secret-phrase-91",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302
    assert User.objects.get(username="carol").check_password("a-long-Secret-phrase-91")


def test_staff_see_tokens_not_secrets_and_can_revoke(staff_client, alice):
    token, secret = ApiToken.objects.create_token(alice, "nightly")
    other, _ = ApiToken.objects.create_token(alice, "old")
    other.revoke()
    response = staff_client.get(reverse("admin:synthesis_apitoken_changelist"))
    content = response.content.decode()
    assert "nightly" in content and token.prefix in content
    assert secret not in content and token.key_hash not in content
    response = staff_client.get(reverse("admin:synthesis_apitoken_change", args=[token.pk]))
    assert token.key_hash not in response.content.decode()
    response = staff_client.post(
        reverse("admin:synthesis_apitoken_changelist"),
        {"action": "revoke_tokens", "_selected_action": [token.pk, other.pk]},
        follow=True,
    )
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert messages_of(response) == ["Revoked 1 token. Skipped 1: already revoked."]
    assert staff_client.get(reverse("admin:synthesis_apitoken_add")).status_code == 403


# --- staff powers match their permissions (issue 11) -------------------------


def staff_with(*codenames):
    """A staff user (not a superuser) holding only the named permissions."""
    user = User.objects.create_user("viewer", "viewer@example.com", "viewer-password", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


JOB_ACTIONS = ["cancel_jobs", "resubmit_jobs", "mark_failed", "delete_with_audio"]


@pytest.mark.parametrize("action", JOB_ACTIONS)
def test_a_view_only_staff_user_can_neither_see_nor_run_a_job_action(client, some_jobs, action):
    client.force_login(staff_with("view_job"))
    listing = client.get(reverse("admin:synthesis_job_changelist"))
    assert listing.status_code == 200
    assert f'value="{action}"' not in listing.content.decode()
    before = {job.pk: (job.status, job.error_code) for job in Job.objects.all()}
    response = run_action(client, action, some_jobs.values())
    assert response.status_code == 200
    assert {job.pk: (job.status, job.error_code) for job in Job.objects.all()} == before  # nothing added or changed


@pytest.mark.parametrize(
    "action, permission",
    [
        ("cancel_jobs", "change_job"),
        ("resubmit_jobs", "change_job"),
        ("mark_failed", "change_job"),
        ("delete_with_audio", "delete_job"),
    ],
)
def test_the_permission_an_action_declares_is_enough_to_run_it(client, some_jobs, action, permission):
    client.force_login(staff_with("view_job", permission))
    assert f'value="{action}"' in client.get(reverse("admin:synthesis_job_changelist")).content.decode()
    before = {job.pk: job.status for job in Job.objects.all()}
    run_action(client, action, some_jobs.values())
    assert {job.pk: job.status for job in Job.objects.all()} != before


def test_a_view_only_staff_user_cannot_revoke_tokens(client, alice):
    token, _ = ApiToken.objects.create_token(alice, "nightly")
    client.force_login(staff_with("view_apitoken"))
    url = reverse("admin:synthesis_apitoken_changelist")
    assert 'value="revoke_tokens"' not in client.get(url).content.decode()
    client.post(url, {"action": "revoke_tokens", "_selected_action": [token.pk]}, follow=True)
    token.refresh_from_db()
    assert token.revoked_at is None
    # With "change" the same request revokes it.
    User.objects.get(username="viewer").user_permissions.add(Permission.objects.get(codename="change_apitoken"))
    client.post(url, {"action": "revoke_tokens", "_selected_action": [token.pk]}, follow=True)
    token.refresh_from_db()
    assert token.revoked_at is not None


# --- django-q2's admin is no way to run code (issue 11) ------------------------


def all_django_q_permissions():
    return Permission.objects.filter(content_type__app_label="django_q").values_list("codename", flat=True)


def test_staff_with_every_django_q_permission_cannot_add_a_schedule(client, tmp_path):
    """The finding: a staff user with add_schedule made the worker run os.system."""
    client.force_login(staff_with(*all_django_q_permissions()))
    marker = tmp_path / "marker"
    response = client.post(
        reverse("admin:django_q_schedule_add"),
        {
            "name": "probe",
            "func": "os.system",
            "args": f"'id > {marker}'",
            "schedule_type": "O",
            "repeats": "-1",
            "next_run_0": "2026-01-01",
            "next_run_1": "00:00:00",
        },
    )
    assert response.status_code == 403
    assert not Schedule.objects.filter(func="os.system").exists()


def test_staff_can_read_but_not_change_django_q_rows(client, alice):
    client.force_login(staff_with(*all_django_q_permissions()))
    ensure_schedules()
    schedule = Schedule.objects.first()
    job = make_job(alice, Job.Status.PENDING, ended_days_ago=None)
    async_task("synthesis.tasks.run_synthesis", str(job.pk))
    queued = OrmQ.objects.get()

    for url in (
        reverse("admin:django_q_schedule_change", args=[schedule.pk]),
        reverse("admin:django_q_ormq_change", args=[queued.pk]),
    ):
        page = client.get(url)
        assert page.status_code == 200, url  # the read-only view
        assert 'name="_save"' not in page.content.decode(), url
    client.post(reverse("admin:django_q_schedule_change", args=[schedule.pk]), {"func": "os.system"})
    assert Schedule.objects.get(pk=schedule.pk).func == schedule.func
    assert (
        client.post(reverse("admin:django_q_schedule_delete", args=[schedule.pk]), {"post": "yes"}).status_code == 403
    )
    assert client.post(reverse("admin:django_q_ormq_delete", args=[queued.pk]), {"post": "yes"}).status_code == 403
    assert Schedule.objects.filter(pk=schedule.pk).exists() and OrmQ.objects.filter(pk=queued.pk).exists()


def test_staff_cannot_resubmit_django_q_tasks(client, alice):
    failure = Task.objects.create(
        id="a" * 32, name="probe", func="os.system", args=("true",), success=False, started=now(), stopped=now()
    )
    client.force_login(staff_with(*all_django_q_permissions()))
    url = reverse("admin:django_q_failure_changelist")
    assert 'value="resubmit_task"' not in client.get(url).content.decode()
    client.post(url, {"action": "resubmit_task", "_selected_action": [failure.pk]}, follow=True)
    assert not OrmQ.objects.exists()


def test_a_superuser_still_edits_django_q_rows(staff_client):
    ensure_schedules()
    schedule = Schedule.objects.first()
    page = staff_client.get(reverse("admin:django_q_schedule_change", args=[schedule.pk]))
    assert 'name="_save"' in page.content.decode()
    assert staff_client.get(reverse("admin:django_q_schedule_add")).status_code == 200


def test_a_page_past_an_estimated_count_is_shown_not_an_error(alice):
    Job.objects.bulk_create(Job(owner=alice, provider="espeak", input_params={}, title=f"j{i}") for i in range(50))
    jobs = Job.objects.order_by("-created_at", "-pk")

    class ShortEstimate(EstimatedCountPaginator):
        _count_and_exact = (10, False)  # PostgreSQL's estimate can fall short of the rows

    paginator = ShortEstimate(jobs, 20)
    assert paginator.num_pages == 1
    assert [j.pk for j in paginator.page(3).object_list] == [j.pk for j in jobs[40:50]]
    assert list(paginator.page(4).object_list) == []
    with pytest.raises(EmptyPage):
        EstimatedCountPaginator(jobs, 20).page(4)  # counted exactly: past the end is an error, as before

"""The UI language: from Accept-Language, switched in the header (Django's
set_language), remembered for a logged-in user; API messages follow
Accept-Language while the error codes stay."""

import json
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from synthesis.models import Job, LanguagePreference
from synthesis.outage import database_unavailable
from synthesis.providers import available_providers
from synthesis.templatetags.job_format import about, ago, took
from tests.catalogue import english_left, visible_text
from tests.conftest import dialogue
from tests.factories import input_params, make_job

ZH = {"Accept-Language": "zh-TW,zh;q=0.9,en;q=0.5"}


def switch(client, language, next_url="/jobs/"):
    return client.post(reverse("set_language"), {"language": language, "next": next_url})


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("zh-TW,zh;q=0.9", "zh-hant"),
        ("zh-Hant", "zh-hant"),
        ("zh-HK", "zh-hant"),
        ("zh", "zh-hant"),
        ("en-US,en;q=0.9", "en"),
        ("fr-FR,fr;q=0.9", "en"),
        ("", "en"),
    ],
)
def test_the_login_page_speaks_the_browsers_language(client, db, header, language):
    response = client.get(reverse("login"), headers={"Accept-Language": header} if header else {})
    assert response["Content-Language"] == language
    assert f'<html lang="{language}">' in response.content.decode()


def test_the_header_switches_the_language_with_a_csrf_checked_post(db):
    checked = Client(enforce_csrf_checks=True)
    assert checked.post(reverse("set_language"), {"language": "zh-hant", "next": "/"}).status_code == 403
    page = checked.get(reverse("login"))
    html = page.content.decode()
    assert f'action="{reverse("set_language")}"' in html and 'name="csrfmiddlewaretoken"' in html
    response = checked.post(
        reverse("set_language"),
        {"language": "zh-hant", "next": "/accounts/login/", "csrfmiddlewaretoken": page.cookies["csrftoken"].value},
    )
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert checked.get(reverse("login"))["Content-Language"] == "zh-hant"


def test_a_get_does_not_switch(client, db):
    assert client.get(reverse("set_language") + "?language=zh-hant").status_code == 405


def test_an_unknown_language_changes_nothing(alice_client, alice):
    switch(alice_client, "fr")
    assert alice_client.get(reverse("job_list"))["Content-Language"] == "en"
    assert not LanguagePreference.objects.filter(user=alice).exists()


def test_a_logged_in_users_choice_is_saved_and_restored_at_the_next_login(alice_client, alice):
    switch(alice_client, "zh-hant")
    assert LanguagePreference.objects.get(user=alice).language == "zh-hant"
    alice_client.post(reverse("logout"))

    # Another browser (no cookie) whose Accept-Language says English.
    elsewhere = Client(headers={"Accept-Language": "en-US"})
    assert elsewhere.get(reverse("login"))["Content-Language"] == "en"
    elsewhere.post(reverse("login"), {"username": "alice", "password": "alice-password"})
    response = elsewhere.get(reverse("job_list"))
    assert response["Content-Language"] == "zh-hant"
    # The cookie follows, so the login page stays Chinese after logging out.
    assert response.cookies["django_language"].value == "zh-hant"
    assert response.cookies["django_language"]["httponly"]
    elsewhere.post(reverse("logout"))
    assert elsewhere.get(reverse("login"))["Content-Language"] == "zh-hant"


def test_the_saved_choice_wins_over_accept_language(alice, client):
    LanguagePreference.objects.create(user=alice, language="en")
    client.force_login(alice)
    assert client.get(reverse("job_list"), headers=ZH)["Content-Language"] == "en"


def test_without_a_saved_choice_accept_language_decides(alice_client):
    assert alice_client.get(reverse("job_list"), headers=ZH)["Content-Language"] == "zh-hant"


def test_switching_back_to_english_is_saved_too(alice_client, alice):
    switch(alice_client, "zh-hant")
    switch(alice_client, "en")
    assert LanguagePreference.objects.get(user=alice).language == "en"
    assert alice_client.get(reverse("job_list"), headers=ZH)["Content-Language"] == "en"


def test_the_api_follows_accept_language_not_the_page_choice(alice_client):
    switch(alice_client, "zh-hant")
    response = alice_client.get("/api/v1/jobs", headers={"Accept-Language": "en"})
    assert response["Content-Language"] == "en"
    response = alice_client.get("/api/v1/jobs", headers=ZH)
    assert response["Content-Language"] == "zh-hant"


def test_api_error_codes_and_field_names_do_not_change_with_the_language(alice_client):
    body = dialogue()
    del body["provider"]
    body["gap_ms"] = -1
    answers = [
        alice_client.post("/api/v1/jobs", body, content_type="application/json", headers=headers).json()
        for headers in ({"Accept-Language": "en"}, ZH)
    ]
    assert [a["error"] for a in answers] == ["VALIDATION_ERROR", "VALIDATION_ERROR"]
    assert set(answers[0]["details"]) == set(answers[1]["details"]) == {"provider", "gap_ms"}


# --- pages in Traditional Chinese ---------------------------------------------------------


def chinese_job(owner, status, **fields):
    params = {
        **input_params(),
        "turns": [
            {"speaker": "甲", "text": "你好，今天天氣很好。", "index": 0},
            {"speaker": "乙", "text": "是啊，我們去散步吧。", "index": 1},
        ],
        "voice_assignments": [
            {"speaker": "甲", "voice_id": "cmn", "voice_name": ""},
            {"speaker": "乙", "voice_id": "cmn+f3", "voice_name": ""},
        ],
        "language": "zh-TW",
    }
    return make_job(owner, status, input_params=params, title="甲：你好，今天天氣很好。", **fields)


def assert_no_english_of_ours(response):
    """No English of our catalogue left in what the page shows, once the
    engines' own voice names ("Chinese (Mandarin, latin as English)") are
    set aside: they are the engine's data, not ours."""
    text = visible_text(response.content.decode())
    names = sorted({voice.name for provider in available_providers().values() for voice in provider.voices()}, key=len)
    for name in reversed(names):
        text = text.replace(name, " ")
    assert english_left(text) == [], text


@pytest.fixture
def jobs_in_every_state(alice):
    return {
        status: chinese_job(alice, status, **extra)
        for status, extra in [
            (Job.Status.PENDING, {}),
            (Job.Status.PROCESSING, {"progress_done": 1}),
            (Job.Status.COMPLETED, {}),
            (Job.Status.FAILED, {"error_code": "TIMEOUT", "error_message": "The job ran past its time limit."}),
            (Job.Status.CANCELLED, {"error_code": "CANCELLED"}),
        ]
    }


def test_the_job_list_in_chinese(alice_client, jobs_in_every_state):
    response = alice_client.get(reverse("job_list"), headers=ZH)
    html = response.content.decode()
    for label in ("我的工作", "新對話", "等待中", "處理中", "已完成", "失敗", "已取消", "播放", "下載", "登出", "剛剛"):
        assert label in html, label
    assert "工作超過時間限制，已被停止。" in html  # the failure, by its code
    assert_no_english_of_ours(response)
    # The same page in English, for contrast: the check sees English.
    english = alice_client.get(reverse("job_list"), headers={"Accept-Language": "en"})
    assert "My jobs" in english_left(visible_text(english.content.decode()))


def test_the_job_list_poll_and_tabs_in_chinese(alice_client, jobs_in_every_state):
    response = alice_client.get(reverse("job_list") + "?status=active", headers={**ZH, "HX-Request": "true"})
    assert "進行中" in response.content.decode()
    assert_no_english_of_ours(response)


@pytest.mark.parametrize("status", list(Job.Status))
def test_a_job_page_in_chinese(alice_client, jobs_in_every_state, status):
    response = alice_client.get(reverse("job_detail", args=[jobs_in_every_state[status].pk]), headers=ZH)
    assert response.status_code == 200
    assert_no_english_of_ours(response)


def test_a_completed_job_page_shows_dates_and_downloads_in_chinese(alice_client, jobs_in_every_state):
    job = jobs_in_every_state[Job.Status.COMPLETED]
    html = alice_client.get(reverse("job_detail", args=[job.pk]), headers=ZH).content.decode()
    created = timezone.localtime(job.created_at)
    assert f"{created.year}年{created.month}月{created.day}日" in html
    for text in ("下載 MP3", "字幕（WebVTT）", "字幕（SRT）", "編輯為新對話", "保存到", "音訊長度 0:02。"):
        assert text in html, text


def test_a_failure_in_chinese_keeps_the_workers_own_message_beneath(alice_client, jobs_in_every_state):
    job = jobs_in_every_state[Job.Status.FAILED]
    html = alice_client.get(reverse("job_detail", args=[job.pk]), headers=ZH).content.decode()
    assert "失敗原因：" in html and "工作超過時間限制，已被停止。" in html
    assert "The job ran past its time limit." in html and "<code>TIMEOUT</code>" in html
    english = alice_client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert "It failed:</strong> The job ran past its time limit." in english


def test_the_new_dialogue_page_in_chinese_and_its_errors(alice_client):
    response = alice_client.get(reverse("job_new"), headers=ZH)
    html = response.content.decode()
    assert "對話" in html and "建立音訊" in html and "小美：" in html
    assert_no_english_of_ours(response)
    refused = alice_client.post(reverse("job_new"), {"script": "", "provider": "espeak"}, headers=ZH)
    assert "請至少寫一行，例如「小美：你好。」" in refused.content.decode()
    bad_line = alice_client.post(
        reverse("job_new"),
        {"script": "你好，沒有說話者。", "provider": "espeak", "gap_ms": 300, "crossfade_ms": 50},
        headers=ZH,
    )
    assert "第 1 行：請以說話者的名字和冒號開頭" in bad_line.content.decode()


def test_the_voice_pickers_of_a_chinese_script_in_chinese(alice_client):
    response = alice_client.post(
        reverse("job_new"),
        {"action": "refresh", "script": "甲：你好，今天天氣很好。\n乙：是啊。", "provider": "espeak"},
        headers=ZH,
    )
    html = response.content.decode()
    assert "推薦" in html and "2 位說話者，2 段。" in html
    assert_no_english_of_ours(response)


def test_messages_after_actions_are_in_chinese(alice_client, jobs_in_every_state):
    job = jobs_in_every_state[Job.Status.PENDING]
    response = alice_client.post(reverse("job_cancel", args=[job.pk]), headers=ZH, follow=True)
    assert f"已取消工作「{job.title}」。" in response.content.decode()


def test_the_tokens_page_and_its_messages_in_chinese(alice_client):
    response = alice_client.post(reverse("account_tokens"), {"name": "夜間腳本"}, headers=ZH)
    html = response.content.decode()
    assert "你的新權杖。" in html and "請現在複製：它不會再顯示。" in html
    assert_no_english_of_ours(response)


@pytest.mark.parametrize("url", ["/accounts/login/", "/no/such/page/"])
def test_login_and_error_pages_in_chinese(client, db, url):
    response = client.get(url, headers=ZH)
    assert_no_english_of_ours(response)
    assert ("登入" if "login" in url else "找不到頁面") in response.content.decode()


def test_password_pages_in_chinese_with_djangos_own_translations(alice_client):
    response = alice_client.get(reverse("password_change"), headers=ZH)
    html = response.content.decode()
    assert "變更密碼" in html and "舊密碼" in html  # "Old password", from Django's catalogue
    assert_no_english_of_ours(response)


def test_durations_and_ages_in_chinese():
    now = timezone.now()
    with translation.override("zh-hant"):
        assert [took(850), took(4200), took(185_000)] == ["850 毫秒", "4.2 秒", "3 分 5 秒"]
        assert [about(3), about(17), about(300)] == ["幾秒", "約 15 秒", "約 5 分鐘"]
        assert [ago(now, now), ago(now - timedelta(minutes=5), now), ago(now - timedelta(days=2), now)] == [
            "剛剛",
            "5 分鐘前",
            "2 天前",
        ]
    with translation.override("en"):
        assert [took(4200), about(300), ago(now - timedelta(days=2), now)] == ["4.2 s", "about 5 min", "2 days ago"]


def test_api_messages_in_chinese_with_the_same_codes_and_field_names(alice_client):
    body = dialogue()
    del body["provider"]
    english = alice_client.post("/api/v1/jobs", body, content_type="application/json").json()
    chinese = alice_client.post("/api/v1/jobs", body, content_type="application/json", headers=ZH).json()
    assert english["error"] == chinese["error"] == "VALIDATION_ERROR"
    assert english["message"] == "Some fields are not valid."
    assert chinese["message"] == "部分欄位無效。"
    assert chinese["details"]["provider"].startswith("必填：用來合成的語音服務")
    assert "espeak" in chinese["details"]["provider"]
    missing = alice_client.get(f"/api/v1/jobs/{uuid.uuid4()}", headers=ZH).json()
    assert missing["error"] == "JOB_NOT_FOUND" and missing["message"].startswith("沒有工作")


def test_api_401_in_chinese_for_a_token_client(client, db):
    response = client.get("/api/v1/jobs", headers={"Authorization": "Bearer nope", **ZH})
    assert response.status_code == 401
    assert response.json() == {"error": "INVALID_TOKEN", "message": "API 權杖不存在或已撤銷。", "details": {}}


def test_the_500_page_and_the_apis_500_in_chinese(alice, monkeypatch):
    def bug(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("synthesis.views.get_job_for_user", bug)
    monkeypatch.setattr("synthesis.api.get_job_for_user", bug)
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    page = client.get(f"/jobs/{uuid.uuid4()}/", headers=ZH)
    assert page.status_code == 500 and "發生錯誤" in page.content.decode()
    assert_no_english_of_ours(page)
    api = client.get(f"/api/v1/jobs/{uuid.uuid4()}", headers=ZH)
    assert api.status_code == 500
    assert api.json() == {"error": "INTERNAL_ERROR", "message": "我們這邊出了問題，錯誤已記錄下來。", "details": {}}


def test_the_outage_answers_in_chinese(rf):
    with translation.override("zh-hant"):
        page = database_unavailable(rf.get("/jobs/"))
        api = database_unavailable(rf.get("/api/v1/jobs"))
    assert page.status_code == api.status_code == 503
    assert '<html lang="zh-hant">' in page.content.decode() and "暫時無法使用" in page.content.decode()
    assert json.loads(api.content)["error"] == "DATABASE_UNAVAILABLE"
    assert json.loads(api.content)["message"] == "服務目前無法連線到資料庫，請過幾秒再試一次。"

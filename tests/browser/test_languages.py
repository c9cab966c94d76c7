"""The whole flow in Traditional Chinese, in a real browser whose language is
zh-TW: log in, paste a Chinese script with full-width colons, Mandarin voices
picked by default, submit, watch the list, play — and no English of ours on
any page on the way. Then English picked in the header, remembered by the
server across a logout, cleared cookies and a new login."""

import re

import pytest
from playwright.sync_api import expect

from synthesis.models import Job, LanguagePreference
from synthesis.providers import available_providers
from tests.catalogue import english_fragments, english_left

pytestmark = pytest.mark.browser

SCRIPT = "甲：你好，今天天氣很好。\n乙：是啊，我們去公園散步吧。"

# What the page shows: the text of its elements and the attributes people
# read, all but the language switcher (each language named in itself).
VISIBLE_TEXT = """() => {
    const names = ["title", "aria-label", "placeholder", "alt", "hx-confirm", "data-copied", "label", "data-notify"];
    const switcher = document.getElementById("language-select");
    const parts = [document.title];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT | NodeFilter.SHOW_ELEMENT);
    for (let node = walker.currentNode; node; node = walker.nextNode()) {
        if (switcher && switcher.contains(node)) continue;
        if (node.nodeType === Node.TEXT_NODE) {
            const parent = node.parentElement;
            if (parent && !["SCRIPT", "STYLE"].includes(parent.tagName)) parts.push(node.textContent);
        } else {
            for (const name of names) if (node.hasAttribute(name)) parts.push(node.getAttribute(name));
        }
    }
    return parts.map(p => p.trim()).filter(Boolean).join("\\n");
}"""


@pytest.fixture
def zh_page(browser, live_server):
    context = browser.new_context(locale="zh-TW")
    page = context.new_page()
    yield page
    context.close()


def no_english_of_ours(page, fragments, where):
    """The English of our catalogue left on the page, once the engines' own
    voice names ("Chinese (Mandarin, latin as English)") are set aside."""
    text = page.evaluate(VISIBLE_TEXT)
    voice_names = {voice.name for provider in available_providers().values() for voice in provider.voices()}
    for name in sorted(voice_names, key=len, reverse=True):
        text = text.replace(name, " ")
    assert english_left(text, fragments) == [], f"{where}:\n{text}"


def log_in_in_chinese(page, live_server):
    page.goto(f"{live_server.url}/accounts/login/")
    expect(page.locator("h1")).to_have_text("登入")
    page.get_by_label("使用者名稱").fill("alice")
    page.get_by_label("密碼").fill("alice-password")
    page.get_by_role("button", name="登入").click()
    page.wait_for_url(f"{live_server.url}/jobs/")


def test_the_whole_flow_in_chinese_then_english_remembered(zh_page, live_server, alice, worker_cluster, artifacts):
    page = zh_page
    fragments = english_fragments()
    page.goto(f"{live_server.url}/accounts/login/")
    assert page.locator("html").get_attribute("lang") == "zh-hant"
    no_english_of_ours(page, fragments, "login")
    log_in_in_chinese(page, live_server)
    expect(page.locator("h1")).to_have_text("我的工作")
    no_english_of_ours(page, fragments, "empty list")

    page.get_by_role("navigation", name="主選單").get_by_role("link", name="新對話").click()
    no_english_of_ours(page, fragments, "new dialogue")
    page.get_by_label("對話").fill(SCRIPT)
    pickers = page.locator("select.voice-select")
    expect(pickers).to_have_count(2)
    # Mandarin by default, a different voice each.
    voices = [pickers.nth(i).input_value() for i in range(2)]
    assert all(re.match(r"^cmn", voice) for voice in voices) and len(set(voices)) == 2, voices
    expect(page.locator("#voices")).to_contain_text("2 位說話者，2 段。")
    no_english_of_ours(page, fragments, "voice pickers")
    page.get_by_role("button", name="建立音訊").click()

    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    job = Job.objects.get()
    assert [t["speaker"] for t in job.input_params["turns"]] == ["甲", "乙"]
    expect(page.locator("#messages")).to_contain_text(f"工作 {job.pk} 已送出")
    expect(page.locator(".badge").first).to_have_text("等待中")
    no_english_of_ours(page, fragments, "pending job")

    page.get_by_role("navigation", name="主選單").get_by_role("link", name="我的工作").click()
    row = page.locator(f"#job-{job.pk}")
    expect(row.locator(".badge")).to_have_text("等待中")
    expect(row).to_contain_text("排在佇列第 1 位")
    no_english_of_ours(page, fragments, "list, waiting")
    worker_cluster()
    expect(row.locator(".badge")).to_have_text("已完成", timeout=60_000)
    expect(page.locator("#notices")).to_contain_text("已完成")
    no_english_of_ours(page, fragments, "list, completed")
    page.screenshot(path=artifacts / "job-list-zh.png", full_page=True)

    row.get_by_role("link", name="▶ 播放").click()
    page.wait_for_function("() => document.getElementById('list-player').currentTime > 0")

    row.locator(".job-title").click()
    page.wait_for_url(f"{live_server.url}/jobs/{job.pk}/")
    page.wait_for_function("() => document.getElementById('player').duration > 0")
    page.locator("#play-turn-1").click()
    page.wait_for_function("() => document.getElementById('player').currentTime > 0")
    expect(page.locator(".actions").first).to_contain_text("字幕（WebVTT）")
    no_english_of_ours(page, fragments, "completed job")
    page.screenshot(path=artifacts / "job-detail-zh.png", full_page=True)

    # English, from the header; saved for alice.
    page.locator("#language-select").select_option("en")
    expect(page.locator("h1")).to_have_text(job.title)
    expect(page.locator(".actions").first).to_contain_text("Subtitles (WebVTT)")
    assert page.locator("html").get_attribute("lang") == "en"
    assert LanguagePreference.objects.get(user=alice).language == "en"

    # Logged out, cookies gone (another browser, as far as the server can
    # tell): the login page follows Accept-Language again; logging in brings
    # alice's English back.
    page.get_by_role("button", name="Log out").click()
    page.context.clear_cookies()
    log_in_in_chinese(page, live_server)
    expect(page.locator("h1")).to_have_text("My jobs")
    expect(page.locator(f"#job-{job.pk} .badge")).to_have_text("Completed")

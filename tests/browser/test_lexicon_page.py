"""The pronunciation dictionary page in Chromium, on a narrow phone."""

import pytest
from playwright.sync_api import expect

from synthesis.models import LexiconEntry

pytestmark = pytest.mark.browser


def test_the_dictionary_works_and_fits_a_360_px_phone(page, live_server, alice, log_in, artifacts):
    LexiconEntry.objects.add(alice, written="Supercalifragilisticexpialidocious", spoken="super-cali-fragilistic")
    page.set_viewport_size({"width": 360, "height": 740})
    log_in("alice", "alice-password")
    page.goto(live_server.url + "/account/pronunciation/")
    page.get_by_label("Written").fill("台積電")
    page.get_by_label("Say it as").fill("台積 電")
    page.get_by_role("button", name="Add").click()  # htmx: the panel is swapped in place
    row = page.locator(".lexicon-table tr", has_text="台積電")
    expect(row).to_contain_text("台積 電")
    page.get_by_label("Written").fill("tomato")
    page.get_by_label("Say it as").fill("t@m'A:t#oU")
    page.get_by_label("Kind").select_option("espeak")
    page.get_by_role("button", name="Add").click()
    expect(page.locator(".lexicon-table tr", has_text="tomato")).to_contain_text("eSpeak phonemes")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360, "the page scrolls sideways at 360 px"
    delete = page.get_by_role("button", name="Delete “台積電”")
    box = delete.bounding_box()
    assert box["x"] + box["width"] <= 360  # on the screen
    page.screenshot(path=artifacts / "lexicon-360.png", full_page=True)
    delete.click()
    expect(page.locator(".lexicon-table")).not_to_contain_text("台積電")
    assert sorted(LexiconEntry.objects.for_user(alice).values_list("written", flat=True)) == [
        "Supercalifragilisticexpialidocious",
        "tomato",
    ]

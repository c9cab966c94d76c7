"""Every string a user reads is marked for translation, and the zh-Hant
catalogue has all of them, translated, not fuzzy, compiled into the committed
.mo. No gettext tools needed: a fresh machine has none."""

import gettext
import re
import textwrap
from pathlib import Path

import pytest

from tests import catalogue
from tests.unmarked import unmarked_python_strings, unmarked_template_text

TEMPLATES = sorted(catalogue.TEMPLATES.rglob("*.html"))
# Every module of ours but the migrations, and openapi.py: the API's schema
# (titles and descriptions of a machine contract, in English like the
# original contract it extends).
MODULES = sorted(
    path
    for path in (catalogue.ROOT / "synthesis").rglob("*.py")
    if "migrations" not in path.parts and path.name != "openapi.py"
)


def name(path: Path) -> str:
    return str(path.relative_to(catalogue.ROOT))


# --- marked -----------------------------------------------------------------


@pytest.mark.parametrize("template", TEMPLATES, ids=name)
def test_no_template_shows_unmarked_text(template):
    assert unmarked_template_text(template.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("module", MODULES, ids=name)
def test_no_module_hands_users_unmarked_text(module):
    assert unmarked_python_strings(module.read_text(encoding="utf-8")) == []


def test_the_template_check_finds_unmarked_text_and_only_that():
    bad = textwrap.dedent(
        """\
        {% load i18n %}
        <h1>Hello {{ user }}</h1>
        <a href="{% url 'x' %}" title="Play from here">{% translate "Play" %}</a>
        <input type="submit" value="Send">
        <button aria-label="Close">×</button>
        <p>{% if a %}Waiting{% endif %}</p>
        """
    )
    assert unmarked_template_text(bad) == [
        "Hello …",
        'a title="Play from here"',
        'input value="Send"',
        'button aria-label="Close"',
        "…Waiting…",
    ]
    good = textwrap.dedent(
        """\
        {% load i18n %}{# A comment in English #}
        {% comment %}Also English{% endcomment %}
        <h1>{% blocktranslate %}Hello {{ user }}{% endblocktranslate %}</h1>
        <a title="{% translate 'Play from here' %}" href="/x">▶ {{ job.title }}</a> · 12:05 · 3/4
        <input type="text" value="{{ value }}"><script>var text = "not shown";</script>
        <a class="brand">ttsjobs</a>
        """
    )
    assert unmarked_template_text(good) == []


def test_the_python_check_finds_unmarked_text_and_only_that():
    bad = textwrap.dedent(
        """\
        def view(request, job):
            messages.success(request, f"Cancelled job {job.title}.")
            name = forms.CharField(label="Name", help_text="What it is for.")
            errors["gap_ms"] = "Must be a number."
            raise Http404("No such job.")
            return error_response(400, "VALIDATION_ERROR", "Some fields are not valid." % x)
        """
    )
    assert [line for line, _text in unmarked_python_strings(bad)] == [2, 3, 3, 4, 5, 6]
    good = textwrap.dedent(
        """\
        def view(request, job):
            messages.success(request, _("Cancelled job %(title)s.") % {"title": job.title})
            name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
            errors["gap_ms"] = _("Must be a number.")
            log.info("job cancelled job_id=%s", job.pk)  # logs stay English
            return error_response(400, "VALIDATION_ERROR", ngettext("One field", "%(n)s fields", n) % {"n": n})
        """
    )
    assert unmarked_python_strings(good) == []


# --- the catalogue ----------------------------------------------------------


@pytest.fixture(scope="module")
def entries():
    return [entry for entry in catalogue.read_po() if not entry.obsolete]


def test_every_marked_string_is_in_the_catalogue(entries):
    in_catalogue = {(entry.msgctxt, entry.msgid, entry.msgid_plural) for entry in entries if entry.msgid}
    missing = sorted(catalogue.marked_strings() - in_catalogue, key=str)
    assert missing == [], (
        "not in locale/zh_Hant/LC_MESSAGES/django.po: run `make messages`, translate, `make messages` again"
    )


def test_every_entry_is_translated_and_none_is_fuzzy(entries):
    untranslated = [e.msgid for e in entries if e.msgid and not all(e.msgstr.values())]
    fuzzy = [e.msgid or "(header)" for e in entries if "fuzzy" in e.flags]
    assert untranslated == [] and fuzzy == []


def test_translations_keep_the_placeholders_and_the_markup(entries):
    wrong = []
    for entry in entries:
        if not entry.msgid:
            continue
        for translation in entry.msgstr.values():
            for pattern in (catalogue.PLACEHOLDERS, re.compile(r"</?\w+")):
                if sorted(set(pattern.findall(entry.msgid))) != sorted(set(pattern.findall(translation))):
                    wrong.append((entry.msgid, translation))
    assert wrong == []


def test_the_compiled_catalogue_is_the_po_file(entries):
    with catalogue.MO.open("rb") as compiled:
        mo = gettext.GNUTranslations(compiled)._catalog
    expected = {}
    for entry in entries:
        key = entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"
        if not entry.msgid:
            # msgfmt leaves the template's creation date out of the header.
            expected[key] = re.sub(r"POT-Creation-Date: .*\n", "", entry.msgstr[0])
        elif entry.msgid_plural is None:
            expected[key] = entry.msgstr[0]
        else:
            expected.update({(key, n): text for n, text in entry.msgstr.items()})
    assert mo == expected, "the .mo is older than the .po: run `make messages`"


def test_the_catalogue_checks_see_a_missing_an_empty_and_a_fuzzy_entry(tmp_path):
    po = tmp_path / "django.po"
    po.write_text(
        textwrap.dedent(
            """\
            msgid ""
            msgstr ""
            "Plural-Forms: nplurals=1; plural=0;\\n"

            msgid "Log in"
            msgstr "登入"

            msgid "Log out"
            msgstr ""

            #, fuzzy
            msgid "My jobs"
            msgstr "我的工作"

            #, python-format
            msgid "%(days)s day ago"
            msgid_plural "%(days)s days ago"
            msgstr[0] "%(days)s 天前"

            #~ msgid "Gone"
            #~ msgstr "不見了"
            """
        ),
        encoding="utf-8",
    )
    read = catalogue.read_po(po)
    assert [(e.msgid, e.msgstr, "fuzzy" in e.flags, e.obsolete) for e in read[1:]] == [
        ("Log in", {0: "登入"}, False, False),
        ("Log out", {0: ""}, False, False),
        ("My jobs", {0: "我的工作"}, True, False),
        ("%(days)s day ago", {0: "%(days)s 天前"}, False, False),
        ("Gone", {0: "不見了"}, False, True),
    ]
    in_sample = {(e.msgctxt, e.msgid, e.msgid_plural) for e in read if e.msgid and not e.obsolete}
    assert (None, "Switch", None) not in in_sample


def test_the_extractor_reads_templates_as_makemessages_does(tmp_path):
    template = tmp_path / "page.html"
    template.write_text(
        textwrap.dedent(
            """\
            {% load i18n %}
            <p>{% translate "Log in" %} {% translate 'Cancel' context "cancel a job" %}</p>
            <p>{% blocktranslate trimmed with left=job.seconds_left|about %}
              {{ left }}
              left{% endblocktranslate %}</p>
            <p>{% blocktranslate count days=n %}{{ days }} day ago{% plural %}{{ days }} days ago
            {% endblocktranslate %}</p>
            <p>{% blocktranslate %}100% sure{% endblocktranslate %}</p>
            """
        ),
        encoding="utf-8",
    )
    assert catalogue.template_msgids(template) == {
        (None, "Log in", None),
        ("cancel a job", "Cancel", None),
        (None, "%(left)s left", None),
        (None, "%(days)s day ago", "%(days)s days ago\n"),
        (None, "100%% sure", None),
    }


def test_english_left_on_a_page_is_found():
    fragments = catalogue.english_fragments(catalogue.read_po())
    assert "Waiting: place" in fragments and "in the queue" in fragments
    assert "WebVTT" not in fragments  # kept as it is in Chinese
    assert catalogue.english_left("等待中：排在佇列第 2 位。 Log in", fragments) == ["Log in"]
    assert catalogue.english_left("登入 · ttsjobs · WebVTT", fragments) == []

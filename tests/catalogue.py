"""The gettext catalogue, read without gettext's tools (a fresh machine has
none): a small .po reader, and the strings our code and templates mark for
translation, found the way makemessages finds them."""

import ast
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from django.template.base import Lexer, TokenType
from django.utils.text import smart_split

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "locale" / "zh_Hant" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
TEMPLATES = ROOT / "templates"
# Where our marked strings live (makemessages ignores tests, bench, docs).
PYTHON_SOURCES = [*(ROOT / "synthesis").rglob("*.py"), *(ROOT / "ttsjobs").rglob("*.py")]

ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "r": "\r"}


def unquote(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: ESCAPES.get(m[1], m[0]), text.strip()[1:-1])


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


@dataclass
class Entry:
    msgid: str = ""
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    comments: list[str] = field(default_factory=list)
    obsolete: bool = False

    @property
    def key(self) -> tuple[str | None, str]:
        return (self.msgctxt, self.msgid)


def read_po(path: Path = PO) -> list[Entry]:
    """The entries of a .po file, the header (msgid "") included."""
    entries, entry, current = [], Entry(), None

    def close():
        nonlocal entry, current
        if entry.msgstr or entry.msgid or current:
            entries.append(entry)
        entry, current = Entry(), None

    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#~"):
            if current is not None and not entry.obsolete:
                close()
            entry.obsolete = True
            line = line[2:].strip()
            if not line:
                continue
        if not line.strip():
            if current is not None:
                close()
            continue
        if line.startswith("#"):
            if current is not None:
                close()
            entry.comments.append(line)
            if line.startswith("#,"):
                entry.flags |= {flag.strip() for flag in line[2:].split(",")}
            continue
        match = re.match(r"^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(\".*\")$", line)
        if match:
            if match[1] in ("msgctxt", "msgid") and current is not None and current.startswith("msgstr"):
                close()
            current = match[1] if match[2] is None else f"msgstr[{match[2]}]"
            value = unquote(match[3])
        elif line.startswith('"'):
            value = unquote(line)
        else:
            raise ValueError(f"{path}: cannot read {line!r}")
        if current == "msgctxt":
            entry.msgctxt = (entry.msgctxt or "") + value
        elif current == "msgid":
            entry.msgid += value
        elif current == "msgid_plural":
            entry.msgid_plural = (entry.msgid_plural or "") + value
        else:
            index = int(current[7:-1]) if "[" in current else 0
            entry.msgstr[index] = entry.msgstr.get(index, "") + value
    if current is not None:
        close()
    return entries


def field_lines(keyword: str, text: str) -> list[str]:
    """A field as gettext writes it: text with line breaks one line each."""
    if "\n" not in text.rstrip("\n"):
        return [f"{keyword} {quote(text)}"]
    return [f'{keyword} ""', *(quote(line) for line in text.splitlines(keepends=True))]


def write_po(entries: list[Entry], path: Path = PO) -> None:
    blocks = []
    for entry in entries:
        lines = list(entry.comments)
        if entry.msgctxt is not None:
            lines += field_lines("msgctxt", entry.msgctxt)
        lines += field_lines("msgid", entry.msgid)
        if entry.msgid_plural is not None:
            lines += field_lines("msgid_plural", entry.msgid_plural)
            for i in sorted(entry.msgstr) or [0]:
                lines += field_lines(f"msgstr[{i}]", entry.msgstr.get(i, ""))
        else:
            lines += field_lines("msgstr", entry.msgstr.get(0, ""))
        blocks.append("\n".join(lines))
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")


# --- the strings marked in our code -------------------------------------------

GETTEXT_FUNCTIONS = {
    # name: (position of msgid, of msgid_plural, of context)
    "_": (0, None, None),
    "gettext": (0, None, None),
    "gettext_lazy": (0, None, None),
    "gettext_noop": (0, None, None),
    "ngettext": (0, 1, None),
    "ngettext_lazy": (0, 1, None),
    "pgettext": (1, None, 0),
    "pgettext_lazy": (1, None, 0),
    "npgettext": (1, 2, 0),
    "npgettext_lazy": (1, 2, 0),
}


def python_msgids(path: Path) -> set[tuple[str | None, str, str | None]]:
    """(context, msgid, plural) of every gettext call with literal arguments."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
        if name not in GETTEXT_FUNCTIONS:
            continue
        positions = GETTEXT_FUNCTIONS[name]
        literals = [arg.value if isinstance(arg, ast.Constant) else None for arg in node.args]

        def literal(position, literals=literals):
            value = literals[position] if position is not None and position < len(literals) else None
            return value if isinstance(value, str) else None

        msgid = literal(positions[0])
        if msgid:
            found.add((literal(positions[2]), msgid, literal(positions[1])))
    return found


def template_msgids(path: Path) -> set[tuple[str | None, str, str | None]]:
    """(context, msgid, plural) of {% translate %} and {% blocktranslate %}
    in a template, built as Django's templatize builds them for xgettext."""
    found = set()
    tokens = Lexer(path.read_text(encoding="utf-8")).tokenize()
    block = None  # the {% blocktranslate %} being read: options and parts
    for token in tokens:
        if block is not None:
            if token.token_type == TokenType.BLOCK and token.contents in ("endblocktranslate", "endblocktrans"):
                singular = "".join(block["singular"])
                plural = "".join(block["plural"]) if block["has_plural"] else None
                if block["trimmed"]:
                    singular = trim(singular)
                    plural = trim(plural) if plural is not None else None
                found.add((block["context"], singular, plural))
                block = None
            elif token.token_type == TokenType.BLOCK and token.contents == "plural":
                block["has_plural"] = True
            else:
                part = block["plural"] if block["has_plural"] else block["singular"]
                if token.token_type == TokenType.VAR:
                    part.append("%(" + token.contents.split("|")[0].strip() + ")s")
                elif token.token_type == TokenType.TEXT:
                    part.append(token.contents.replace("%", "%%"))
            continue
        if token.token_type != TokenType.BLOCK:
            continue
        bits = list(smart_split(token.contents))
        if bits[0] in ("translate", "trans") and len(bits) > 1:
            literal = bits[1]
            if len(literal) > 1 and literal[0] in "\"'" and literal[-1] == literal[0] and literal[1:-1]:
                context = bits[bits.index("context") + 1][1:-1] if "context" in bits else None
                found.add((context, literal[1:-1], None))
            continue
        if bits[0] in ("blocktranslate", "blocktrans"):
            context = bits[bits.index("context") + 1][1:-1] if "context" in bits else None
            block = {
                "singular": [],
                "plural": [],
                "has_plural": False,
                "trimmed": "trimmed" in bits,
                "context": context,
            }
    return found


def trim(text: str) -> str:
    # Django's BlockTranslateNode / makemessages: lines stripped, joined by spaces.
    return " ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def marked_strings() -> set[tuple[str | None, str, str | None]]:
    strings = set()
    for path in PYTHON_SOURCES:
        if "migrations" not in path.parts:
            strings |= python_msgids(path)
    for path in TEMPLATES.rglob("*.html"):
        strings |= template_msgids(path)
    return strings


# --- English left on a translated page ------------------------------------------

PLACEHOLDERS = re.compile(r"%\(\w+\)[sdr]|%[sd]")
MARKUP = re.compile(r"<[^>]+>|&\w+;")


def english_fragments(entries: list[Entry] | None = None) -> set[str]:
    """The English text of our catalogue that its translation does not keep:
    each msgid cut at its placeholders and markup into fragments ("Waiting:
    place", "in the queue."), without those the Chinese keeps as they are
    (WebVTT, JSON API)."""
    fragments = set()
    for entry in entries if entries is not None else read_po():
        if not entry.msgid or entry.obsolete:
            continue
        translated = " ".join(entry.msgstr.values())
        for source in filter(None, (entry.msgid, entry.msgid_plural)):
            pieces = [line for piece in PLACEHOLDERS.split(MARKUP.sub("\n", source)) for line in piece.splitlines()]
            for line in pieces:
                fragment = line.strip(" \t.,:;!?()“”‘’\"'·—–-…/")
                # A lone word cut out of a sentence ("The", "job") says
                # nothing; a whole msgid of one word ("Download") does.
                words = re.findall(r"[A-Za-z]{2,}", fragment)
                if (len(words) >= 2 or (words and len(pieces) == 1)) and fragment not in translated:
                    fragments.add(fragment)
    return fragments


def english_left(text: str, fragments: set[str] | None = None) -> list[str]:
    """Our English fragments found in ``text`` as whole words."""
    fragments = english_fragments() if fragments is None else fragments
    return sorted(f for f in fragments if re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", text))


class _Visible(HTMLParser):
    """Text nodes and the attributes people read, minus scripts, styles and
    the language switcher (each language named in itself, on purpose)."""

    ATTRIBUTES = {"title", "aria-label", "placeholder", "alt", "hx-confirm", "data-copied", "label", "data-notify"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag in ("script", "style") or attributes.get("id") == "language-select":
            self.skip.append(tag)
        if not self.skip:
            self.parts += [value for key, value in attrs if key in self.ATTRIBUTES and value]

    def handle_endtag(self, tag):
        if self.skip and self.skip[-1] == tag:
            self.skip.pop()

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Visible()
    parser.feed(html)
    parser.close()
    return "\n".join(part.strip() for part in parser.parts if part.strip())

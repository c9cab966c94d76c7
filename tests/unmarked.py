"""Finds user-visible text that is not marked for translation.

Templates: the text a browser shows (text nodes and the attributes people
read: title, aria-label, placeholder, alt, hx-confirm, data-copied, a
button's value) outside {% translate %}, {% blocktranslate %}, variables and
comments. Python: string literals and f-strings handed to the places users
read — messages, form labels, help texts and errors, admin descriptions, API
error messages, validation errors, plain-text responses — without gettext.
"""

import ast
import re
from html.parser import HTMLParser

from django.template.base import Lexer, TokenType

PLACEHOLDER = "\ue000"  # stands for what the template engine fills in
LETTERS = re.compile(r"[^\W\d_]{2,}")  # a word, in any script
# Text that is the same in every language.
ALLOWED = {"ttsjobs"}
VISIBLE_ATTRIBUTES = {"title", "aria-label", "placeholder", "alt", "hx-confirm", "data-copied", "label"}


def visible_words(text: str) -> list[str]:
    return [word for word in LETTERS.findall(text.replace(PLACEHOLDER, " ")) if word not in ALLOWED]


def template_shape(source: str) -> str:
    """The template with everything the engine replaces or translates turned
    into a placeholder, and comments removed: what is left is literal text."""
    parts, skipping = [], None
    for token in Lexer(source).tokenize():
        contents = token.contents.split()
        tag = contents[0] if token.token_type == TokenType.BLOCK and contents else None
        if skipping:
            if tag == skipping:
                skipping = None
                parts.append(PLACEHOLDER)
            continue
        if token.token_type == TokenType.TEXT:
            parts.append(token.contents)
        elif token.token_type == TokenType.COMMENT:
            continue
        elif tag in ("blocktranslate", "blocktrans"):
            skipping = "end" + tag
        elif tag == "comment":
            skipping = "endcomment"
        else:
            parts.append(PLACEHOLDER)
    return "".join(parts)


class _TextFinder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.hidden_depth = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.hidden_depth += 1
        attributes = dict(attrs)
        for name, value in attrs:
            wanted = name in VISIBLE_ATTRIBUTES or (
                name == "value" and tag == "input" and attributes.get("type") in ("submit", "button", "reset")
            )
            if wanted and value:
                self.found += [f'{tag} {name}="{value}"'] if visible_words(value) else []

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self.hidden_depth:
            self.hidden_depth -= 1

    def handle_data(self, data):
        if not self.hidden_depth and visible_words(data):
            self.found.append(" ".join(data.replace(PLACEHOLDER, "…").split()))


def unmarked_template_text(source: str) -> list[str]:
    finder = _TextFinder()
    finder.feed(template_shape(source))
    finder.close()
    return finder.found


# --- Python -------------------------------------------------------------------

GETTEXT = {
    "_", "gettext", "gettext_lazy", "ngettext", "ngettext_lazy", "pgettext", "pgettext_lazy",
    "npgettext", "npgettext_lazy", "gettext_noop",
}  # fmt: skip
# Keyword arguments whose value people read.
VISIBLE_KEYWORDS = {"label", "help_text", "description", "verbose_name", "verbose_name_plural", "empty_label", "title"}
# Calls whose n-th positional argument people read.
VISIBLE_ARGUMENTS = {
    "success": 1, "error": 1, "info": 1, "warning": 1, "debug": 1,  # django.contrib.messages
    "add_message": 2, "message_user": 1,
    "HttpResponse": 0, "Http404": 0, "ValidationError": 0, "add_error": 1,
    "error_response": 2, "_unauthorized": 1,
}  # fmt: skip
# Variables holding what a page or an API answer shows: name[...] = text.
VISIBLE_TARGETS = {"errors", "found", "limit_error"}


def _name(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _is_plain_text(node) -> bool:
    """A string literal with words, an f-string, or text built from one with
    % or +: what a gettext call would have to wrap."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(visible_words(node.value))
    if isinstance(node, ast.JoinedStr):
        return any(
            isinstance(part, ast.Constant) and visible_words(part.value) for part in node.values
        )  # an f-string with words
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)):
        return _is_plain_text(node.left) or (isinstance(node.op, ast.Add) and _is_plain_text(node.right))
    if isinstance(node, ast.IfExp):
        return _is_plain_text(node.body) or _is_plain_text(node.orelse)
    return False


def unmarked_python_strings(source: str) -> list[tuple[int, str]]:
    found = []

    def flag(node):
        if _is_plain_text(node):
            found.append((node.lineno, ast.unparse(node)[:100]))

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = _name(node.func)
            if name in GETTEXT:
                continue
            position = VISIBLE_ARGUMENTS.get(name)
            if position is not None and position < len(node.args):
                flag(node.args[position])
            for keyword in node.keywords:
                if keyword.arg in VISIBLE_KEYWORDS:
                    flag(keyword.value)
                elif keyword.arg == "error_messages" and isinstance(keyword.value, ast.Dict):
                    for value in keyword.value.values:
                        flag(value)
        elif isinstance(node, ast.Dict):
            # {"message": ...}: a JSON error's message.
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "message":
                    flag(value)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                target_name = _name(target.value) if isinstance(target, ast.Subscript) else _name(target)
                if target_name in VISIBLE_TARGETS:
                    flag(node.value)
    return sorted(found)

"""The user's account pages: API tokens, the pronunciation dictionary, and
the logout confirmation.

The secret of a new token is shown once, in the response to the POST that
created it, and never again: only its hash is stored.
"""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import i18n as django_i18n
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from synthesis import i18n, lexicon
from synthesis.models import ApiToken, LanguagePreference, LexiconEntry, LexiconEntryInvalid, LexiconFull
from synthesis.pages import render_page

MAX_ACTIVE_TOKENS = 20


class TokenForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=100,
        help_text=gettext_lazy("What the token is for, e.g. “nightly podcast script”."),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean(self):
        if ApiToken.objects.for_user(self.user).active().count() >= MAX_ACTIVE_TOKENS:
            raise forms.ValidationError(
                _("You already have %(count)s tokens; revoke one first.") % {"count": MAX_ACTIVE_TOKENS}
            )
        return super().clean()


def _render(request, form, new_secret=None):
    context = {
        "form": form,
        "tokens": ApiToken.objects.for_user(request.user),
        "new_secret": new_secret,
    }
    return render_page(request, "account/tokens.html", context, partial="token-panel")


@never_cache  # the POST response carries a secret: no cache may keep it
@login_required
@require_http_methods(["GET", "POST"])
def tokens(request):
    if request.method == "POST":
        form = TokenForm(request.POST, user=request.user)
        if form.is_valid():
            _token, secret = ApiToken.objects.create_token(request.user, form.cleaned_data["name"])
            # Rendered, not redirected: a redirect would have to keep the
            # secret somewhere (the session) to show it on the next page.
            return _render(request, TokenForm(user=request.user), new_secret=secret)
        return _render(request, form)
    return _render(request, TokenForm(user=request.user))


@login_required
@require_POST
def revoke_token(request, token_id):
    # Starts from the user: another user's token is a 404 like a missing one.
    token = ApiToken.objects.for_user(request.user).filter(pk=token_id).first()
    if token is None:
        raise Http404(_("No such token."))
    if token.revoke():
        messages.success(request, _("Token “%(name)s” revoked. Requests with it now get 401.") % {"name": token.name})
    if request.htmx:
        return _render(request, TokenForm(user=request.user))
    return redirect("account_tokens")


# --- pronunciation dictionary ------------------------------------------------

LEXICON_PAGE_SIZE = 50
MAX_IMPORT_LINES = 1000


class LexiconEntryForm(forms.Form):
    written = forms.CharField(
        label=gettext_lazy("Written"),
        max_length=lexicon.MAX_WRITTEN,
        help_text=gettext_lazy("The word as it appears in your scripts, e.g. “Nguyen” or “台積電”."),
    )
    spoken = forms.CharField(
        label=gettext_lazy("Say it as"),
        max_length=lexicon.MAX_SPOKEN,
        help_text=gettext_lazy("A respelling (“win”, “台積 電”), or phonemes of the kind chosen."),
    )
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=LexiconEntry.Kind.choices, initial="respelling")
    case_sensitive = forms.BooleanField(
        label=gettext_lazy("Match case"), required=False, help_text=gettext_lazy("Only “US”, not “us”.")
    )

    def save(self, user, entry: LexiconEntry | None = None) -> LexiconEntry | None:
        """Add (or change) the entry; None with the errors on the form."""
        try:
            if entry is None:
                return LexiconEntry.objects.add(user, **self.cleaned_data)
            entry.change(**self.cleaned_data)
            return entry
        except LexiconEntryInvalid as invalid:
            for field, message in invalid.errors.items():
                self.add_error(field if field in self.fields else None, message)
        except LexiconFull as full:
            self.add_error(None, str(full))
        return None


class LexiconImportForm(forms.Form):
    lines = forms.CharField(
        label=gettext_lazy("Entries, one a line"),
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=gettext_lazy("written = spoken, e.g. “Nguyen = win”. Respellings; a word already there is updated."),
    )


def _entry_for_user(user, entry_id) -> LexiconEntry:
    # Starts from the user: another user's entry is a 404 like a missing one.
    entry = LexiconEntry.objects.for_user(user).filter(pk=entry_id).first()
    if entry is None:
        raise Http404(_("No such dictionary entry."))
    return entry


def _render_lexicon(request, form=None, import_form=None, import_report=None):
    entries = LexiconEntry.objects.for_user(request.user)
    search = request.GET.get("q", "").strip()[:100]
    if search and not lexicon.FORBIDDEN_CHARS.search(search):
        entries = entries.filter(written__icontains=search)
    page = Paginator(entries, LEXICON_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "form": form or LexiconEntryForm(),
        "import_form": import_form or LexiconImportForm(),
        "import_report": import_report,
        "page": page,
        "search": search,
        "total": LexiconEntry.objects.for_user(request.user).count(),
        "max_entries": settings.TTS_MAX_LEXICON_ENTRIES,
    }
    return render_page(request, "account/lexicon.html", context, partial="lexicon-panel")


@login_required
@require_http_methods(["GET", "POST"])
def lexicon_list(request):
    """The dictionary: its entries (searchable, 50 a page) and a form to add one."""
    if request.method == "POST":
        form = LexiconEntryForm(request.POST)
        if form.is_valid() and (entry := form.save(request.user)) is not None:
            messages.success(
                request,
                _("“%(written)s” will be said as “%(spoken)s”.") % {"written": entry.written, "spoken": entry.spoken},
            )
            if request.htmx:
                return _render_lexicon(request)
            return redirect("account_lexicon")
        return _render_lexicon(request, form=form)
    return _render_lexicon(request)


@login_required
@require_http_methods(["GET", "POST"])
def lexicon_edit(request, entry_id):
    entry = _entry_for_user(request.user, entry_id)
    if request.method == "POST":
        form = LexiconEntryForm(request.POST)
        if form.is_valid() and form.save(request.user, entry) is not None:
            messages.success(request, _("Entry “%(written)s” saved.") % {"written": entry.written})
            return redirect("account_lexicon")
    else:
        form = LexiconEntryForm(initial=entry.as_entry().as_dict())
    return TemplateResponse(request, "account/lexicon_edit.html", {"form": form, "entry": entry})


@login_required
@require_POST
def lexicon_delete(request, entry_id):
    entry = _entry_for_user(request.user, entry_id)
    entry.delete()
    messages.success(request, _("Entry “%(written)s” deleted.") % {"written": entry.written})
    if request.htmx:
        return _render_lexicon(request)
    return redirect("account_lexicon")


@login_required
@require_POST
def lexicon_import(request):
    """Many respellings at once, ``written = spoken`` a line: each line is
    added (or updates the entry of the same written form); lines that cannot
    be are listed with the reason, the others are kept."""
    form = LexiconImportForm(request.POST)
    if not form.is_valid():
        return _render_lexicon(request, import_form=form)
    lines = [line for line in form.cleaned_data["lines"].splitlines() if line.strip()]
    if len(lines) > MAX_IMPORT_LINES:
        form.add_error("lines", _("At most %(count)s lines at a time.") % {"count": f"{MAX_IMPORT_LINES:,}"})
        return _render_lexicon(request, import_form=form)
    added, problems = 0, []
    existing = {entry.written: entry for entry in LexiconEntry.objects.for_user(request.user)}
    for number, line in enumerate(lines, 1):
        written, separator, spoken = line.partition("=")
        if not separator:
            problems.append((number, line, _("No “=” between the written and the spoken form.")))
            continue
        written = lexicon.normalise_term(written)
        try:
            if written in existing:
                existing[written].change(spoken=spoken, kind=lexicon.RESPELLING)
            else:
                existing[written] = LexiconEntry.objects.add(request.user, written=written, spoken=spoken)
            added += 1
        except LexiconEntryInvalid as invalid:
            problems.append((number, line, " ".join(invalid.errors.values())))
        except LexiconFull as full:
            problems.append((number, line, str(full)))
            break
    if added:
        messages.success(request, _("%(count)s entries imported.") % {"count": added})
    report = {"problems": problems} if problems else None
    if problems or request.htmx:
        return _render_lexicon(request, import_report=report)
    return redirect("account_lexicon")


@require_http_methods(["GET", "POST"])
def log_out(request):
    """POST logs out (Django's LogoutView: CSRF-checked, POST only since
    Django 5). A GET (a followed link, a bookmark) gets a page with the button
    that sends that POST, rather than a blank 405."""
    if request.method == "POST":
        return auth_views.LogoutView.as_view()(request)
    if not request.user.is_authenticated:
        return redirect("login")
    return TemplateResponse(request, "registration/logout_confirm.html")


@require_POST
def set_language(request):
    """Django's set_language (a CSRF-checked POST: sets the language cookie,
    redirects back to ``next``); a logged-in user's choice is also saved, so
    it follows them to their next login, in any browser."""
    response = django_i18n.set_language(request)
    if isinstance(response, HttpResponseNotAllowed):
        return response
    language = request.POST.get("language")
    if language in dict(settings.LANGUAGES) and request.user.is_authenticated:
        LanguagePreference.objects.update_or_create(user=request.user, defaults={"language": language})
        request.session[i18n.SESSION_KEY] = language
    return response

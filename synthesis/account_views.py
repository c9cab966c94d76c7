"""The user's account pages: API tokens, and the logout confirmation.

The secret of a new token is shown once, in the response to the POST that
created it, and never again: only its hash is stored.
"""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import i18n as django_i18n
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from synthesis import i18n
from synthesis.models import ApiToken, LanguagePreference
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

from django.contrib import admin
from django.urls import include, path

from synthesis import account_views, health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("synthesis.api_urls")),
    # --- operations and account pages (issue 4) ---
    path("healthz", health.healthz, name="healthz"),
    # The language switcher in the page header posts here (Django's
    # set_language, which also saves a logged-in user's choice).
    path("i18n/setlang/", account_views.set_language, name="set_language"),
    path("account/tokens/", account_views.tokens, name="account_tokens"),
    path("account/tokens/<int:token_id>/revoke", account_views.revoke_token, name="account_token_revoke"),
    path("account/pronunciation/", account_views.lexicon_list, name="account_lexicon"),
    path("account/pronunciation/import", account_views.lexicon_import, name="account_lexicon_import"),
    path("account/pronunciation/<int:entry_id>/", account_views.lexicon_edit, name="account_lexicon_edit"),
    path("account/pronunciation/<int:entry_id>/delete", account_views.lexicon_delete, name="account_lexicon_delete"),
    # ---
    path("", include("synthesis.urls")),
]

# Any unhandled exception: JSON on the API; a database outage: 503 everywhere.
handler500 = "synthesis.outage.server_error"

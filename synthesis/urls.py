from django.contrib.auth import views as auth_views
from django.urls import path
from django.views.generic import RedirectView

from synthesis import account_views, views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="job_list"), name="home"),
    # Browsers and feed readers ask for /favicon.ico whatever the page says.
    path("favicon.ico", views.favicon),
    # Django's auth views with our templates (templates/registration/).
    # Logging out is a POST, as Django 5 requires; a GET asks for it.
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", account_views.log_out, name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("jobs/", views.job_list, name="job_list"),
    path("jobs/new/", views.job_new, name="job_new"),
    path("jobs/<uuid:job_id>/", views.job_detail, name="job_detail"),
    path("jobs/<uuid:job_id>/cancel/", views.job_cancel, name="job_cancel"),
    path("jobs/<uuid:job_id>/resubmit/", views.job_resubmit, name="job_resubmit"),
    path("jobs/<uuid:job_id>/edit/", views.job_edit, name="job_edit"),
    path("jobs/<uuid:job_id>/retake/", views.job_retake, name="job_retake"),
    path("jobs/<uuid:job_id>/audio/", views.job_download, name="job_download"),
    path("jobs/<uuid:job_id>/subtitles.vtt", views.job_subtitles, {"fmt": "vtt"}, name="job_subtitles_vtt"),
    path("jobs/<uuid:job_id>/subtitles.srt", views.job_subtitles, {"fmt": "srt"}, name="job_subtitles_srt"),
    path("voices/preview/", views.voice_preview, name="voice_preview"),
]

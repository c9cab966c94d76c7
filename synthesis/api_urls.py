from django.urls import path

from synthesis import api, api_lexicon, openapi

urlpatterns = [
    path("jobs", api.jobs, name="api_jobs"),
    path("jobs/<str:job_id>", api.job, name="api_job"),
    path("jobs/<str:job_id>/download", api.download, name="api_download"),
    path("voices", api.voices, name="api_voices"),
    path("lexicon", api_lexicon.entries, name="api_lexicon"),
    path("lexicon/<str:entry_id>", api_lexicon.entry, name="api_lexicon_entry"),
    path("openapi.json", openapi.openapi_json, name="api_openapi"),
]

from django.urls import path

from synthesis import api, openapi

urlpatterns = [
    path("jobs", api.jobs, name="api_jobs"),
    path("jobs/<str:job_id>", api.job, name="api_job"),
    path("jobs/<str:job_id>/download", api.download, name="api_download"),
    path("voices", api.voices, name="api_voices"),
    path("openapi.json", openapi.openapi_json, name="api_openapi"),
]

from django.urls import path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="job_list"), name="home"),
    path("jobs/", RedirectView.as_view(url="/api/v1/jobs"), name="job_list"),
]

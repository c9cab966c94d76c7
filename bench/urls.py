from django.http import HttpResponse
from django.urls import path

from ttsjobs.urls import urlpatterns as ttsjobs_urlpatterns


def bare(request):
    return HttpResponse("ok")


urlpatterns = [path("bench/bare", bare), *ttsjobs_urlpatterns]

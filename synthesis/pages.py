"""One page template per page; with HTMX, the named partial of it."""

from django.template.response import TemplateResponse
from django.utils.cache import patch_vary_headers


def render_page(request, template: str, context: dict, *, partial: str) -> TemplateResponse:
    """The whole page, or for an htmx request only ``template#partial``."""
    response = TemplateResponse(request, f"{template}#{partial}" if request.htmx else template, context)
    # The same URL answers with a page or a fragment: caches must keep both.
    patch_vary_headers(response, ("HX-Request",))
    return response

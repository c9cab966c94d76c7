"""Small formatting filters for the job pages: durations people read."""

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.formats import date_format

from synthesis.language import isolate

register = template.Library()


@register.filter(name="isolate")
def isolate_filter(text) -> str:
    """User text isolated where <bdi> cannot go (a title attribute)."""
    return isolate(text)


@register.filter
def clock(ms) -> str:
    """Milliseconds as a player shows them: 0:07, 1:02:03. Whole seconds are
    cut, not rounded, as every audio player does: 4.6 s is 0:04 both in the
    page's text and in the player's own display beside it."""
    if ms in (None, ""):
        return ""
    seconds = int(float(ms) // 1000)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


@register.filter
def took(ms) -> str:
    """Milliseconds as a span of time: 850 ms, 4.2 s, 3 min 5 s."""
    if ms in (None, ""):
        return ""
    ms = float(ms)
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    minutes, seconds = divmod(int(ms / 1000), 60)
    return f"{minutes} min {seconds} s"


@register.filter
def about(seconds) -> str:
    """An estimate, rounded so it doesn't pretend to be exact."""
    if seconds is None:
        return ""
    seconds = float(seconds)
    if seconds < 5:
        return "a few seconds"
    if seconds < 60:
        return f"about {int(round(seconds / 5) * 5)} s"
    return f"about {round(seconds / 60)} min"


@register.filter
def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """A short age for a dense list: "just now", "5 min ago", "3 h ago",
    "2 days ago", then the date ("12 Nov"; with the year when not this one).
    The exact time goes in the element's title."""
    if moment is None:
        return ""
    now = now or timezone.now()
    seconds = (now - moment).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    if seconds < 7 * 86400:
        days = int(seconds // 86400)
        return f"{days} day{'s' if days > 1 else ''} ago"
    local = timezone.localtime(moment)
    return date_format(local, "j M" if local.year == timezone.localtime(now).year else "j M Y")

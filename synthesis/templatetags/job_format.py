"""Small formatting filters for the job pages: durations people read."""

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

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
        return _("%(ms)s ms") % {"ms": number_format(round(ms))}
    if ms < 60_000:
        return _("%(seconds)s s") % {"seconds": number_format(ms / 1000, 1)}
    minutes, seconds = divmod(int(ms / 1000), 60)
    return _("%(minutes)s min %(seconds)s s") % {"minutes": number_format(minutes), "seconds": seconds}


@register.filter
def about(seconds) -> str:
    """An estimate, rounded so it doesn't pretend to be exact."""
    if seconds is None:
        return ""
    seconds = float(seconds)
    if seconds < 5:
        return _("a few seconds")
    if seconds < 60:
        return _("about %(seconds)s s") % {"seconds": int(round(seconds / 5) * 5)}
    return _("about %(minutes)s min") % {"minutes": number_format(round(seconds / 60))}


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
        return _("just now")
    if seconds < 3600:
        return _("%(minutes)s min ago") % {"minutes": int(seconds // 60)}
    if seconds < 86400:
        return _("%(hours)s h ago") % {"hours": int(seconds // 3600)}
    if seconds < 7 * 86400:
        days = int(seconds // 86400)
        return ngettext("%(days)s day ago", "%(days)s days ago", days) % {"days": days}
    local = timezone.localtime(moment)
    # The language's own formats (ttsjobs/formats): "12 Nov" / "11月12日".
    return date_format(local, "MONTH_DAY_FORMAT" if local.year == timezone.localtime(now).year else "DATE_FORMAT")

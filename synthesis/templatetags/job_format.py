"""Small formatting filters for the job pages: durations people read."""

from django import template

from synthesis.language import isolate

register = template.Library()


@register.filter(name="isolate")
def isolate_filter(text) -> str:
    """User text isolated where <bdi> cannot go (a title attribute)."""
    return isolate(text)


@register.filter
def clock(ms) -> str:
    """Milliseconds as a player shows them: 0:07, 1:02:03."""
    if ms in (None, ""):
        return ""
    seconds = round(float(ms) / 1000)
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

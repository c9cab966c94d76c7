"""Validation of a job request, shared by the JSON API and the pages.

Returns clean parameters or raises ``JobRequestInvalid`` with one message per
bad field, named the way the client sent it (``turns[2].text``), so that bad
input never reaches the worker.
"""

import math
import re

from django.conf import settings
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from synthesis.audio import OUTPUT_FORMATS, estimate_duration_seconds
from synthesis.language import language_of_all
from synthesis.pauses import pause_problems, strip_pauses, total_pause_ms
from synthesis.providers import available_providers
from synthesis.providers.base import DEFAULT_SETTINGS, PITCH_RANGE, SPEED_RANGE, VOLUME_RANGE

# The API's range of each voice setting; a provider may accept less.
SETTING_RANGES = {"speed": SPEED_RANGE, "pitch": PITCH_RANGE, "volume": VOLUME_RANGE}

GAP_RANGE = (0, 2000)
CROSSFADE_RANGE = (0, 500)
DEFAULT_GAP_MS = 300
DEFAULT_CROSSFADE_MS = 50


def _hours(seconds: float) -> str:
    if seconds < 120:
        return ngettext("%(count)s second", "%(count)s seconds", round(seconds)) % {"count": round(seconds)}
    if seconds < 3600:
        minutes = round(seconds / 60)
        return ngettext("%(count)s minute", "%(count)s minutes", minutes) % {"count": minutes}
    hours = round(seconds / 3600, 1)
    shown = number_format(hours, 0 if hours == int(hours) else 1)
    # gettext's plural rule takes whole numbers: 1.5 hours is plural.
    return ngettext("%(count)s hour", "%(count)s hours", int(hours) if hours == int(hours) else 2) % {"count": shown}


class JobRequestInvalid(Exception):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _int_in_range(data, name, default, low, high, errors):
    value = data.get(name, default)
    if value is None:
        value = default
    if isinstance(value, bool) or not isinstance(value, int):
        errors[name] = _("Must be a whole number from %(low)s to %(high)s.") % {"low": low, "high": high}
        return default
    if not low <= value <= high:
        errors[name] = _("Must be from %(low)s to %(high)s; got %(value)s.") % {
            "low": low,
            "high": high,
            "value": value,
        }
    return value


UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable_strings(value, where: str = "") -> dict[str, str]:
    """Strings the database cannot store, by field name. JSON may carry a NUL
    (``\\u0000``, refused by PostgreSQL) or an unpaired surrogate
    (``\\ud800``, not encodable as UTF-8 by any backend); either used to
    surface as a 500 from the INSERT instead of a 400 naming the field."""
    found = {}
    if isinstance(value, str):
        if UNSTORABLE.search(value):
            found[where or "body"] = _("Contains a NUL character or an unpaired surrogate, which cannot be stored.")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found.update(_unstorable_strings(item, f"{where}[{i}]"))
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{where}.{key}" if where else str(key)
            found.update(_unstorable_strings(key, name))
            found.update(_unstorable_strings(item, name))
    return found


def clean_job_request(data) -> tuple[str, dict]:
    """Return ``(provider_name, params)`` or raise JobRequestInvalid."""
    if not isinstance(data, dict):
        raise JobRequestInvalid({"body": _("Expected a JSON object.")})
    unstorable = _unstorable_strings(data)
    if unstorable:
        raise JobRequestInvalid(unstorable)
    errors: dict[str, str] = {}
    providers = available_providers()

    # Required, as in the original contract: a client must say which engine
    # (and so which bill) its job goes to.
    provider_name = data.get("provider")
    provider = None
    if provider_name is None:
        errors["provider"] = _("Required: the provider to synthesize with; available: %(providers)s.") % {
            "providers": ", ".join(sorted(providers))
        }
    elif not isinstance(provider_name, str) or provider_name not in providers:
        errors["provider"] = _("Unknown provider %(provider)r; available: %(providers)s.") % {
            "provider": provider_name,
            "providers": ", ".join(sorted(providers)),
        }
    else:
        provider = providers[provider_name]

    output_format = data.get("output_format", "mp3")
    # The type check first: a list or an object is unhashable, and `in` on
    # the dict would raise (a 500) instead of naming the field.
    if not isinstance(output_format, str) or output_format not in OUTPUT_FORMATS:
        errors["output_format"] = _("Unknown output format %(format)r; use one of %(formats)s.") % {
            "format": output_format,
            "formats": ", ".join(OUTPUT_FORMATS),
        }

    # None or absent: read from the text once the turns are known.
    language = data.get("language")
    if language is not None and (not isinstance(language, str) or not (0 < len(language) <= 20)):
        errors["language"] = _("Must be a language code such as 'zh-TW', 'en' or 'cmn'.")

    gap_ms = _int_in_range(data, "gap_ms", DEFAULT_GAP_MS, *GAP_RANGE, errors)
    crossfade_ms = _int_in_range(data, "crossfade_ms", DEFAULT_CROSSFADE_MS, *CROSSFADE_RANGE, errors)

    turns = _clean_turns(data.get("turns"), errors)
    if turns and "turns" not in errors:
        # Checked here, before anything is queued: the worker would spend its
        # time (and a cloud provider's money) on audio nobody may keep.
        estimate = estimate_duration_seconds([strip_pauses(t["text"]) for t in turns], gap_ms)
        estimate += sum(total_pause_ms(t["text"]) for t in turns) / 1000
        if estimate > settings.TTS_MAX_AUDIO_SECONDS:
            errors["turns"] = _(
                "This dialogue would make about %(estimate)s of audio; at most %(max)s. Split it into shorter jobs."
            ) % {"estimate": _hours(estimate), "max": _hours(settings.TTS_MAX_AUDIO_SECONDS)}
    speakers = list(dict.fromkeys(t["speaker"] for t in turns))
    if len(speakers) > settings.TTS_MAX_SPEAKERS:
        errors["turns"] = _("At most %(max)s speakers; got %(count)s.") % {
            "max": settings.TTS_MAX_SPEAKERS,
            "count": len(speakers),
        }
    assignments = _clean_assignments(data.get("voice_assignments"), speakers, provider, errors)
    if language is None:
        # The job says which was used: input_params.language.
        language = language_of_all(strip_pauses(turn["text"]) for turn in turns) or "en"

    if errors:
        raise JobRequestInvalid(errors)
    return provider_name, {
        "turns": turns,
        "voice_assignments": assignments,
        "language": language,
        "output_format": output_format,
        "gap_ms": gap_ms,
        "crossfade_ms": crossfade_ms,
    }


def _clean_turns(raw, errors) -> list[dict]:
    if not isinstance(raw, list) or not raw:
        errors["turns"] = _("Give at least one turn: a list of {speaker, text, index}.")
        return []
    if len(raw) > settings.TTS_MAX_TURNS:
        errors["turns"] = _("At most %(max)s turns; got %(count)s.") % {
            "max": settings.TTS_MAX_TURNS,
            "count": len(raw),
        }
        return []
    turns, seen_indexes, total_chars = [], set(), 0
    for position, turn in enumerate(raw):
        where = f"turns[{position}]"
        if not isinstance(turn, dict):
            errors[where] = _("Each turn must be an object with speaker, text and index.")
            continue
        speaker, text, index = turn.get("speaker"), turn.get("text"), turn.get("index", position)
        if not isinstance(speaker, str) or not speaker.strip():
            errors[f"{where}.speaker"] = _("Give the speaker's name.")
        elif len(speaker.strip()) > settings.TTS_MAX_SPEAKER_NAME:
            errors[f"{where}.speaker"] = _("At most %(max)s characters.") % {"max": settings.TTS_MAX_SPEAKER_NAME}
        if not isinstance(text, str) or not text.strip():
            errors[f"{where}.text"] = _("The text is empty.")
        elif len(text) > settings.TTS_MAX_TURN_CHARS:
            errors[f"{where}.text"] = _("At most %(max)s characters in a turn; got %(count)s.") % {
                "max": settings.TTS_MAX_TURN_CHARS,
                "count": len(text),
            }
        elif problems := pause_problems(text):
            errors[f"{where}.text"] = " ".join(problems)
        elif not strip_pauses(text) and not total_pause_ms(text):
            # Only markers is a silent turn, but it has to last.
            errors[f"{where}.text"] = _("Nothing to say and no pause longer than 0 ms.")
        else:
            total_chars += len(text)
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            errors[f"{where}.index"] = _("Must be a whole number, 0 or more.")
        elif index in seen_indexes:
            errors[f"{where}.index"] = _("Index %(index)s is used twice.") % {"index": index}
        else:
            seen_indexes.add(index)
        if isinstance(speaker, str) and isinstance(text, str) and isinstance(index, int):
            turns.append({"speaker": speaker.strip(), "text": text.strip(), "index": index})
    if total_chars > settings.TTS_MAX_JOB_CHARS:
        errors["turns"] = _("At most %(max)s characters in a job; got %(count)s.") % {
            "max": settings.TTS_MAX_JOB_CHARS,
            "count": total_chars,
        }
    turns.sort(key=lambda t: t["index"])
    return turns


def _clean_assignments(raw, speakers, provider, errors) -> list[dict]:
    if not isinstance(raw, list):
        errors["voice_assignments"] = _("Give a list of {speaker, voice_id}, one per speaker.")
        return []
    voice_ids = provider.voice_ids() if provider else set()
    by_speaker = {}
    for position, item in enumerate(raw):
        where = f"voice_assignments[{position}]"
        if not isinstance(item, dict):
            errors[where] = _("Each assignment must be an object with speaker and voice_id.")
            continue
        speaker, voice_id, voice_name = item.get("speaker"), item.get("voice_id"), item.get("voice_name")
        if not isinstance(speaker, str) or not speaker.strip():
            errors[f"{where}.speaker"] = _("Give the speaker's name.")
            continue
        speaker = speaker.strip()
        if speaker in by_speaker:
            errors[f"{where}.speaker"] = _("%(speaker)r has two voice assignments.") % {"speaker": speaker}
            continue
        if not isinstance(voice_id, str) or not voice_id:
            errors[f"{where}.voice_id"] = _("Give a voice id.")
            continue
        if provider and voice_id not in voice_ids:
            errors[f"{where}.voice_id"] = _("The %(provider)s provider has no voice %(voice)r.") % {
                "provider": provider.name,
                "voice": voice_id,
            }
            continue
        if voice_name is not None and not isinstance(voice_name, str):
            errors[f"{where}.voice_name"] = _("Must be text.")
            continue
        assignment = {"speaker": speaker, "voice_id": voice_id, "voice_name": (voice_name or "")[:100]}
        assignment.update(_clean_settings(item, where, provider, errors))
        by_speaker[speaker] = assignment
    missing = [s for s in speakers if s not in by_speaker]
    if missing:
        errors["voice_assignments"] = _("No voice for %(speakers)s.") % {
            "speakers": ", ".join(repr(s) for s in missing)
        }
    return [by_speaker[s] for s in speakers if s in by_speaker]


def _clean_settings(item: dict, where: str, provider, errors) -> dict[str, float]:
    """A voice assignment's speed, pitch and volume: only those that change
    something are kept (an assignment without any is stored as before, so its
    turns keep their content keys). A setting the provider does not honour is
    refused unless it is the default, never silently dropped."""
    cleaned = {}
    for name, (low, high) in SETTING_RANGES.items():
        value = item.get(name)
        if value is None:
            continue
        field = f"{where}.{name}"
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            errors[field] = _("Must be a number from %(low)s to %(high)s.") % {"low": f"{low:g}", "high": f"{high:g}"}
            continue
        if not low <= value <= high:
            errors[field] = _("Must be from %(low)s to %(high)s; got %(value)s.") % {
                "low": f"{low:g}",
                "high": f"{high:g}",
                "value": f"{value:g}",
            }
            continue
        if value == getattr(DEFAULT_SETTINGS, name):
            continue
        if provider is None:
            continue
        supported = provider.supported_settings
        if name not in supported:
            errors[field] = _("The %(provider)s provider cannot change %(setting)s (it honours: %(honoured)s).") % {
                "provider": provider.name,
                "setting": name,
                "honoured": ", ".join(supported),
            }
            continue
        accepted_low, accepted_high = supported[name]
        if not accepted_low <= value <= accepted_high:
            errors[field] = _(
                "The %(provider)s provider accepts %(setting)s from %(low)s to %(high)s; got %(value)s."
            ) % {
                "provider": provider.name,
                "setting": name,
                "low": f"{accepted_low:g}",
                "high": f"{accepted_high:g}",
                "value": f"{value:g}",
            }
            continue
        cleaned[name] = float(value)
    return cleaned

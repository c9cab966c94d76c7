"""The new-dialogue form.

It only translates: the script box into turns, the pickers into voice
assignments. Whether the job is acceptable is decided by
``clean_job_request``, the same function the API calls, and its errors
(keyed like ``turns[2].text``) are put back next to the field they concern.
"""

import re
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from synthesis import voice_picker
from synthesis.audio import OUTPUT_FORMATS
from synthesis.language import engine_tag, language_of_all, same_language
from synthesis.pauses import pause_problems, strip_pauses
from synthesis.providers import available_providers, get_provider
from synthesis.providers.base import DEFAULT_SETTINGS
from synthesis.script import ScriptError, ScriptNote, Turn, read_script, speakers_of
from synthesis.validation import (
    CROSSFADE_RANGE,
    DEFAULT_CROSSFADE_MS,
    DEFAULT_GAP_MS,
    GAP_RANGE,
    JobRequestInvalid,
    clean_job_request,
)

# "": each speaker's language is read from their lines (synthesis.language).
DEFAULT_LANGUAGE = ""
# Speaker colours cycle through this many CSS classes (spk-0 … spk-7).
SPEAKER_COLOURS = 8
# The detected languages (synthesis.language.LANGUAGE_NAMES), named in the
# page's language for the editor's warnings.
LANGUAGE_NAMES = {
    "zh-TW": gettext_lazy("Chinese (Traditional, Mandarin)"),
    "zh-CN": gettext_lazy("Chinese (Simplified, Mandarin)"),
    "yue": gettext_lazy("Cantonese"),
    "ja": gettext_lazy("Japanese"),
    "ko": gettext_lazy("Korean"),
    "ar": gettext_lazy("Arabic"),
    "he": gettext_lazy("Hebrew"),
    "ru": gettext_lazy("Russian"),
    "hi": gettext_lazy("Hindi"),
    "th": gettext_lazy("Thai"),
    "en": gettext_lazy("English"),
}
ERROR_KEY = re.compile(r"^(?P<list>turns|voice_assignments)\[(?P<position>\d+)\](?:\.(?P<field>\w+))?$")


def voice_field_name(speaker: str) -> str:
    # Keyed by name, not position: adding a speaker in the middle of the
    # script must not shift everyone else's chosen voice.
    return f"voice:{speaker}"


def setting_field_name(setting: str, speaker: str) -> str:
    return f"{setting}:{speaker}"


# The controls beside each voice picker: label, step. Only those the
# provider honours are shown (providers.base: supported_settings).
SETTING_CONTROLS = {
    "speed": (gettext_lazy("Speed"), 0.05),
    "pitch": (gettext_lazy("Pitch (semitones)"), 1),
    "volume": (gettext_lazy("Volume"), 0.05),
}


def language_choices(provider, user_languages: list[str]) -> list:
    """Automatic first, then the languages the provider has voices for,
    named by their plain voice: the user's own, all others, the constructed."""
    return [("", _("Automatic (from the text)")), *voice_picker.language_groups(provider, user_languages)]


def voices_for_language(provider, language: str | None) -> list:
    """The provider's voices that speak ``language``, its regional variants
    included ("en-us" also lists en-gb; "zh-TW" lists Mandarin voices): a
    picker of dozens, not hundreds. All of them when none does (a service
    whose voices read any language)."""
    voices = provider.voices() if provider else []
    speaking = [v for v in voices if same_language(v.language, language)]
    return speaking or voices


class DialogueForm(forms.Form):
    script = forms.CharField(
        label=gettext_lazy("Dialogue"),
        widget=forms.Textarea(
            attrs={
                "rows": 10,
                "spellcheck": "true",
                "autocomplete": "off",
                "placeholder": gettext_lazy(
                    "Alice: Hi Bob, have you heard the news?\nBob: No, tell me!\nCarol: I'll tell you both."
                ),
            }
        ),
        strip=False,
        help_text=gettext_lazy(
            "One line per turn: “Speaker: text”. A line without a speaker continues the turn above; "
            "blank lines are ignored."
        ),
        error_messages={"required": gettext_lazy("Write at least one line, like “Alice: Hello.”")},
    )
    # Plain text fields with select widgets: which values are allowed is
    # clean_job_request's call, not a second list here.
    provider = forms.CharField(label=gettext_lazy("Engine"), widget=forms.Select)
    language = forms.CharField(label=gettext_lazy("Language"), widget=forms.Select, required=False)
    output_format = forms.CharField(
        label=gettext_lazy("Format"),
        initial="mp3",
        widget=forms.Select(choices=[(f, f.upper()) for f in OUTPUT_FORMATS]),
    )
    gap_ms = forms.IntegerField(
        label=gettext_lazy("Pause between turns (ms)"),
        initial=DEFAULT_GAP_MS,
        widget=forms.NumberInput(attrs={"min": GAP_RANGE[0], "max": GAP_RANGE[1], "step": 50}),
    )
    crossfade_ms = forms.IntegerField(
        label=gettext_lazy("Crossfade (ms)"),
        initial=DEFAULT_CROSSFADE_MS,
        widget=forms.NumberInput(attrs={"min": CROSSFADE_RANGE[0], "max": CROSSFADE_RANGE[1], "step": 10}),
    )

    def __init__(self, data=None, *, reset_voices: bool = False, user_languages: list[str] = (), **kwargs):
        """``reset_voices``: the provider or language just changed, so the
        voices picked for the old one give way to the new one's defaults.
        ``user_languages``: offered first (the browser's, earlier jobs')."""
        super().__init__(data, **kwargs)
        self.user_languages = list(user_languages)
        providers = available_providers()
        self.fields["provider"].widget.choices = [(p.name, p.label) for p in providers.values()]
        self.fields["provider"].initial = settings.TTS_DEFAULT_PROVIDER

        # Typing, or picking another engine or language, asks the server for
        # fresh voice pickers (the same view, action=refresh).
        refresh = {
            "hx-post": reverse("job_new"),
            "hx-target": "#voices",
            "hx-swap": "outerHTML",
            "hx-vals": '{"action": "refresh"}',
            "hx-sync": "closest form:replace",
        }
        self.fields["script"].widget.attrs.update(refresh, **{"hx-trigger": "input changed delay:400ms"})
        self.fields["provider"].widget.attrs.update(refresh, **{"hx-trigger": "change"})
        self.fields["language"].widget.attrs.update(refresh, **{"hx-trigger": "change"})

        raw = self.data if self.is_bound else self.initial
        self.provider = get_provider(raw.get("provider") or settings.TTS_DEFAULT_PROVIDER)
        self.language = raw.get("language") or DEFAULT_LANGUAGE
        self.fields["language"].widget.choices = language_choices(self.provider, self.user_languages)
        self.fields["language"].initial = DEFAULT_LANGUAGE

        script = raw.get("script") or ""
        self.turns: list[Turn] = []
        self.script_notes: list[ScriptNote] = []
        self.script_error = None
        # The limits come before any work: a 27 kB script of 4,000 one-word
        # speakers used to build 4,000 voice pickers (16 s, a 15 MB page).
        self.limit_error = None
        if len(script) > settings.TTS_MAX_JOB_CHARS:
            self.limit_error = _("A dialogue has at most %(max)s characters; this one has %(count)s.") % {
                "max": number_format(settings.TTS_MAX_JOB_CHARS, force_grouping=True),
                "count": number_format(len(script), force_grouping=True),
            }
        else:
            try:
                read = read_script(script)
                self.turns, self.script_notes = read.turns, read.notes
            except ScriptError as error:
                self.script_error = error
        # Mistaken pause markers, by the line they are on (a turn may span
        # lines): shown as notes while typing, and as errors on submit.
        self.pause_errors = [
            ScriptNote(number, problem)
            for number, line in enumerate(script.splitlines(), 1)
            for problem in pause_problems(line)
        ]
        self.script_notes = sorted(self.script_notes + self.pause_errors, key=lambda note: note.line)
        self.speakers = speakers_of(self.turns)
        if len(self.speakers) > settings.TTS_MAX_SPEAKERS:
            self.limit_error = _("A dialogue has at most %(max)s speakers; this one has %(count)s.") % {
                "max": settings.TTS_MAX_SPEAKERS,
                "count": len(self.speakers),
            }
            self.turns, self.speakers = [], []
        self._add_voice_fields(raw, reset_voices)

    def speaker_languages(self) -> dict[str, str | None]:
        """Each speaker's language: the one chosen for the dialogue, else the
        one their lines are written in (None for a speaker with no letters)."""
        if self.language:
            return dict.fromkeys(self.speakers, self.language)
        return {
            speaker: language_of_all(strip_pauses(turn.text) for turn in self.turns if turn.speaker == speaker)
            for speaker in self.speakers
        }

    def default_voices(self, languages: dict[str, str | None]) -> dict[str, str]:
        """Distinct default voices, each speaking its speaker's language:
        the provider's defaults are asked once per language."""
        by_language: dict[str | None, list[str]] = {}
        for speaker, language in languages.items():
            by_language.setdefault(language, []).append(speaker)
        defaults = {}
        for language, speakers in by_language.items():
            # Distinct within the language, of the gender each name suggests.
            defaults.update(zip(speakers, voice_picker.default_voices(self.provider, speakers, engine_tag(language))))
        return defaults

    def _add_voice_fields(self, raw, reset_voices):
        languages = self.speaker_languages()
        defaults = self.default_voices(languages)
        known = {v.id: v for v in self.provider.voices()} if self.provider else {}
        self.voice_fields = []
        for number, speaker in enumerate(self.speakers):
            name = voice_field_name(speaker)
            language = languages[speaker]
            offered = voices_for_language(self.provider, language or "en")
            chosen = None if reset_voices else raw.get(name)
            if chosen not in known:
                chosen = defaults.get(speaker, "")
            choices = voice_picker.voice_groups(
                self.provider, engine_tag(language or "en"), self.user_languages, voices=offered
            )
            if chosen in known and chosen not in {v.id for v in offered}:
                choices.insert(0, (_("Chosen"), [(chosen, voice_picker.voice_label(known[chosen]))]))
            field = forms.CharField(
                label=_("Voice for %(speaker)s") % {"speaker": speaker},
                widget=forms.Select(choices=choices, attrs={"id": f"id_voice_{number}", "class": "voice-select"}),
                required=False,
            )
            self.fields[name] = field
            self.initial[name] = chosen
            if self.is_bound and (reset_voices or name not in self.data):
                # A speaker who just appeared has no picker on the page yet
                # (or the old one no longer fits): show and use the default.
                self.data = self.data.copy()
                self.data[name] = chosen
            setting_fields = self._add_setting_fields(number, speaker)
            warning = ""
            voice = known.get(chosen)
            if voice and language and not same_language(voice.language, language) and len(offered) < len(known):
                # Only where the provider has voices for it: a service whose
                # voices read any language has nothing better to offer.
                warning = _(
                    "The voice “%(voice)s” does not speak %(language)s, the language of %(speaker)s's lines."
                ) % {
                    "voice": voice.name,
                    "language": LANGUAGE_NAMES.get(language, language),
                    "speaker": speaker,
                }
            self.voice_fields.append(
                {
                    "number": number,
                    "speaker": speaker,
                    "field": self[name],
                    "colour": number % SPEAKER_COLOURS,
                    "language": language or "",
                    "warning": warning,
                    "settings": setting_fields,
                    # The ▶ link without JavaScript: the voice and its settings as shown.
                    "preview_query": urlencode(
                        {
                            "provider": self.provider.name if self.provider else "",
                            "voice": chosen or "",
                            **{f.field.widget.attrs["data-setting"]: f.value() for f in setting_fields if f.value()},
                        }
                    ),
                }
            )

    def _add_setting_fields(self, number: int, speaker: str) -> list:
        """Speed, pitch and volume for ``speaker``, as far as the provider
        honours them, in its accepted range; empty means the default."""
        supported = self.provider.supported_settings if self.provider else {}
        bound = []
        for setting, (label, step) in SETTING_CONTROLS.items():
            if setting not in supported:
                continue
            low, high = supported[setting]
            name = setting_field_name(setting, speaker)
            self.fields[name] = forms.FloatField(
                label=label,
                required=False,
                widget=forms.NumberInput(
                    attrs={
                        "id": f"id_{setting}_{number}",
                        "min": f"{low:g}",
                        "max": f"{high:g}",
                        "step": step,
                        "class": "voice-setting",
                        "data-setting": setting,
                    }
                ),
            )
            # A value already given (a job being edited, the page's own
            # refresh) stays; otherwise the engine's default.
            self.initial.setdefault(name, getattr(DEFAULT_SETTINGS, setting))
            bound.append(self[name])
        return bound

    def voice_assignment(self, speaker: str, cleaned: dict) -> dict:
        assignment = {"speaker": speaker, "voice_id": cleaned.get(voice_field_name(speaker)) or ""}
        for setting in SETTING_CONTROLS:
            value = cleaned.get(setting_field_name(setting, speaker))
            if value is not None:
                assignment[setting] = value
        return assignment

    @property
    def settings_fields(self):
        return [self[name] for name in ("provider", "language", "output_format", "gap_ms", "crossfade_ms")]

    def clean(self):
        cleaned = super().clean()
        if self.limit_error:
            self.add_error("script", self.limit_error)
            return cleaned
        if self.script_error:
            self.add_error("script", str(self.script_error))
            return cleaned
        if self.pause_errors:
            for note in self.pause_errors:
                self.add_error("script", str(note))
            return cleaned
        if self.errors:
            return cleaned
        request = {
            "provider": cleaned["provider"],
            # Automatic: clean_job_request reads it from the text, as for the API.
            "language": cleaned.get("language") or None,
            "output_format": cleaned["output_format"],
            "gap_ms": cleaned["gap_ms"],
            "crossfade_ms": cleaned["crossfade_ms"],
            "turns": [turn.as_request(index) for index, turn in enumerate(self.turns)],
            "voice_assignments": [self.voice_assignment(speaker, cleaned) for speaker in self.speakers],
        }
        try:
            self.provider_name, self.params = clean_job_request(request)
        except JobRequestInvalid as invalid:
            for key, message in invalid.errors.items():
                self.add_error(*self._field_for_error(key, message))
        return cleaned

    def _field_for_error(self, key: str, message: str) -> tuple[str | None, str]:
        """Where an error of clean_job_request belongs on this form."""
        if key in self.fields:
            return key, message
        match = ERROR_KEY.match(key)
        if match and match["list"] == "turns":
            turn = self.turns[int(match["position"])]
            return "script", _("Line %(line)s (%(speaker)s): %(message)s") % {
                "line": turn.line,
                "speaker": turn.speaker,
                "message": message,
            }
        if match and match["list"] == "voice_assignments" and match["field"] == "voice_id":
            # Assignments are built in self.speakers order.
            return voice_field_name(self.speakers[int(match["position"])]), message
        if match and match["list"] == "voice_assignments" and match["field"] in SETTING_CONTROLS:
            name = setting_field_name(match["field"], self.speakers[int(match["position"])])
            if name in self.fields:
                return name, message
        if key in ("turns", "voice_assignments") or match:
            return "script", message
        return None, message

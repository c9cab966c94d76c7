"""What the new-dialogue page offers: languages with the user's own first,
voices grouped by language with a short recommended list before the long
tail, and default voices that differ per speaker and suit the speaker's name.

Plain Python over the provider interface (``voices()``, ``default_voices()``):
no database; Django only for gettext (the headings are in the page's language).
"""

from __future__ import annotations

import re

from django.utils.translation import gettext as _

# Languages the engines carry that no dialogue is likely to be written in:
# offered last, under their own heading, instead of between real ones.
CONSTRUCTED = {"piqd", "qya", "sjn", "jbo", "io", "ia", "lfn", "eo", "qdb", "py", "en-shaw", "xex"}


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# First names common in scripts, by the gender they are most often given. A
# guess only steers a default voice: the user picks another in one click.
FEMALE_NAMES = _words(
    """alice amy anna anne annie ava barbara beth betty carol caroline catherine charlotte chloe claire clara
    daisy diana eleanor elizabeth ella ellen emily emma eva eve fiona grace hannah helen isabel isabella jane
    jennifer jessica jill joan julia julie kate katherine laura lily linda lisa lucy margaret maria marie mary
    megan mia nancy natalie nina olivia patricia rachel rebecca rose ruth sarah sophia sophie susan victoria
    wendy zoe mother mom mum grandma queen princess lady woman girl she her aunt sister wife daughter
    anja birgit heike petra sabine ursula claudia chiara giulia francesca lucia carmen elena isabel sofia
    camille chloé léa manon amélie ingrid astrid yuki sakura mei"""
)
MALE_NAMES = _words(
    """adam alan albert alex alexander andrew arthur ben benjamin bill bob brian carl charles charlie chris
    daniel dave david ed edward eric frank fred george harry henry jack jacob jake james jim joe john jonathan
    joseph josh kevin larry leo liam louis luke mark martin matt matthew max michael mike nathan nick noah
    oliver oscar patrick paul peter phil richard robert roger ryan sam samuel simon steve steven thomas tim
    tom tony victor walter william father dad grandpa king prince lord man boy he him uncle brother husband son
    hans jürgen klaus stefan thomas marco luca giuseppe pierre jean louis pablo carlos juan diego hiroshi
    kenji wei narrator"""
)


def guess_gender(speaker: str) -> str | None:
    """ "female", "male" or None, from the first word of a speaker's name."""
    words = re.findall(r"\w+", speaker.lower())
    if not words:
        return None
    first = words[0]
    if first in ("mr", "sir", "herr", "monsieur", "señor") or first in MALE_NAMES:
        return "male"
    if first in ("mrs", "ms", "miss", "madam", "frau", "madame", "señora") or first in FEMALE_NAMES:
        return "female"
    return None


def voice_label(voice) -> str:
    """The voice's name, with its gender where the engine knows it and the
    name doesn't already say it ("English (America) — male")."""
    if voice.gender and not re.search(rf"\b{re.escape(voice.gender)}\b", voice.name.lower()):
        gender = {"male": _("male"), "female": _("female")}.get(voice.gender, voice.gender)
        return f"{voice.name} — {gender}"
    return voice.name


def default_voices(provider, speakers: list[str], language: str | None) -> list[str]:
    """One voice per speaker: all different while the recommended ones last,
    each of the gender the speaker's name suggests where the engine says
    which voice is which, in the provider's own order of preference."""
    if provider is None or not speakers:
        return []
    pool = list(dict.fromkeys(provider.default_voices(max(len(speakers), 12), language)))
    gender_of = {v.id: v.gender for v in provider.voices()}
    chosen: list[str] = []
    for speaker in speakers:
        wanted = guess_gender(speaker)
        unused = [voice_id for voice_id in pool if voice_id not in chosen]
        if not unused:  # more speakers than distinct recommended voices: start over
            unused = pool
        matching = [voice_id for voice_id in unused if wanted and gender_of.get(voice_id) == wanted]
        chosen.append((matching or unused)[0])
    return chosen


def family(language: str) -> str:
    return (language or "").split("-")[0].lower()


def language_groups(provider, user_languages: list[str]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The language picker: [(heading, [(code, name)])]. The user's languages
    (browser, earlier jobs) first, then every other in alphabetical order,
    then the constructed ones."""
    names: dict[str, str] = {}
    for voice in provider.voices() if provider else []:
        if voice.language not in names or "+" not in voice.id:
            names[voice.language] = voice.name
    ranked = []
    for wanted in user_languages:
        wanted = wanted.lower()
        # "en-gb" is offered as itself; a bare "en" as the code of the voice
        # the provider would give it first (en-us), else its first dialect.
        matches = [code for code in names if code == wanted]
        if not matches:
            leading = {v.id: v.language for v in provider.voices()}.get(
                next(iter(provider.default_voices(1, wanted)), "")
            )
            dialects = sorted(c for c in names if family(c) == family(wanted) and c not in CONSTRUCTED)
            matches = [leading] if leading in dialects else dialects[:1]
        ranked.extend(code for code in matches if code not in ranked)
    rest = sorted((c for c in names if c not in ranked and c not in CONSTRUCTED), key=lambda c: names[c].lower())
    made_up = sorted((c for c in names if c not in ranked and c in CONSTRUCTED), key=lambda c: names[c].lower())
    groups = [
        (_("Your languages"), [(c, names[c]) for c in ranked]),
        (_("All languages"), [(c, names[c]) for c in rest]),
        (_("Constructed languages"), [(c, names[c]) for c in made_up]),
    ]
    return [(heading, options) for heading, options in groups if options]


def voice_groups(
    provider, language: str, user_languages: list[str], voices: list | None = None
) -> list[tuple[str, list[tuple[str, str]]]]:
    """A voice picker: [(heading, [(voice id, label)])]: "Recommended" (the
    provider's own first choices for the language), then one group per
    regional voice of the language, the user's region first. ``voices``: the
    ones that speak the language, when the caller knows better than a match
    on the language code's first part."""
    if provider is None:
        return []
    if voices is None:
        voices = [v for v in provider.voices() if family(v.language) == family(language)]
    if not voices:
        return []
    by_id = {v.id: v for v in voices}
    recommended = [i for i in dict.fromkeys(provider.default_voices(10, language)) if i in by_id]
    groups: dict[str, list] = {}
    heading: dict[str, str] = {}
    for voice in voices:
        groups.setdefault(voice.language, []).append(voice)
        if voice.language not in heading or "+" not in voice.id:
            heading[voice.language] = voice.name
    mine = [u.lower() for u in user_languages]
    leading = {by_id[i].language for i in recommended}

    def rank(code: str):
        return (
            code in CONSTRUCTED,
            code not in mine,
            code != (language or "").lower(),
            code not in leading,
            heading[code],
        )

    result = [(_("Recommended"), [(i, voice_label(by_id[i])) for i in recommended])] if recommended else []
    for code in sorted(groups, key=rank):
        result.append((heading[code], [(v.id, voice_label(v)) for v in groups[code]]))
    return result

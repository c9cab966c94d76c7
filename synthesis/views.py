"""The website: server-rendered pages, smoothed by HTMX.

Every page works without JavaScript: links have an ``href`` and plain POSTs
redirect. With HTMX the same views answer with a named partial of the page's
template (``request.htmx``) and actions re-render in place. The rules live in
the model and in ``clean_job_request``, shared with the JSON API.
"""

import hashlib
import math
import uuid
from urllib.parse import parse_qs, urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db.models.fields.json import KeyTransform
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language, pgettext_lazy
from django.utils.translation import gettext as _
from django.utils.translation.trans_real import parse_accept_lang_header
from django.views.decorators.http import require_GET, require_http_methods, require_POST, require_safe
from django_htmx.http import HttpResponseClientRedirect

from synthesis import audio, subtitles, versions, waveform
from synthesis.access import get_job_for_user
from synthesis.downloads import audio_response
from synthesis.forms import SETTING_CONTROLS, SPEAKER_COLOURS, DialogueForm, setting_field_name, voice_field_name
from synthesis.models import Job, JobCount, JobLimitExceeded
from synthesis.pages import render_page
from synthesis.pauses import find_markers
from synthesis.providers import ProviderError, get_provider
from synthesis.providers.base import DEFAULT_SETTINGS, VoiceSettings
from synthesis.script import format_script
from synthesis.sentences import split_sentences
from synthesis.templatetags.job_format import about, ago
from synthesis.validation import JobRequestInvalid

PAGE_SIZE = 20
STATUS_TABS = [
    ("", pgettext_lazy("jobs", "All")),
    ("active", pgettext_lazy("jobs", "Active")),
    (Job.Status.COMPLETED, Job.Status.COMPLETED.label),
    (Job.Status.FAILED, Job.Status.FAILED.label),
    (Job.Status.CANCELLED, Job.Status.CANCELLED.label),
]
PREVIEW_TEXTS = {
    "en": "Hello! This is how I sound when I read your dialogue.",
    "de": "Hallo! So klinge ich, wenn ich Ihren Dialog lese.",
    "fr": "Bonjour ! Voici ma voix quand je lis votre dialogue.",
    "es": "¡Hola! Así sueno cuando leo tu diálogo.",
    "it": "Ciao! Ecco come suono quando leggo il tuo dialogo.",
    "pt": "Olá! É assim que eu soo quando leio o seu diálogo.",
    "nl": "Hallo! Zo klink ik als ik je dialoog voorlees.",
    "cmn": "你好！这是我朗读你的对话时的声音。",
    "yue": "你好！呢個係我讀你段對話嘅聲音。",
    "ja": "こんにちは。これが私の声です。",
    "ru": "Здравствуйте! Так звучит мой голос.",
}


def limit_message(limit: JobLimitExceeded) -> str:
    return _(
        "You have %(current)s jobs waiting or running, and the limit is %(max)s. "
        "Wait for one to finish, or cancel a pending one, then try again."
    ) % {"current": limit.current_jobs, "max": limit.max_jobs}


def resubmit_refused_message(invalid: JobRequestInvalid) -> str:
    return _(
        "This job's input is no longer accepted (%(reasons)s). "
        "Use “Edit as a new dialogue” to change it and submit it again."
    ) % {"reasons": "; ".join(invalid.errors.values())}


@require_safe
def favicon(request):
    # Resolved per request: with the manifest storage the name has a hash.
    return redirect(static("favicon.svg"), permanent=True)


# --- the job list -------------------------------------------------------------


def list_state(query) -> tuple[str, int]:
    """(status filter, page number) from a query dict, forgiving bad values."""
    status = query.get("status", "")
    if status not in dict(STATUS_TABS):
        status = ""
    try:
        page = max(1, int(query.get("page", 1)))
    except (TypeError, ValueError):
        page = 1
    return status, page


def list_context(user, status: str, page: int, watch: list[str] = ()) -> dict:
    """Everything the list partial shows: a fixed number of queries whatever
    the page size (tab counts, one page of rows, finished watched jobs)."""
    mine = Job.objects.for_user(user)
    # Kept by the database (JobCount), so the tabs cost the same at 10 jobs
    # or 100,000.
    by_status = JobCount.objects.for_user(user).by_status()
    counts = {
        "all": sum(by_status.values()),
        "active": sum(by_status[s] for s in Job.ACTIVE_STATUSES),
        **{s: by_status[s] for s in Job.FINAL_STATUSES},
    }
    rows = mine
    if status == "active":
        rows = rows.active()
    elif status:
        rows = rows.filter(status=status)
    total = counts[status or "all"]
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(page, pages)
    jobs = list_rows(rows.page((page - 1) * PAGE_SIZE, PAGE_SIZE))
    active_ids = [str(job.pk) for job in jobs if job.is_active]
    query = {k: v for k, v in (("status", status), ("page", page if page > 1 else "")) if v}
    return {
        "here": reverse("job_list") + ("?" + urlencode(query) if query else ""),
        "jobs": jobs,
        "status": status,
        "tabs": [(value, label, counts[value or "all"]) for value, label in STATUS_TABS],
        "page": page,
        "pages": pages,
        "total": total,
        # Poll only while something on the page can still change: the
        # wrapper is swapped outerHTML, so rendering it without the trigger
        # is what stops the polling.
        "polling": bool(active_ids),
        "watch": ",".join(active_ids),
        "finished_jobs": finished_among(user, watch),
        "max_jobs": settings.TTS_MAX_ACTIVE_JOBS_PER_USER,
    }


def list_rows(jobs) -> list[Job]:
    """The jobs as rows of the list: only what a row shows, with queue places."""
    return dressed_rows(
        jobs.only(*Job.ROW_FIELDS)
        .with_queue_position()
        .annotate(
            assignments=KeyTransform("voice_assignments", "input_params"),
            duration_ms=KeyTransform("duration_ms", "result_metadata"),
        )
    )


def dressed_rows(jobs) -> list[Job]:
    """What a row shows that changes with the clock, worked out once (the age,
    the time left), and for an active row ``shown``: a digest of everything
    its rendering depends on that can change. The page keeps each active
    row's digest; the poll sends them back and gets only the rows whose
    digest differs, or 204 No Content when none does (poll_list)."""
    jobs = list(jobs)
    now = timezone.now()
    language = get_language()
    for job in jobs:
        job.speaker_names = [a.get("speaker", "") for a in job.assignments or []]
        job.age = ago(job.created_at, now)
        seconds_left = job.seconds_left
        job.time_left = about(seconds_left) if seconds_left is not None else ""
        if job.is_active:
            state = (
                language, job.pk, job.status, job.title, job.provider, job.speaker_names, job.progress_done,
                job.progress_total, job.queue_position, job.time_left, job.age, job.duration_ms,
            )  # fmt: skip
            job.shown = hashlib.blake2b(repr(state).encode(), digest_size=8).hexdigest()
    return jobs


def watched_ids(watch) -> list[uuid.UUID]:
    ids = []
    for value in watch:
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            continue
    return ids[:PAGE_SIZE]


def poll_list(request, status, page, watch, shown):
    """The list's poll (every 2 s while jobs on the page wait or run): one
    query for the watched jobs and any other active job of the user
    (Job.objects.polled_rows). While the same jobs are active, only the rows
    that changed since the page got them (their digest is not among
    ``shown``, the digests the page holds) are sent, swapped in place by id
    (HX-Reswap: none leaves the rest of the list, and its polling, as it is);
    when none changed, 204 No Content, which htmx does not swap: session,
    user and that query, whatever the number of jobs. The age ("9 min ago")
    and the time left are in the digest, so a row is sent again as soon as
    what it would show differs. When a watched job has finished, or a new one
    was submitted elsewhere, the whole list is rendered, with the notices."""
    ids = watched_ids(watch)
    rows = dressed_rows(Job.objects.polled_rows(request.user, ids))
    if {job.pk for job in rows if job.is_active} != set(ids):
        return render_list(request, status, page, watch=watch)
    changed = [job for job in rows if job.shown not in shown]
    if not changed:
        response = HttpResponse(status=204)
        patch_vary_headers(response, ("HX-Request",))
        return response
    response = render_page(request, "synthesis/job_list.html", {"jobs": changed}, partial="job-rows-oob")
    response["HX-Reswap"] = "none"
    return response


def finished_among(user, watch) -> list[Job]:
    """The watched jobs (active when the page last saw them) that have
    finished since: the "job finished" notices."""
    ids = watched_ids(watch)
    if not ids:
        return []
    return list(Job.objects.for_user(user).finished().filter(pk__in=ids).only("id", "title", "status"))


def render_list(request, status, page, *, watch=(), oob_messages=False):
    context = list_context(request.user, status, page, watch) | {"oob_messages": oob_messages}
    return render_page(request, "synthesis/job_list.html", context, partial="job-list")


@require_GET
@login_required
def job_list(request):
    status, page = list_state(request.GET)
    watch = [v for v in request.GET.get("watch", "").split(",") if v]
    if request.htmx and request.htmx.trigger == "job-list" and watch:
        # The wrapper's own every-2s trigger (the tabs and pages inside it
        # inherit its hx-vals, but are triggered by their own ids).
        return poll_list(request, status, page, watch, set(request.GET.getlist("shown")))
    return render_list(request, status, page, watch=watch)


def list_state_of_htmx_page(request) -> tuple[str, int]:
    """The list's filter and page as the browser shows them, for actions that
    re-render the list in place."""
    url = request.htmx.current_url or ""
    try:
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    except ValueError:
        # The header comes from the client; urlsplit refuses some values
        # ("http://[" is an unclosed IPv6 host). The action has been done by
        # now, so answer with the first page rather than an error.
        query = {}
    return list_state(query)


# --- one job ------------------------------------------------------------------


def sentence_pieces(text: str, timed: list[dict]) -> list[dict]:
    """The turn's text as pieces for the page: each timed sentence (its
    start and end, so the player can highlight it) and what lies between
    them. The sentences are split again from the text the timings were made
    from (synthesis.sentences); if they no longer match, the text is one piece."""
    # Pause markers ("[pause 800ms]", shown on the page) are not said: read
    # as spaces of the same length, they split nothing and positions hold.
    masked = text
    for marker in find_markers(text):
        masked = masked[: marker.start] + " " * (marker.end - marker.start) + masked[marker.end :]
    found = split_sentences(masked)
    if len(found) != len(timed):
        return [{"text": text}]
    pieces, position = [], 0
    for sentence, timing in zip(found, timed):
        if sentence.start > position:
            pieces.append({"text": text[position : sentence.start]})
        shown = text[sentence.start : sentence.end]
        pieces.append({"text": shown, "start_ms": timing["start_ms"], "end_ms": timing["end_ms"]})
        position = sentence.end
    if position < len(text):
        pieces.append({"text": text[position:]})
    return pieces


def detail_context(job: Job, *, notify_finished: bool = False) -> dict:
    speakers = job.speakers
    colour = {name: n % SPEAKER_COLOURS for n, name in enumerate(speakers)}
    provider = get_provider(job.provider)
    voice_names = {v.id: v.name for v in provider.voices()} if provider else {}
    assignments = job.voice_for_speaker
    cast = [
        {
            "speaker": name,
            "colour": colour[name],
            "voice_id": assignments.get(name, {}).get("voice_id", ""),
            "voice_name": voice_names.get(assignments.get(name, {}).get("voice_id", ""), ""),
        }
        for name in speakers
    ]
    turns = [turn | {"colour": colour.get(turn["speaker"], 0)} for turn in job.input_params.get("turns", [])]
    timeline = []
    duration = job.result_metadata.get("duration_ms") or 0
    if job.status == Job.Status.COMPLETED and duration:
        timed_by_index = {timed["turn_index"]: timed for timed in job.turn_timings}
        for turn in turns:
            timed = timed_by_index.get(turn["index"])
            if timed is None:
                continue
            start, end = timed["start_ms"], timed["end_ms"]
            # Strings, so the template never localises the decimal point.
            turn.update(start_ms=start, end_ms=end, start_s=f"{start / 1000:.3f}")
            timeline.append(turn | {"width_ms": max(end - start, 1)})
        by_turn: dict[int, list[dict]] = {}
        for timed in job.result_metadata.get("sentence_timings") or []:
            by_turn.setdefault(timed["turn_index"], []).append(timed)
        for turn in turns:
            turn["pieces"] = sentence_pieces(turn["text"], by_turn.get(turn["index"], []))
    levels = job.result_metadata.get("peaks") or []
    queue_position = None
    if job.status == Job.Status.PENDING:
        queue_position = (
            Job.objects.filter(pk=job.pk).with_queue_position().values_list("queue_position", flat=True).first()
        )
        job.queue_position = queue_position
    family = versions.versions_of(job)
    number = {version.pk: version.number for version in family}
    for version in family:
        version.parent_number = number.get(version.based_on_id)
    return {
        "job": job,
        # A list only when there is more than this job to list.
        "versions": family if len(family) > 1 else [],
        "version_number": number.get(job.pk),
        "source_number": number.get(job.based_on_id),
        "retaken_lines": [position + 1 for position in job.retake_turns or []],
        # Completed new versions say how much of the old one they reused.
        "reused_turns": (job.result_metadata or {}).get("reused_turns") if job.status == Job.Status.COMPLETED else None,
        # A new take of one line: only where a take can differ (not eSpeak).
        "offers_retake": job.can_rerender and provider is not None and not provider.deterministic,
        "provider_label": provider.label if provider else job.provider,
        "cast": cast,
        "turns": turns,
        "timeline": timeline,
        "duration_ms": duration,
        # The waveform is drawn in 0–1000 units and stretched to the audio's
        # length in ms, the timeline's own unit.
        "waveform": waveform.svg_path(levels),
        "waveform_scale": f"{duration / 1000:.6f}",
        "queue_position": queue_position,
        "max_attempts": settings.TTS_MAX_ATTEMPTS,
        "waited_ms": int((job.started_at - job.created_at).total_seconds() * 1000) if job.started_at else None,
        "finished_jobs": [job] if notify_finished and not job.is_active else [],
    }


@require_GET
@login_required
def job_detail(request, job_id):
    job = get_job_for_user(request.user, job_id)
    # Only the status section polls, and only while the job is active: an
    # htmx GET that finds it finished is the moment it finished.
    context = detail_context(job, notify_finished=bool(request.htmx))
    return render_page(request, "synthesis/job_detail.html", context, partial="job-status")


@require_http_methods(["GET", "POST"])
@login_required
def job_cancel(request, job_id):
    """GET asks for confirmation (the no-JavaScript path; with HTMX the
    browser's confirm dialog asks), POST cancels."""
    job = get_job_for_user(request.user, job_id)
    if request.method == "GET":
        return TemplateResponse(request, "synthesis/job_cancel.html", {"job": job})
    if job.cancel():
        messages.success(request, _("Cancelled job “%(title)s”.") % {"title": job.title})
    else:
        messages.error(
            request,
            _("Only waiting or running jobs can be cancelled; this one is %(status)s.")
            % {"status": job.get_status_display().lower()},
        )
    if request.htmx and request.htmx.target == "job-list":
        status, page = list_state_of_htmx_page(request)
        return render_list(request, status, page, oob_messages=True)
    if request.htmx:
        return TemplateResponse(
            request, "synthesis/job_detail.html#job-status", detail_context(job) | {"oob_messages": True}
        )
    return redirect(safe_next(request) or reverse("job_detail", args=[job.pk]))


@require_POST
@login_required
def job_resubmit(request, job_id):
    job = get_job_for_user(request.user, job_id)
    if not job.can_resubmit:
        messages.error(request, _("Only failed and cancelled jobs can be resubmitted."))
        new_job = None
    else:
        try:
            new_job = job.resubmit()
        except JobLimitExceeded as limit:
            messages.error(request, limit_message(limit))
            new_job = None
        except JobRequestInvalid as invalid:
            messages.error(request, resubmit_refused_message(invalid))
            new_job = None
        else:
            messages.success(request, _("Resubmitted as job %(job)s.") % {"job": new_job.pk})
    if request.htmx and request.htmx.target == "job-list":
        status, page = list_state_of_htmx_page(request)
        return render_list(request, status, page, oob_messages=True)
    target = reverse("job_detail", args=[(new_job or job).pk])
    if request.htmx:
        return HttpResponseClientRedirect(target)
    return redirect(target)


@require_POST
@login_required
def job_retake(request, job_id):
    """Regenerate one line: a new version of the job in which the line at
    position ``turn`` (from 0) is spoken again and every other is reused."""
    job = get_job_for_user(request.user, job_id)
    try:
        position = int(request.POST.get("turn", ""))
    except ValueError:
        position = -1
    if not 0 <= position < len(job.input_params.get("turns", [])):
        # Only a hand-made request gets here: the page's buttons carry valid positions.
        return HttpResponse(
            _("turn: the position of a line of this dialogue, from 0."),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    provider = get_provider(job.provider)
    new_job = None
    if not job.can_rerender:
        messages.error(request, _("Only a completed job can have a line regenerated."))
    elif provider is None or provider.deterministic:
        messages.error(request, retake_pointless_message(provider.label if provider else job.provider))
    else:
        try:
            new_job = job.retake([position])
        except JobLimitExceeded as limit:
            messages.error(request, limit_message(limit))
        except JobRequestInvalid as invalid:
            messages.error(request, resubmit_refused_message(invalid))
        else:
            messages.success(
                request,
                _("Line %(line)d is being spoken again in a new version; every other line is reused.")
                % {"line": position + 1},
            )
    return redirect("job_detail", (new_job or job).pk)


def retake_pointless_message(engine: str) -> str:
    return _(
        "%(engine)s speaks a line the same way every time, so a new take would sound the same. "
        "To change a line, edit its text or its speaker's voice (Edit and re-render)."
    ) % {"engine": engine}


def safe_next(request) -> str | None:
    url = request.POST.get("next") or request.GET.get("next")
    if url and url_has_allowed_host_and_scheme(url, {request.get_host()}, require_https=request.is_secure()):
        return url
    return None


@require_safe
@login_required
def job_download(request, job_id):
    job = get_job_for_user(request.user, job_id)
    if job.status != Job.Status.COMPLETED or not job.audio:
        raise Http404(_("This job has no audio."))
    return audio_response(request, job)


@require_GET
@login_required
def job_subtitles(request, job_id, fmt):
    job = get_job_for_user(request.user, job_id)
    timed = job.turn_timings if job.status == Job.Status.COMPLETED else None
    if not timed:
        raise Http404(_("This job has no timings yet."))
    cue_list = subtitles.cues(
        job.input_params["turns"], timed, job.result_metadata.get("sentence_timings"), name_first=fmt == "srt"
    )
    if fmt == "vtt":
        response = HttpResponse(subtitles.to_webvtt(cue_list), content_type="text/vtt; charset=utf-8")
    else:
        response = HttpResponse(subtitles.to_srt(cue_list), content_type="application/x-subrip; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="ttsjobs-{job.pk}.{fmt}"'
    return response


# --- a new dialogue -----------------------------------------------------------


def initial_from_job(job: Job) -> dict:
    """A new dialogue prefilled from an old one ("Edit as new")."""
    params = job.input_params
    initial = {
        "script": format_script(params["turns"]),
        "provider": job.provider,
        "language": params.get("language"),
        "output_format": params.get("output_format"),
        "gap_ms": params.get("gap_ms"),
        "crossfade_ms": params.get("crossfade_ms"),
    }
    for assignment in params.get("voice_assignments", []):
        initial[voice_field_name(assignment["speaker"])] = assignment["voice_id"]
        for setting in SETTING_CONTROLS:
            # A voice's speed, pitch and volume come along: an edit that
            # dropped them would change (and speak again) every line of theirs.
            if assignment.get(setting) is not None:
                initial[setting_field_name(setting, assignment["speaker"])] = assignment[setting]
    return initial


def user_languages(request) -> list[str]:
    """The languages to offer first: the browser's, then those of the user's
    latest jobs."""
    header = request.headers.get("Accept-Language", "")
    browser = [code for code, _quality in parse_accept_lang_header(header) if code != "*"]
    recent = (
        Job.objects.for_user(request.user)
        .order_by("-created_at")
        .values_list(KeyTransform("language", "input_params"), flat=True)[:5]
    )
    return list(dict.fromkeys([*browser, *(code for code in recent if isinstance(code, str))]))


@require_http_methods(["GET", "POST"])
@login_required
def job_new(request):
    languages = user_languages(request)
    if request.method == "GET":
        initial = {}
        if request.GET.get("from"):
            initial = initial_from_job(get_job_for_user(request.user, request.GET["from"]))
        form = DialogueForm(initial=initial, user_languages=languages)
        return TemplateResponse(request, "synthesis/job_new.html", {"form": form})
    return post_dialogue(request, languages)


@require_http_methods(["GET", "POST"])
@login_required
def job_edit(request, job_id):
    """Edit and re-render: the new-dialogue form, prefilled with a completed
    job; what it submits becomes a new version based on that job, which
    speaks only the lines whose text, speaker or voice changed."""
    job = get_job_for_user(request.user, job_id)
    if not job.can_rerender:
        messages.error(
            request,
            _("Only a completed job can be edited and re-rendered; “Edit as a new dialogue” starts a fresh one."),
        )
        target = reverse("job_detail", args=[job.pk])
        return HttpResponseClientRedirect(target) if request.htmx else redirect(target)
    languages = user_languages(request)
    if request.method == "GET":
        form = DialogueForm(initial=initial_from_job(job), user_languages=languages)
        return TemplateResponse(request, "synthesis/job_new.html", {"form": form, "source": job})
    return post_dialogue(request, languages, based_on=job)


def post_dialogue(request, languages, *, based_on: Job | None = None):
    """A POST of the dialogue form: new (``based_on`` None) or a new version."""
    context = {"source": based_on}
    if request.POST.get("action") == "refresh":
        # The script changed (or the language, or the engine): show a voice
        # picker per speaker, without judging the half-written dialogue.
        reset = bool(request.htmx) and request.htmx.trigger_name in ("provider", "language")
        form = DialogueForm(initial=request.POST.dict(), reset_voices=reset, user_languages=languages)
        return render_page(request, "synthesis/job_new.html", context | {"form": form}, partial="voices")

    form = DialogueForm(request.POST, user_languages=languages)
    if form.is_valid():
        try:
            # The same call as the API's POST /api/v1/jobs, based_on included.
            job = Job.objects.submit(request.user, form.params, provider=form.provider_name, based_on=based_on)
        except JobLimitExceeded as limit:
            form.add_error(None, limit_message(limit))
        else:
            if based_on is None:
                messages.success(
                    request, _("Job %(job)s submitted. It appears below and updates by itself.") % {"job": job.pk}
                )
            else:
                messages.success(request, _("New version submitted: only the lines you changed are spoken again."))
            target = reverse("job_detail", args=[job.pk])
            return HttpResponseClientRedirect(target) if request.htmx else redirect(target)
    return render_page(request, "synthesis/job_new.html", context | {"form": form}, partial="dialogue-form")


@require_GET
@login_required
def voice_preview(request):
    provider_name = request.GET.get("provider") or settings.TTS_DEFAULT_PROVIDER
    voice_id = request.GET.get("voice", "")
    provider = get_provider(provider_name)
    if provider is None or voice_id not in provider.voice_ids():
        raise Http404(_("No such voice."))
    voice_settings = preview_settings(request.GET, provider)
    if voice_settings is None:
        return HttpResponse(
            _("These voice settings are out of range for this engine."),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    # A voice sounds the same every time: one synthesis serves every user
    # (and every web process, with a shared cache) for a day.
    changed = "".join(f"\0{name}={value:g}" for name, value in voice_settings.changed().items())
    key = "voice-preview:" + hashlib.sha256(f"{provider_name}\0{voice_id}{changed}".encode()).hexdigest()
    data = cache.get(key)
    if data is None:
        # Synthesis runs here, in the web process, and is a paid request on a
        # cloud provider: each user gets a few a minute.
        if not preview_allowed(request.user):
            response = HttpResponse(
                _("Too many voice samples in a minute; try again shortly."),
                status=429,
                content_type="text/plain; charset=utf-8",
            )
            response["Retry-After"] = "60"
            return response
        try:
            data = preview_audio(provider_name, voice_id, voice_settings)
        except ProviderError as error:
            return HttpResponse(error.message, status=503, content_type="text/plain; charset=utf-8")
        cache.set(key, data, settings.TTS_PREVIEW_CACHE_SECONDS)
    response = HttpResponse(data, content_type=audio.OUTPUT_FORMATS["mp3"])
    response["Cache-Control"] = "private, max-age=86400"
    return response


def preview_allowed(user) -> bool:
    """At most TTS_PREVIEW_SYNTHESES_PER_MINUTE new samples per user per
    clock minute (a fixed window: simple, and a burst of twice the limit
    across a minute boundary is harmless)."""
    key = f"voice-preview-rate:{user.pk}:{int(timezone.now().timestamp() // 60)}"
    cache.add(key, 0, timeout=120)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=120)
        count = 1
    return count <= settings.TTS_PREVIEW_SYNTHESES_PER_MINUTE


def preview_settings(query, provider) -> VoiceSettings | None:
    """The speed, pitch and volume a ▶ sample is asked for (the controls
    beside the picker), or None when one is not a number the provider takes."""
    values = {}
    for name in ("speed", "pitch", "volume"):
        raw = query.get(name)
        if raw in (None, ""):
            continue
        if name not in provider.supported_settings:
            return None
        low, high = provider.supported_settings[name]
        try:
            value = float(raw)
        except ValueError:
            return None
        if not low <= value <= high:  # NaN fails this too
            return None
        values[name] = value
    return VoiceSettings(**values)


def preview_audio(provider_name: str, voice_id: str, voice_settings: VoiceSettings = DEFAULT_SETTINGS) -> bytes:
    """A short sample of one voice, as mp3, with its speed and pitch as the
    job would speak them and, like in a job, its level matched and then
    scaled by its volume."""
    provider = get_provider(provider_name)
    language = next((v.language for v in provider.voices() if v.id == voice_id), "en")
    text = PREVIEW_TEXTS.get(language.split("-")[0], PREVIEW_TEXTS["en"])
    if voice_settings.sound():
        sample = provider.synthesize(text, voice_id, language, voice_settings=voice_settings)
    else:
        sample = provider.synthesize(text, voice_id, language)
    if voice_settings.volume != 1.0:
        samples = audio.normalize_loudness(sample.samples)
        audio.apply_volume(samples, voice_settings.volume)
        sample = audio.Audio(samples, sample.sample_rate)
    return audio.encode(sample, "mp3")

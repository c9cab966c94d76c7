"""Staff control over jobs, users and API tokens.

State changes go through the same model methods as the site (cancel, resubmit,
mark_failed_by_staff, delete_with_audio), never through editable fields, so
the admin cannot put a job in a state the worker does not expect. Every action
names the model permission it needs (Django hides and refuses it otherwise):
a staff user with only "view" permissions can look but not act.
"""

import uuid
from collections import Counter

from django.contrib import admin, messages
from django.contrib.admin.views.main import ORDER_VAR
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db import connection
from django.db.models import OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, Upper
from django.http import Http404, HttpResponseBase
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import localize, number_format
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django_q import admin as django_q_admin
from django_q.models import Failure, OrmQ, Schedule, Success, Task

from synthesis.counting import count_or_estimate
from synthesis.downloads import audio_response
from synthesis.models import ApiToken, ClusterHeartbeat, Job, JobCount, JobLimitExceeded, LexiconEntry
from synthesis.providers import all_providers
from synthesis.templatetags.job_format import clock
from synthesis.validation import JobRequestInvalid

User = get_user_model()


def report(modeladmin, request, done: str, changed: int, skipped: Counter) -> None:
    """One message per action: how many rows changed (``done``, already
    translated), and why the others didn't."""
    text = done
    if skipped:
        reasons = "; ".join(f"{count} {reason}" for reason, count in sorted(skipped.items()))
        text += " " + _("Skipped %(count)s: %(reasons)s.") % {"count": sum(skipped.values()), "reasons": reasons}
    modeladmin.message_user(request, text, messages.SUCCESS if changed or not skipped else messages.WARNING)


@admin.action(description=gettext_lazy("Cancel selected jobs (pending or processing)"), permissions=["change"])
def cancel_jobs(modeladmin, request, queryset) -> None:
    changed, skipped = 0, Counter()
    for job in queryset:
        if job.cancel():
            changed += 1
        else:
            skipped[_("%(status)s (only pending or processing jobs can be cancelled)") % {"status": job.status}] += 1
    done = ngettext("Cancelled %(count)s job.", "Cancelled %(count)s jobs.", changed) % {"count": changed}
    report(modeladmin, request, done, changed, skipped)


@admin.action(
    description=gettext_lazy("Resubmit selected jobs as new jobs for the same user (failed/cancelled)"),
    permissions=["change"],
)
def resubmit_jobs(modeladmin, request, queryset) -> None:
    changed, skipped = 0, Counter()
    for job in queryset.select_related("owner"):
        if not job.can_resubmit:
            skipped[_("%(status)s (only failed or cancelled jobs can be resubmitted)") % {"status": job.status}] += 1
            continue
        try:
            job.resubmit()
            changed += 1
        except JobLimitExceeded:
            skipped[_("owner already at the active-job limit")] += 1
        except JobRequestInvalid as invalid:
            skipped[_("input no longer valid (%(reasons)s)") % {"reasons": "; ".join(invalid.errors.values())}] += 1
    done = ngettext("Resubmitted %(count)s job.", "Resubmitted %(count)s jobs.", changed) % {"count": changed}
    report(modeladmin, request, done, changed, skipped)


@admin.action(description=gettext_lazy("Mark selected jobs failed (stuck processing)"), permissions=["change"])
def mark_failed(modeladmin, request, queryset) -> None:
    changed, skipped = 0, Counter()
    for job in queryset:
        if job.mark_failed_by_staff(f"Marked failed by staff ({request.user.get_username()})."):
            changed += 1
        else:
            skipped[_("%(status)s (only processing jobs can be marked failed)") % {"status": job.status}] += 1
    done = ngettext("Marked failed %(count)s job.", "Marked failed %(count)s jobs.", changed) % {"count": changed}
    report(modeladmin, request, done, changed, skipped)


@admin.action(description=gettext_lazy("Delete selected jobs with their audio"), permissions=["delete"])
def delete_with_audio(modeladmin, request, queryset) -> None:
    changed, skipped = 0, Counter()
    for job in queryset:
        if job.status == Job.Status.PROCESSING:
            # The worker would go on writing a file nobody owns: fail it first.
            skipped[_("processing (mark them failed first)")] += 1
            continue
        try:
            job.delete_with_audio()
            changed += 1
        except Exception:
            # The row stays, so its file is not orphaned; a retry can finish.
            skipped[_("storage error deleting the audio (row kept; see the log)")] += 1
    done = ngettext("Deleted %(count)s job.", "Deleted %(count)s jobs.", changed) % {"count": changed}
    report(modeladmin, request, done, changed, skipped)


class ProviderListFilter(admin.SimpleListFilter):
    """The registry's providers, not a SELECT DISTINCT over every job."""

    title = gettext_lazy("provider")
    parameter_name = "provider"

    def lookups(self, request, model_admin) -> list[tuple[str, str]]:
        return [(name, provider.label) for name, provider in sorted(all_providers().items())]

    def queryset(self, request, queryset) -> QuerySet:
        return queryset.filter(provider=self.value()) if self.value() else queryset


class EstimatedCountPaginator(Paginator):
    """Counts exactly up to EXACT_UP_TO rows, reading no more; beyond that,
    on PostgreSQL, takes the planner's estimate: the page links need no more,
    and a COUNT(*) of a million jobs costs more than the rest of the page."""

    EXACT_UP_TO = 1000  # 20 pages of 50

    @cached_property
    def _count_and_exact(self) -> tuple[int, bool]:
        return count_or_estimate(self.object_list, self.EXACT_UP_TO)

    @cached_property
    def count(self) -> int:
        return self._count_and_exact[0]

    def page(self, number) -> Page:
        """The page's ids first, from the (created_at, id) index alone, then
        those rows: page 100 reads 5,000 index entries, not 5,000 jobs."""
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        ids = self.object_list.values("pk")[bottom : bottom + self.per_page]
        return self._get_page(self.object_list.filter(pk__in=ids), number, self)

    def validate_number(self, number) -> int:
        if self._count_and_exact[1]:
            return super().validate_number(number)
        # An estimate can fall short of the real count: a page past it may
        # still have rows (and is merely empty if not), never an error.
        try:
            number = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger("That page number is not an integer") from None
        if number < 1:
            raise EmptyPage("That page number is less than 1")
        return number


TITLE_PREFIX_SQL = (
    "SELECT id FROM synthesis_job WHERE UPPER(title::text) LIKE UPPER(%s) "
    "ORDER BY UPPER(title::text) USING ~<~ LIMIT %s"
)


def titles_starting_with(term: str, limit: int) -> list:
    """Ids of at most ``limit`` jobs whose title starts with ``term`` (any
    case). On PostgreSQL read in the order of the index on UPPER(title)
    (migration 0013), so the scan stops after ``limit`` entries however many
    titles match; without that order the planner may read the table from
    the start for a common prefix."""
    if connection.vendor != "postgresql":
        matching = Job.objects.filter(title__istartswith=term).order_by(Upper("title"))
        return list(matching.values_list("pk", flat=True)[:limit])
    with connection.cursor() as cursor:
        cursor.execute(TITLE_PREFIX_SQL, [connection.ops.prep_for_like_query(term) + "%", limit])
        return [row[0] for row in cursor.fetchall()]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = [
        "short_id",
        "dialogue_title",
        "owner",
        "status",
        "provider",
        "turns",
        "duration",
        "created_at",
        "elapsed",
        "retry_count",
    ]
    list_display_links = ["short_id", "dialogue_title"]
    # None of these reads the job table to build itself: the owner filter
    # (SELECT DISTINCT owner over every job) is gone, owners are found by the
    # search or the user list's "Their jobs" link (?owner__id__exact=), and
    # the date hierarchy (DISTINCT years over every job) too.
    list_filter = ["status", ProviderListFilter, ("created_at", admin.DateFieldListFilter)]
    # For the search box's help; get_search_results() does the searching.
    search_fields = ["id", "title", "owner__username"]
    list_select_related = ["owner"]
    list_per_page = 50
    show_full_result_count = False  # a second COUNT(*) over the whole table on every page
    show_facets = admin.ShowFacets.NEVER  # a COUNT per filter choice
    paginator = EstimatedCountPaginator
    actions = [cancel_jobs, resubmit_jobs, mark_failed, delete_with_audio]
    ordering = ["-created_at"]
    fieldsets = [
        (None, {"fields": ["id", "owner", "status", "provider", "job_type", "title", "progress"]}),
        (gettext_lazy("Input"), {"fields": ["input_readable"]}),
        (gettext_lazy("Result"), {"fields": ["audio_player", "result_readable", "turn_timeline"]}),
        (gettext_lazy("Error"), {"fields": ["error_code", "error_message", "retry_count"]}),
        (
            gettext_lazy("Timeline"),
            {"fields": ["created_at", "started_at", "heartbeat_at", "deadline_at", "completed_at", "expires"]},
        ),
        (gettext_lazy("Worker"), {"fields": ["worker_name", "run_token", "task_link"]}),
        (gettext_lazy("Raw JSON"), {"classes": ["collapse"], "fields": ["input_params", "lexicon", "result_metadata"]}),
    ]

    def get_queryset(self, request) -> QuerySet:
        queryset = super().get_queryset(request)
        match = request.resolver_match
        if match and match.url_name == "synthesis_job_changelist":
            # The list never shows the dialogue (up to 100,000 characters a job).
            queryset = queryset.defer("input_params", "lexicon")
        return queryset

    # A title search reads at most this many matching titles (see below).
    TITLE_MATCHES = 500
    # A username prefix names at most this many users.
    OWNER_MATCHES = 50

    def get_search_results(self, request, queryset, search_term) -> tuple[QuerySet, bool]:
        """What the search box matches, each an index range whose cost does
        not grow with the job table:

        - a username, whole (any case): that user's jobs only, read newest
          first from the (owner, created_at) index, flat even for a user with
          100,000 jobs;
        - otherwise, jobs of the users whose username starts with the term
          (at most OWNER_MATCHES users), jobs whose title starts with it (any
          case; through an index on UPPER(title) on PostgreSQL, at most
          TITLE_MATCHES titles read, in alphabetical order, with a message
          when there were more), and jobs whose id starts with it (4 hex
          digits or more; the list shows 8).

        Not a title's middle words: a "contains" search reads, through a
        trigram index, lists that grow with the table (``scale00042`` shares
        ``000`` and ``042`` with most titles of a million numbered jobs), and
        never the e-mails or the dialogues."""
        term = search_term.strip()
        if not term:
            return queryset, False
        # Read first, so the planner sees a list of ids, not a subquery it
        # would guess matches half the table (and walk every job for).
        owners = list(
            User.objects.filter(username__istartswith=term)
            .order_by("username")
            .values_list("pk", "username")[: self.OWNER_MATCHES]
        )
        exact = [pk for pk, username in owners if username.lower() == term.lower()]
        if len(exact) == 1:
            return queryset.filter(owner=exact[0]), False
        match = Q(owner__in=[pk for pk, _username in owners])
        titles = titles_starting_with(term, self.TITLE_MATCHES + 1)
        if len(titles) > self.TITLE_MATCHES:
            titles = titles[: self.TITLE_MATCHES]
            self.message_user(
                request,
                _(
                    "More than %(count)s titles start with “%(term)s”: only the first %(count)s in alphabetical "
                    "order are searched. Type more of the title, or search the owner's username."
                )
                % {"count": number_format(self.TITLE_MATCHES, force_grouping=True), "term": term},
                messages.WARNING,
            )
        if titles:
            match |= Q(pk__in=titles)
        digits = term.replace("-", "").lower()
        if 4 <= len(digits) <= 32 and all(c in "0123456789abcdef" for c in digits):
            # A prefix of the id is a range of ids: the primary key's index.
            low, high = uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))
            match |= Q(pk__gte=low, pk__lte=high)
        queryset = queryset.filter(match)
        if ORDER_VAR not in request.GET:
            # Newest first, by an expression equal to created_at that no
            # index provides. Given "ORDER BY created_at DESC LIMIT 50" and
            # a list of 1,000 ids, the planner walks the (created_at, id)
            # index expecting to meet 50 of them soon; when they are old
            # jobs it reads most of the table (290 ms at a million jobs for
            # 1,000 titles made months ago). Sorting the candidates (at most
            # 500 titles, 50 users' jobs and an id range) costs the same
            # at any size.
            queryset = queryset.order_by(Coalesce("created_at", "created_at").desc(), "-pk")
        return queryset, False

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        # Everything: staff change a job's state only through the actions.
        return [name for fieldset in self.fieldsets for name in fieldset[1]["fields"]]

    def has_add_permission(self, request) -> bool:
        return False  # jobs come from submissions, with validation and the per-user limit

    def get_actions(self, request) -> dict:
        actions = super().get_actions(request)
        # Django's bulk delete would leave the audio files behind.
        actions.pop("delete_selected", None)
        return actions

    def delete_model(self, request, obj) -> None:
        obj.delete_with_audio()

    def delete_queryset(self, request, queryset) -> None:
        for job in queryset:
            job.delete_with_audio()

    def get_urls(self) -> list:
        return [
            path("<uuid:job_id>/audio/", self.admin_site.admin_view(self.audio_view), name="synthesis_job_audio"),
            *super().get_urls(),
        ]

    def audio_view(self, request, job_id) -> HttpResponseBase:
        job = Job.objects.filter(pk=job_id).first()
        if job is None or not job.audio or not self.has_view_permission(request, job):
            raise Http404(_("No audio for this job."))
        return audio_response(request, job)

    # --- columns -------------------------------------------------------------

    @admin.display(description=gettext_lazy("Job"), ordering="id")
    def short_id(self, job) -> str:
        return str(job.pk)[:8]

    @admin.display(description=gettext_lazy("Title"), ordering="title")
    def dialogue_title(self, job) -> str:
        # Isolated: an Arabic or Hebrew title must not reorder the row around it.
        return format_html("<bdi>{}</bdi>", job.title)

    @admin.display(description=gettext_lazy("Turns"), ordering="progress_total")
    def turns(self, job) -> int:
        return job.progress_total

    @admin.display(description=gettext_lazy("Duration"))
    def duration(self, job) -> str:
        ms = job.result_metadata.get("duration_ms")
        return clock(ms) if ms is not None else "—"

    @admin.display(description=gettext_lazy("Expires at"))
    def expires(self, job) -> str:
        # A property, not a field: the admin would print it as raw ISO text.
        # Formatted and zoned as the admin shows the real date fields.
        return localize(timezone.localtime(job.expires_at)) if job.expires_at else "—"

    @admin.display(description=gettext_lazy("Elapsed"))
    def elapsed(self, job) -> str:
        ms = job.elapsed_ms
        return _("%(seconds)s s") % {"seconds": number_format(ms / 1000, 1)} if ms is not None else "—"

    @admin.display(description=gettext_lazy("Progress"))
    def progress(self, job) -> str:
        return _("%(done)s / %(total)s turns") % {"done": job.progress_done, "total": job.progress_total}

    # --- detail --------------------------------------------------------------

    @admin.display(description=gettext_lazy("Input"))
    def input_readable(self, job) -> str:
        params = job.input_params or {}
        settings_rows = format_html_join(
            "",
            "<tr><th>{}</th><td>{}</td></tr>",
            [(key, params.get(key)) for key in ("language", "output_format", "gap_ms", "crossfade_ms")],
        )
        voices = format_html_join(
            "",
            "<tr><td><bdi>{}</bdi></td><td><code>{}</code></td><td><bdi>{}</bdi></td></tr>",
            [
                (a.get("speaker"), a.get("voice_id"), a.get("voice_name") or "")
                for a in params.get("voice_assignments", [])
            ],
        )
        turns = format_html_join(
            "",
            '<tr><td>{}</td><td><bdi>{}</bdi></td><td dir="auto">{}</td></tr>',
            [(t.get("index"), t.get("speaker"), t.get("text")) for t in params.get("turns", [])],
        )
        return format_html(
            "<table>{}</table><h4>{}</h4><table><tr><th>{}</th><th>{}</th><th>{}</th></tr>{}</table>"
            "<h4>{}</h4><table><tr><th>#</th><th>{}</th><th>{}</th></tr>{}</table>",
            settings_rows,
            _("Voices"),
            _("Speaker"),
            _("Voice"),
            _("Name"),
            voices,
            _("Script"),
            _("Speaker"),
            _("Text"),
            turns,
        )

    @admin.display(description=gettext_lazy("Result"))
    def result_readable(self, job) -> str:
        meta = job.result_metadata or {}
        if not meta:
            return "—"
        rows = [(key, value) for key, value in meta.items() if key not in ("turn_timings", "turns")]
        return format_html("<table>{}</table>", format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows))

    @admin.display(description=gettext_lazy("Audio"))
    def audio_player(self, job) -> str:
        if not job.audio:
            return "—"
        url = reverse("admin:synthesis_job_audio", args=[job.pk])
        return format_html(
            '<audio controls preload="none" src="{}"></audio><br><a href="{}">{}</a>', url, url, _("Download")
        )

    @admin.display(description=gettext_lazy("Turn timeline"))
    def turn_timeline(self, job) -> str:
        timings = job.turn_timings
        if not timings:
            return "—"
        return format_html(
            "<table><tr><th>#</th><th>{}</th><th>{}</th><th>{}</th></tr>{}</table>",
            _("Speaker"),
            _("Start"),
            _("End"),
            format_html_join(
                "",
                "<tr><td>{}</td><td><bdi>{}</bdi></td><td>{} ms</td><td>{} ms</td></tr>",
                [(t.get("turn_index"), t.get("speaker"), t.get("start_ms"), t.get("end_ms")) for t in timings],
            ),
        )

    @admin.display(description=gettext_lazy("django-q2 task"))
    def task_link(self, job) -> str:
        if not job.task_id:
            return "—"
        task = Task.objects.filter(id=job.task_id).only("id", "success", "name").first()
        if task is not None:
            model = "success" if task.success else "failure"
            url = reverse(f"admin:django_q_{model}_change", args=[task.pk])
            return format_html(
                '<a href="{}">{} ({})</a>', url, task.name, _("succeeded") if task.success else _("failed")
            )
        # Still queued: the ORM broker's row holds the task pickled, so match by id.
        for queued in OrmQ.objects.all()[:1000]:
            if queued.task_id() == job.task_id:
                url = reverse("admin:django_q_ormq_change", args=[queued.pk])
                return format_html('<a href="{}">{}</a>', url, _("queued task %(task)s") % {"task": job.task_id})
        return _("%(task)s (no longer in the queue or the results)") % {"task": job.task_id}


class JobCountsUserAdmin(UserAdmin):
    list_display = [*UserAdmin.list_display, "active_jobs", "total_jobs", "jobs_link"]
    readonly_fields = [*UserAdmin.readonly_fields, "jobs_link"]
    fieldsets = [*UserAdmin.fieldsets, (gettext_lazy("Jobs"), {"fields": ["jobs_link"]})]

    @staticmethod
    def job_count_annotations() -> dict:
        """From the per-user counters (synthesis_jobcount, at most five rows
        a user, kept by triggers), not a COUNT over every job: subqueries of
        the page's one query, each an index range of the (owner, status)
        constraint, whatever the job table's size."""

        def jobs(statuses=None):
            rows = JobCount.objects.filter(owner=OuterRef("pk"))
            if statuses:
                rows = rows.filter(status__in=statuses)
            total = rows.order_by().values("owner").annotate(n=Sum("jobs")).values("n")
            return Coalesce(Subquery(total), 0)

        return {"active_job_count": jobs(Job.ACTIVE_STATUSES), "total_job_count": jobs()}

    def get_queryset(self, request) -> QuerySet:
        return super().get_queryset(request).annotate(**self.job_count_annotations())

    @admin.display(description=gettext_lazy("Active jobs"), ordering="active_job_count")
    def active_jobs(self, user) -> int:
        return user.active_job_count

    @admin.display(description=gettext_lazy("Jobs"), ordering="total_job_count")
    def total_jobs(self, user) -> int:
        return user.total_job_count

    @admin.display(description=gettext_lazy("Their jobs"))
    def jobs_link(self, user) -> str:
        if not user.pk:
            return "—"
        url = reverse("admin:synthesis_job_changelist") + "?" + urlencode({"owner__id__exact": user.pk})
        count = getattr(user, "total_job_count", None)
        text = _("%(count)s job(s)") % {"count": count} if count else _("All jobs")
        return format_html('<a href="{}">{} →</a>', url, text)


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, JobCountsUserAdmin)


@admin.action(description=gettext_lazy("Revoke selected tokens"), permissions=["change"])
def revoke_tokens(modeladmin, request, queryset) -> None:
    tokens = list(queryset)
    changed = sum(1 for token in tokens if token.revoke())
    text = ngettext("Revoked %(count)s token.", "Revoked %(count)s tokens.", changed) % {"count": changed}
    if len(tokens) > changed:
        text += " " + _("Skipped %(count)s: %(reasons)s.") % {
            "count": len(tokens) - changed,
            "reasons": _("already revoked"),
        }
    modeladmin.message_user(request, text)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["name", "prefix", "owner__username", "owner__email"]
    list_select_related = ["owner"]
    readonly_fields = ["owner", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    fields = readonly_fields
    actions = [revoke_tokens]

    def has_add_permission(self, request) -> bool:
        return False  # a secret is shown once, to the user who creates it

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoke instead: the row shows when the token was last used


@admin.register(LexiconEntry)
class LexiconEntryAdmin(admin.ModelAdmin):
    """Users keep their own dictionaries (account page, API); staff look and
    may delete. Jobs keep their own copy of what they used (Job.lexicon)."""

    list_display = ["written", "spoken", "kind", "case_sensitive", "owner", "updated_at"]
    list_filter = ["kind", "case_sensitive"]
    search_fields = ["written", "spoken", "owner__username"]
    list_select_related = ["owner"]
    readonly_fields = ["owner", "written", "spoken", "kind", "case_sensitive", "created_at", "updated_at"]
    fields = readonly_fields

    def has_add_permission(self, request) -> bool:
        return False  # the owner's page and API check what an entry may be


@admin.register(ClusterHeartbeat)
class ClusterHeartbeatAdmin(admin.ModelAdmin):
    list_display = ["worker_name", "cluster_id", "seen_at"]
    readonly_fields = ["worker_name", "cluster_id", "seen_at"]

    def has_add_permission(self, request) -> bool:
        return False


# --- django-q2's pages: read-only except for superusers (issue 11) ------------
#
# A schedule (or a queued task) names any importable function and its
# arguments, and the worker calls it: adding one with func="os.system" is
# command execution on every worker host. django-q2's admins let anyone with
# the add/change permission do that, so here writing needs a superuser, who
# could do anything anyway. Other staff keep the read-only views (queue,
# successes, failures, schedules); our own schedules come from run_worker
# (synthesis.tasks.ensure_schedules), not from the admin.


class SuperuserWritesOnly:
    def has_add_permission(self, request, *args):
        return request.user.is_active and request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser


@admin.action(description=gettext_lazy("Resubmit selected tasks to queue"), permissions=["change"])
def resubmit_task(modeladmin, request, queryset):
    # django-q2's own action declares no permission, so any staff user who
    # can view the list could run it; this one needs "change" (a superuser).
    return django_q_admin.resubmit_task(modeladmin, request, queryset)


class QTaskAdmin(SuperuserWritesOnly, django_q_admin.TaskAdmin):
    actions = [resubmit_task]


class QFailAdmin(SuperuserWritesOnly, django_q_admin.FailAdmin):
    actions = [resubmit_task]


class QScheduleAdmin(SuperuserWritesOnly, django_q_admin.ScheduleAdmin):
    pass


class QQueueAdmin(SuperuserWritesOnly, django_q_admin.QueueAdmin):
    pass


for model, model_admin in [
    (Success, QTaskAdmin),
    (Failure, QFailAdmin),
    (Schedule, QScheduleAdmin),
    (OrmQ, QQueueAdmin),
]:
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, model_admin)

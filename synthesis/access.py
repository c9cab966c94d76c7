from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils.translation import gettext as _

from synthesis.models import Job


def get_job_for_user(user, job_id, *, defer=()) -> Job:
    """The one way to fetch a user's job, for pages and API alike. It starts
    from the user, so another user's job is indistinguishable from one that
    does not exist: both are a 404. ``defer``: fields not to read yet."""
    try:
        return Job.objects.for_user(user).defer(*defer).get(pk=job_id)
    except (Job.DoesNotExist, ValidationError, ValueError):
        raise Http404(_("No such job.")) from None

"""Jobs in every state, made through the real model methods (and, for
completed ones, the real worker code run in this process). For many rows in a
given state and age, written straight to the table, see factories.make_job."""

from synthesis.models import Job
from synthesis.tasks import run_synthesis
from synthesis.validation import clean_job_request
from tests.conftest import dialogue


def submitted_job(user, status: str, **overrides) -> Job:
    """Submitted with ``dialogue(**overrides)``, then moved to ``status`` as the app would."""
    provider, params = clean_job_request(dialogue(**overrides))
    job = Job.objects.submit(user, params, provider=provider)
    if status == Job.Status.PENDING:
        return job
    if status == Job.Status.CANCELLED:
        assert job.cancel()
        return job
    if status == Job.Status.COMPLETED:
        run_synthesis(str(job.pk))
        job.refresh_from_db()
        assert job.status == Job.Status.COMPLETED, job.error_message
        return job
    job = Job.objects.claim(job.pk, "test-worker")
    if status == Job.Status.FAILED:
        assert job.fail("PROVIDER_ERROR", "The engine <b>refused</b> the text.")
    elif status == Job.Status.PROCESSING:
        assert job.record_progress(1)
    return job

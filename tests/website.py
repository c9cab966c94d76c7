"""Jobs in every state, made through the real model methods (and, for
completed ones, the real worker code run in this process)."""

from synthesis.models import Job
from synthesis.tasks import run_synthesis
from synthesis.validation import clean_job_request
from tests.conftest import dialogue


def make_job(user, status=Job.Status.PENDING, **overrides) -> Job:
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

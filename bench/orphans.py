"""What cleanup's orphan sweep costs as storage grows; prints JSON.

    .venv/bin/python bench/orphans.py [files ...]

For each size: a fresh SQLite database and media folder in a temporary
directory, that many completed jobs, one stored file per job, half of them
recorded as the job's audio (the other half are orphans), all older than the
grace. Reports the sweep's wall time and its queries: one per 1,000 files.
"""

import json
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def run(files: int, var_dir: Path) -> dict:
    import time_machine
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Case, Value, When
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from synthesis.models import Job
    from synthesis.orphans import sweep_orphan_files
    from tests.factories import input_params

    call_command("migrate", verbosity=0)
    owner = get_user_model().objects.create_user(f"bench{files}")
    params = input_params()
    jobs = Job.objects.bulk_create(
        [Job(owner=owner, provider="espeak", input_params=params, status="completed") for _ in range(files)],
        batch_size=1000,
    )
    media = var_dir / "media"
    (media / "audio/2026/12").mkdir(parents=True, exist_ok=True)
    recorded = []
    for i, job in enumerate(jobs):
        name = f"audio/2026/12/{job.pk}-bench.mp3"
        (media / name).write_bytes(b"\xff" * 100)
        if i % 2 == 0:
            recorded.append((job.pk, name))
    for start in range(0, len(recorded), 500):
        chunk = recorded[start : start + 500]
        Job.objects.filter(pk__in=[pk for pk, _ in chunk]).update(
            audio=Case(*[When(pk=pk, then=Value(name)) for pk, name in chunk])
        )
    later = timezone.now() + timedelta(hours=2)
    with time_machine.travel(later), CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        counts = sweep_orphan_files()
        elapsed = time.perf_counter() - started
    assert counts["deleted"] == files - len(recorded)
    return {"files": files, "orphans": counts["deleted"], "seconds": round(elapsed, 2), "queries": len(queries)}


def main(sizes):
    results = []
    for files in sizes:
        with tempfile.TemporaryDirectory(prefix="ttsjobs-orphans-") as tmp:
            # Settings are read once per process: each size runs in a child
            # with its own database file and media folder.
            pid = os.fork()
            if pid == 0:
                os.environ.pop("DATABASE_URL", None)  # never a real database
                os.environ.update(
                    VAR_DIR=tmp, MEDIA_ROOT=str(Path(tmp) / "media"), DJANGO_SETTINGS_MODULE="ttsjobs.settings"
                )
                import django

                django.setup()
                result = run(files, Path(tmp))
                Path(tmp, "result.json").write_text(json.dumps(result))
                os._exit(0)
            os.waitpid(pid, 0)
            results.append(json.loads(Path(tmp, "result.json").read_text()))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main([int(n) for n in sys.argv[1:]] or [2000, 20000])

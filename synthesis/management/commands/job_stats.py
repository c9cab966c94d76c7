import json

from django.core.management.base import BaseCommand

from synthesis.stats import job_stats


def _duration(seconds) -> str:
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _duration_ms(ms) -> str:
    return "—" if ms is None else f"{ms / 1000:.1f} s"


def _size(n) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


class Command(BaseCommand):
    help = (
        "Job figures for operators: counts by status, age of the oldest pending job, jobs finished in the "
        "last hour and their median latency (submission to audio ready), and audio storage used. "
        "A table by default, or --json for monitoring scripts."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", help="Print one JSON object instead of a table.")

    def handle(self, *args, **options) -> None:
        stats = job_stats()
        if options["json"]:
            self.stdout.write(json.dumps(stats, indent=2))
            return
        rows = [(f"jobs {status}", str(count)) for status, count in stats["jobs_by_status"].items()]
        rows += [
            ("jobs total", str(stats["jobs_total"])),
            ("oldest pending", _duration(stats["oldest_pending_age_seconds"])),
            ("finished last hour", ", ".join(f"{n} {s}" for s, n in stats["finished_last_hour"].items())),
            ("median latency last hour", _duration_ms(stats["median_latency_ms_last_hour"])),
            (
                "audio stored",
                f"{stats['storage_files']} files, {_size(stats['storage_bytes'])} ({stats['storage_bytes']} bytes)",
            ),
        ]
        width = max(len(label) for label, _ in rows)
        for label, value in rows:
            self.stdout.write(f"{label:<{width}}  {value}")

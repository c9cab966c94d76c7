from django.core.management.base import BaseCommand

from synthesis.tasks import reap_jobs


class Command(BaseCommand):
    help = (
        "Fail processing jobs past their deadline or with a stale heartbeat, and pending jobs older than 24 h; "
        "hand back to the queue the tasks a dead cluster pulled and never claimed."
    )

    def handle(self, *args, **options) -> None:
        counts = reap_jobs()
        self.stdout.write(", ".join(f"{name}: {count}" for name, count in counts.items()))

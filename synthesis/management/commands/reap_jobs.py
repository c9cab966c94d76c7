from django.core.management.base import BaseCommand

from synthesis.models import Job


class Command(BaseCommand):
    help = "Fail processing jobs past their deadline or with a stale heartbeat, and pending jobs older than 24 h."

    def handle(self, *args, **options):
        counts = Job.objects.reap()
        self.stdout.write(", ".join(f"{name}: {count}" for name, count in counts.items()))

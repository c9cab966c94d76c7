from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create the local demo accounts demo/demo and admin/admin (staff). Local mode (DEBUG) only."

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError("Demo accounts with known passwords are for local mode only (DEBUG is off).")
        User = get_user_model()
        created = 0
        for username, is_staff in (("demo", False), ("admin", True)):
            user, was_created = User.objects.get_or_create(
                username=username, defaults={"is_staff": is_staff, "is_superuser": is_staff}
            )
            if was_created:
                user.set_password(username)
                user.save(update_fields=["password"])
                created += 1
        self.stdout.write(f"{created} demo account(s) created")

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from synthesis.models import ApiToken


class Command(BaseCommand):
    help = (
        "Create an API token for a user and print its secret (shown once; only its hash is stored). "
        "The same as the account page's 'New token', for scripts and first-time set-up."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="command line", help="A label to recognise the token by.")

    def handle(self, *args, username, name, **options) -> None:
        try:
            user = get_user_model().objects.get_by_natural_key(username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user {username!r}.") from None
        _token, secret = ApiToken.objects.create_token(user, name)
        self.stdout.write(secret)

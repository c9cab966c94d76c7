"""The PostgreSQL backend's health check (ttsjobs/postgresql/base.py): no
round trip while the connection is fine, and a connection the server closed
is found dead. The whole path (gunicorn, a real restart) is in test_outage.py."""

import pytest
from django.db import connection

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the PostgreSQL backend's own check"),
]


def test_a_healthy_idle_connection_is_usable_without_a_query(monkeypatch):
    connection.ensure_connection()
    assert connection.is_usable()

    def no_query(*args, **kwargs):
        raise AssertionError("the health check sent a query")

    monkeypatch.setattr(connection.connection, "cursor", no_query)
    assert connection.is_usable()


def test_a_connection_the_server_closed_is_not_usable():
    import time

    import psycopg

    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    with psycopg.connect(**{**params, "dbname": params.get("dbname") or connection.settings_dict["NAME"]}) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    deadline = time.monotonic() + 5
    while connection.is_usable() and time.monotonic() < deadline:
        time.sleep(0.01)  # the termination message is on its way
    assert not connection.is_usable()
    connection.close()
    connection.ensure_connection()
    assert connection.is_usable()

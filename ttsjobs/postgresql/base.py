"""Django's PostgreSQL backend with a health check that costs no round trip.

With persistent connections (``CONN_MAX_AGE``) and ``CONN_HEALTH_CHECKS``,
Django checks the connection at the first query of every request with a
``SELECT 1``: a round trip to PostgreSQL on every API call, about a tenth of
the CPU of a status request (bench/README.md). The check exists for one case:
PostgreSQL restarted (or was failed over) since the last request, and the
kept connection is dead; without it the request's first query fails and the
client gets a 503 (synthesis/outage.py) instead of an answer.

A dead connection can be told without asking the server. Between requests
the connection is idle and nothing is due from PostgreSQL, so if its socket
has anything to read, the server wrote unasked: on a restart or a
terminated backend it sends a FATAL error and closes the socket. Either
that, or libpq already marked the connection bad. Both are local checks (a
``poll`` with no timeout). Anything else unasked (a NOTICE; ttsjobs does not
LISTEN) also drops the connection, which only costs a reconnect.

What it does not see: a peer that vanished without closing (a network cut);
then the request's query fails as it would have without any check, the
answer is the same 503, and Django drops the connection after it.
"""

import select

import psycopg
from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self):
        if self.connection is None or self.connection.closed:
            return False
        pgconn = self.connection.pgconn
        if pgconn.status != pq.ConnStatus.OK:
            return False
        if pgconn.transaction_status != pq.TransactionStatus.IDLE:
            # Not between requests (Django also asks after an error, maybe
            # inside a transaction): the round trip, as Django does it.
            return super().is_usable()
        try:
            poller = select.poll()
            poller.register(pgconn.socket, select.POLLIN | select.POLLERR | select.POLLHUP)
            return not poller.poll(0)
        except (OSError, ValueError, psycopg.Error):
            return False

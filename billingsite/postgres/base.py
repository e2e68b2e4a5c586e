"""Django's PostgreSQL backend, with ``CONN_HEALTH_CHECKS`` answered by the socket first.

Django's health check sends ``SELECT 1`` on the first use of a persistent connection in every
request: at 100 events per ingest request that was one round trip in seven, each costing the
web worker and PostgreSQL a wake-up (issue 15). A connection that PostgreSQL dropped while it was
idle between requests (``pg_terminate_backend``, a server restart, ``idle_session_timeout``, a
crash) has something to read on its socket: the server's FATAL message and the end of the
stream. A healthy idle connection has nothing to read (no ``LISTEN`` is used). So the check
polls the socket without waiting: quiet and idle -> healthy, no query; anything readable, a
connection not idle, or any doubt -> Django's own check (``SELECT 1``), which closes a broken
connection so the request opens a new one. A connection that dies silently (no FIN, e.g. a
network partition) is not seen by either check until a query fails, as before.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus


def socket_quiet(pg_connection: object) -> bool:
    """True when the psycopg connection is open, outside a transaction and has nothing waiting
    to be read: the server neither sent anything nor closed it since its last answer."""
    try:
        if pg_connection.closed or pg_connection.broken:  # type: ignore[attr-defined]
            return False
        if pg_connection.info.transaction_status != TransactionStatus.IDLE:  # type: ignore[attr-defined]
            return False
        fd = pg_connection.pgconn.socket  # type: ignore[attr-defined]
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLPRI)
        return not poller.poll(0)
    except Exception:  # any doubt: let Django's query-based check decide
        return False


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self) -> None:
        if (
            self.connection is not None
            and self.health_check_enabled  # type: ignore[attr-defined]
            and not self.health_check_done  # type: ignore[has-type]
            and socket_quiet(self.connection)
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

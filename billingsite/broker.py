"""Keep the Celery worker alive through a Redis outage.

When Redis goes away, the worker's consumer closes its channel and kombu (5.7) tries to push the
channel's unacknowledged messages back to Redis on the way out (``QoS.restore_unacked_once``).
By then the transport has already released its connection (``transport.client`` is None), so
kombu's ``_connparams`` raises ``AttributeError`` before any network call, Celery reports an
"Unrecoverable error" and the worker exits: one Redis blip stops rollups and billing until a
supervisor notices (docs/reliability.md, scenario ``redis-down``).

Nothing is lost by skipping that restore: the messages stay in Redis's unacked set and are
redelivered after ``CELERY_VISIBILITY_TIMEOUT_SECONDS`` by any worker's periodic restore, as for a
SIGKILLed worker. So when the connection is already gone we log it and let the worker reconnect.
Any other error still propagates.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from kombu.transport import redis as kombu_redis

log = logging.getLogger(__name__)
_MARK = "_tally_connection_gone_safe"


def _connection_gone(qos: Any) -> bool:
    transport = getattr(qos.channel, "connection", None)
    return transport is None or getattr(transport, "client", None) is None


def harden_redis_restore() -> None:
    """Make ``restore_unacked_once`` on a channel whose connection is gone a logged no-op."""
    original = kombu_redis.QoS.restore_unacked_once
    if getattr(original, _MARK, False):
        return

    @functools.wraps(original)
    def restore_unacked_once(self: Any, stderr: Any = None) -> Any:
        if _connection_gone(self):
            if getattr(self, _MARK, False):
                return None
            setattr(self, _MARK, True)
            pending = len(getattr(self, "_delivered", ()) or ())
            log.warning(
                "broker connection already closed; %d unacknowledged message(s) stay in Redis "
                "and are redelivered after the visibility timeout",
                pending,
            )
            return None
        return original(self, stderr)

    setattr(restore_unacked_once, _MARK, True)
    kombu_redis.QoS.restore_unacked_once = restore_unacked_once  # type: ignore[method-assign]

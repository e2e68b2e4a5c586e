"""The worker survives a Redis outage (billingsite.broker): closing a channel whose connection
kombu already released must not raise, and its unacknowledged message is not lost."""

import time
import uuid

from kombu import Connection, Exchange, Producer, Queue

from billingsite.broker import harden_redis_restore
from billingsite.celery import app


def _channel_with_one_unacked(name: str) -> tuple[Connection, object, Queue]:
    conn = Connection(app.conf.broker_url, transport_options={"visibility_timeout": 1})
    channel = conn.channel()
    queue = Queue(name, Exchange(name), name)
    queue(channel).declare()
    Producer(channel).publish({"n": 1}, exchange=queue.exchange, routing_key=name)
    message = queue(channel).get(no_ack=False)
    assert message is not None and message.payload == {"n": 1}
    return conn, channel, queue


def test_closing_a_channel_after_the_connection_is_gone_does_not_raise_and_keeps_the_message():
    harden_redis_restore()
    name = f"probe-{uuid.uuid4().hex[:8]}"
    conn, channel, queue = _channel_with_one_unacked(name)
    conn.transport.client = None  # what kombu's connection-error path leaves behind
    channel.close()  # raised AttributeError ('NoneType' ... 'hostname') before the fix

    # The message stays in Redis's unacked set; after the visibility timeout a worker's
    # periodic restore puts it back on the queue.
    time.sleep(1.2)
    with Connection(app.conf.broker_url, transport_options={"visibility_timeout": 1}) as again:
        fresh = again.channel()
        fresh.qos.restore_visible(start=0)
        redelivered = queue(fresh).get(no_ack=True)
        assert redelivered is not None and redelivered.payload == {"n": 1}
        queue(fresh).delete()
    conn.release()

"""Metering admin: event browser, review queues with replay, meter editor, usage summary."""

from metering.admin import events, meters, queues  # noqa: F401  (registers the admin classes)

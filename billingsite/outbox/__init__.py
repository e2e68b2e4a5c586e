"""Transactional outbox shared by every app that must tell Stripe (or anyone outside) something.

Write side: ``outbox_enqueue(topic, key, payload)`` inside the business transaction; the row
commits or rolls back with the change, and ``on_commit`` kicks the dispatcher. Send side: the
``billingsite.outbox_dispatch`` task claims due rows (``FOR UPDATE SKIP LOCKED``), marks them
``sending`` under a lease, runs the topic's handler outside any transaction, and records the
outcome with backoff, a retry cap and a ``dead`` state. Handlers are registered per topic in an
``AppConfig.ready()`` (``register_outbox_handler``), so ``accounts`` can write a
``stripe.customer.sync`` row without importing ``invoicing``.

Modules: ``models`` (``OutboxMessage``), ``registry``, ``services`` (enqueue, claim, send,
retry), ``guard`` (no external call inside a transaction), ``tasks``, ``metrics``, ``admin``.
"""

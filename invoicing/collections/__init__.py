"""Collections (dunning): chase an unpaid invoice through a configured schedule.

- ``schedule``: the schedule from settings (retry days after a failed payment, reminder days
  around the due date, optional suspension).
- ``services``: start (a payment failed), advance (the beat task), resolve (paid or closed);
  each step is a ``DunningStep`` row unique per (invoice, step), so it happens once.
- ``topics``: the outbox topics of retries (handled by the Stripe wing,
  ``invoicing.stripe.collections``) and reminder emails (``emails``).
- ``selectors``: the steps of an invoice and the accounts-receivable aging report.
"""

"""The "rollup applied" hook: how a layer above metering reacts to new usage without metering
importing it (alerts in invoicing register here from ``InvoicingConfig.ready()``).

``rollup_run`` calls ``rollup_applied(pairs)`` once per applied batch, inside the rollup's
transaction and after the batch is added to the rollups, with the touched
``(customer_id, meter_id)`` pairs. A hook must be quick and must only write rows in that
transaction (e.g. mark customers to evaluate) and start work with ``transaction.on_commit``:
its rows then commit if and only if the rollup commits, and the work it starts sees the
committed usage. A hook that raises rolls the batch back (it stays queued), so a hook must not
fail on bad input.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

RollupPairs = Collection[tuple[int, int]]
RollupAppliedHook = Callable[[RollupPairs], None]

_hooks: list[RollupAppliedHook] = []


def register_rollup_applied(hook: RollupAppliedHook) -> None:
    """Register ``hook`` (registering the same function again is a no-op)."""
    if hook not in _hooks:
        _hooks.append(hook)


def unregister_rollup_applied(hook: RollupAppliedHook) -> None:
    if hook in _hooks:
        _hooks.remove(hook)


def registered() -> bool:
    return bool(_hooks)


def rollup_applied(pairs: RollupPairs) -> None:
    """Tell every hook which (customer, meter) pairs a batch just changed."""
    if not pairs:
        return
    for hook in list(_hooks):
        hook(pairs)

"""Nightly invariant checks: beat runs every ``check_invariants`` check, keeps the result
(``InvariantRun``), exposes it in /metrics and on the admin dashboard."""

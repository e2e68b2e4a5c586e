"""Fault injection and soak for Tally (issue 14, items 2 and 3): ``python -m bench.reliability``.
See docs/reliability.md, "Fault injection" and "Soak"."""

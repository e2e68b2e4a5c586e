"""Entitlements: features granted by plan versions, overridden per contract, and the hot-path
check / consume / reserve services that never let concurrent callers overshoot a limit."""

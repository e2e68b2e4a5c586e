"""Posting rules per source (filled in by the next commits)."""

"""Models arrive with the disputes issue."""

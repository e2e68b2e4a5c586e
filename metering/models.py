"""Models arrive with the metering issue."""

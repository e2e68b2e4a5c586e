"""Models arrive with the invoicing issue."""

"""Writes for invoicing, one module per area. Every service is atomic and audited."""

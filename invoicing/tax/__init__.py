"""Tax: rates, who they apply to, and the tax lines of an invoice.

- ``provider``: the interface an external tax engine implements (``quote``) and the choice of
  provider (``settings.TAX_PROVIDER``);
- ``table``: the built-in provider over ``TaxRate`` rows (the tested default);
- ``vat``: EU VAT id format checks for the reverse charge;
- ``lines``: tax computed per invoice line with the money module's rounding, one tax line per
  rate (pure; known-answer tests in USD, JPY and KWD);
- ``services``: audited writes of rates and assignments.
"""
